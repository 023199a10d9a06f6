using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Testing;

namespace NixFleet.Bench;

/// <summary>
/// Benchmark 1: refreshing the facts of a whole test fleet with NixFleet (one fleet-refresh
/// operation, bounded parallelism over multiplexed ssh) next to plain ssh run by hand, sequentially
/// and pssh-style; then the latency of one command over a warm master against a fresh connection.
/// </summary>
public sealed class FleetBench(Report report, TextWriter log, int hostCount, int warmRuns)
{
    static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(180);
    static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(180);
    const int PeerParallelism = 16; // NixFleet's default RefreshParallelism is 16 too.

    string _peerDir = "";
    string _keyFile = "";
    string _knownHosts = "";
    string _probeFile = "";
    string _hostsFile = "";
    string _probeOne = "";

    public async Task RunAsync()
    {
        var specs = Enumerable.Range(0, hostCount).Select(i =>
        {
            // Mostly multi-user and single-user hosts, one NixOS stand-in and one builder per ten.
            var kind = (i % 10) switch { < 4 => "single", 9 => i / 10 % 2 == 0 ? "nixos" : "builder", _ => "multi" };
            return (Kind: kind, Name: $"bench-{kind}-{i + 1:D2}", Address: $"127.0.0.{101 + i}");
        }).ToArray();
        if (specs.Length > 39) throw new ArgumentException("the bench's addresses are 127.0.0.101-140: at most 39 hosts plus the warm-up host");
        // One more host, refreshed first on its own: the NixFleet process has then run an operation
        // (JIT, EF Core query compilation, Data Protection key ring), so "cold" means only that the
        // measured hosts' master connections are not open yet.
        var warmUpHost = (Kind: "multi", Name: "bench-warmup", Address: $"127.0.0.{101 + specs.Length}");

        var sw = Stopwatch.StartNew();
        log.WriteLine($"fleet: starting {specs.Length} test hosts on 127.0.0.101-{100 + specs.Length} ({string.Join(", ", specs.GroupBy(s => s.Kind).Select(g => $"{g.Count()} {g.Key}"))}) and the warm-up host on {warmUpHost.Address}");
        await using var fleet = await TestFleet.StartAsync("bench", [.. specs, warmUpHost]);
        // Should the bench exit abnormally (watchdog, Ctrl+C), the hosts still go down ("down" is idempotent).
        AppDomain.CurrentDomain.ProcessExit += (_, _) => fleet.DisposeAsync().AsTask().GetAwaiter().GetResult();
        log.WriteLine($"fleet: up in {Report.Ms(sw.Elapsed.TotalMilliseconds)}");

        var starting = NixFleetApp.StartAsync();
        await PreparePeerAsync(fleet, specs.Select(s => s.Address).ToList());

        await using (var app = await starting)
        using (var admin = await app.ClientAsync())
        {
            await admin.ImportKeyAsync(fleet.PrivateKey);
            sw.Restart();
            using (var gate = new SemaphoreSlim(4))
                await Task.WhenAll(specs.Select(async s =>
                {
                    await gate.WaitAsync();
                    try { await admin.AddTrustedHostAsync(s.Name, s.Address, "bench", s.Kind); }
                    finally { gate.Release(); }
                }));
            await admin.AddTrustedHostAsync(warmUpHost.Name, warmUpHost.Address, "warmup");
            log.WriteLine($"fleet: {specs.Length + 1} hosts registered (key scanned and accepted) in {Report.Ms(sw.Elapsed.TotalMilliseconds)}");

            var marker = Path.Combine(app.DataDir, "ssh") + "/";
            await RefreshAsync(app, admin, marker, "warm-up (one other host)", "warmup", 1);
            var cold = await RefreshAsync(app, admin, marker, "cold", "bench", specs.Length);
            var seq = Summarize("plain ssh, one host after another",
                [await PeerOnceAsync("sequential", $"while read -r a; do bash {Q(_probeOne)} \"$a\" \"$OUT\" -o ControlMaster=no -o ControlPath=none; done < {Q(_hostsFile)}", 0)], "");

            // The warm runs and the parallel peers take turns, so that a machine whose load changes
            // during the run (other work on it) weighs on all of them alike.
            var warm = new List<FleetRun>();
            var par = new List<PeerRun>();
            var mux = new List<PeerRun>();
            var (cm, controlPath) = await OpenPeerMastersAsync();
            try
            {
                for (var i = 0; i < warmRuns; i++)
                {
                    warm.Add(await RefreshAsync(app, admin, marker, $"warm {i + 1}", "bench", specs.Length));
                    par.Add(await PeerOnceAsync("xargs", $"xargs -P {PeerParallelism} -I{{}} bash {Q(_probeOne)} {{}} \"$OUT\" -o ControlMaster=no -o ControlPath=none < {Q(_hostsFile)}", i));
                    mux.Add(await PeerOnceAsync("mux", $"xargs -P {PeerParallelism} -I{{}} bash {Q(_probeOne)} {{}} \"$OUT\" -o ControlMaster=no -o ControlPath={Q(controlPath)} < {Q(_hostsFile)}", i,
                        () => Cpu.OfMatching(cm, "ControlMaster=yes")));
                }
            }
            finally
            {
                await Run.BashAsync($"xargs -P {PeerParallelism} -I{{}} ssh -F /dev/null -o ControlPath={Q(controlPath)} -O exit root@{{}} < {Q(_hostsFile)}", TimeSpan.FromSeconds(60));
            }
            var parRow = Summarize($"plain ssh, xargs -P {PeerParallelism} (pssh-style)", par, "");
            var muxRow = Summarize($"ssh over open masters, xargs -P {PeerParallelism} (floor)", mux, "; masters opened beforehand, not timed");

            var warmMedian = warm.OrderBy(r => r.ServerMs).ElementAt(warm.Count / 2);
            var rows = report.Table($"Fleet refresh fan-out ({specs.Length} hosts)",
                $"Facts of every host (the same probe script everywhere). NixFleet: POST /api/v1/fleet/refresh (tag `bench`: the measured hosts), one operation fanning out " +
                $"{PeerParallelism} at a time over multiplexed OpenSSH (ControlMaster), parsing and storing every host's facts and log lines in PostgreSQL; " +
                $"wall = the operation's createdAt to finishedAt (server clock; also shown: POST to seen-finished, polled every 200 ms). " +
                $"Peers: plain `ssh` per host (new connection each, `bench/peers/probe-one.sh`), sequential and with `xargs -P {PeerParallelism}`; " +
                $"and ssh over already-open masters with `xargs -P {PeerParallelism}` (the floor for multiplexed ssh, storing nothing). " +
                $"Cold: the measured hosts' masters are not open yet, but the NixFleet process has already run one refresh of another host (JIT and caches warm). " +
                $"Warm rows: median of {warmRuns}, NixFleet warm and the parallel peers taking turns. Local CPU: user+system on this machine of the ssh clients and masters " +
                $"(for NixFleet: its reaped children plus its master processes), and of the NixFleet process itself; the hosts' sshd is not counted.",
                "run", "wall", "wall / NixFleet warm", "local ssh CPU", "NixFleet process CPU", "hosts ok", "note");
            rows.Add(["NixFleet fleet refresh, cold (opens masters)", Report.Ms(cold.ServerMs), Report.Ratio(cold.ServerMs / warmMedian.ServerMs),
                Report.Ms(cold.SshCpuMs), Report.Ms(cold.AppCpuMs), $"{cold.Ok}/{specs.Length}", cold.Note]);
            rows.Add([$"NixFleet fleet refresh, warm", Report.Ms(warmMedian.ServerMs), "1.00x",
                Report.Ms(warmMedian.SshCpuMs), Report.Ms(warmMedian.AppCpuMs), $"{warmMedian.Ok}/{specs.Length}",
                warmMedian.Note + "; all warm: " + string.Join(", ", warm.Select(w => Report.Ms(w.ServerMs)))]);
            foreach (var p in new[] { seq, parRow, muxRow })
                rows.Add([p.Name, Report.Ms(p.WallMs), Report.Ratio(p.WallMs / warmMedian.ServerMs), Report.Ms(p.CpuMs), "-", $"{p.Ok}/{specs.Length}", p.Note]);
        }

        await CommandLatencyAsync(fleet, (specs.FirstOrDefault(s => s.Kind == "multi") is { Name: not null } m ? m : specs[0]).Address);

        sw.Restart();
        log.WriteLine("fleet: stopping the test hosts");
    }

    sealed record FleetRun(double ServerMs, double ClientMs, double SshCpuMs, double AppCpuMs, int Ok, string Note);

    async Task<FleetRun> RefreshAsync(NixFleetApp app, ApiClient admin, string marker, string label, string tag, int expected)
    {
        var (self0, children0) = Cpu.Of(app.Pid);
        var masters0 = Cpu.OfMatching(marker, "ControlMaster=yes");
        var sw = Stopwatch.StartNew();
        var accepted = await admin.PostJsonAsync("/api/v1/fleet/refresh", new { tag }, HttpStatusCode.Accepted);
        var id = accepted.GetProperty("operationId").GetGuid();
        JsonElement op;
        var deadline = DateTime.UtcNow + OperationTimeout;
        while (true)
        {
            op = await admin.GetJsonAsync($"/api/v1/operations/{id}");
            if (op.GetProperty("status").GetString() is "succeeded" or "failed" or "cancelled") break;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"fleet refresh {id} did not finish in {OperationTimeout}: {op}");
            await Task.Delay(200);
        }
        var clientMs = sw.Elapsed.TotalMilliseconds;
        var (self1, children1) = Cpu.Of(app.Pid);
        var masters1 = Cpu.OfMatching(marker, "ControlMaster=yes");

        var created = op.GetProperty("createdAt").GetDateTimeOffset();
        var started = op.GetProperty("startedAt").GetDateTimeOffset();
        var finished = op.GetProperty("finishedAt").GetDateTimeOffset();
        var result = op.GetProperty("result");
        var ok = result.ValueKind == JsonValueKind.Object ? result.GetProperty("succeeded").GetInt32() : 0;
        if (op.GetProperty("status").GetString() != "succeeded" || ok != expected)
            log.WriteLine($"fleet: WARNING {label} refresh: {op}");
        var run = new FleetRun(
            (finished - created).TotalMilliseconds, clientMs,
            children1 - children0 + Cpu.Delta(masters0, masters1), self1 - self0, ok,
            $"queued {Report.Ms((started - created).TotalMilliseconds)}, ran {Report.Ms((finished - started).TotalMilliseconds)}; POST to seen finished {Report.Ms(clientMs)}");
        log.WriteLine($"fleet: NixFleet {label}: {Report.Ms(run.ServerMs)} ({run.Note}); ssh CPU {Report.Ms(run.SshCpuMs)}, NixFleet CPU {Report.Ms(run.AppCpuMs)}");
        return run;
    }

    sealed record PeerRun(string Name, double WallMs, double CpuMs, int Ok, string Note);

    async Task PreparePeerAsync(TestFleet fleet, IReadOnlyList<string> measured)
    {
        _peerDir = Repo.Scratch("peer");
        _keyFile = Path.Combine(_peerDir, "id");
        await File.WriteAllTextAsync(_keyFile, "");
        File.SetUnixFileMode(_keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await File.WriteAllTextAsync(_keyFile, fleet.PrivateKey.Trim() + "\n");
        var lines = await Task.WhenAll(fleet.Hosts.Select(async h =>
        {
            var key = SshHostKeys.PickPreferred(await SshHostKeys.ScanAsync(h.Address, 22))
                ?? throw new InvalidOperationException($"no host key from {h.Address}");
            return SshHostKeys.KnownHostsLine(h.Address, key.Type, key.Base64Blob);
        }));
        _knownHosts = Path.Combine(_peerDir, "known_hosts");
        await File.WriteAllLinesAsync(_knownHosts, lines);
        _probeFile = Path.Combine(_peerDir, "probe.sh");
        await File.WriteAllTextAsync(_probeFile, FactsProbe.Script);
        _hostsFile = Path.Combine(_peerDir, "hosts");
        await File.WriteAllLinesAsync(_hostsFile, measured);
        _probeOne = Path.Combine(Repo.Root, "bench", "peers", "probe-one.sh");
    }

    /// <summary>Runs a peer's shell command once; counts the hosts whose facts came back.</summary>
    async Task<PeerRun> PeerOnceAsync(string kind, string command, int index, Func<Dictionary<int, double>>? extraCpu = null)
    {
        var outDir = Path.Combine(_peerDir, $"out-{kind}-{index}");
        Directory.CreateDirectory(outDir);
        var script = $"export KEY={Q(_keyFile)} KNOWN={Q(_knownHosts)} PROBE={Q(_probeFile)} OUT={Q(outDir)}; {command}";
        var extra0 = extraCpu?.Invoke();
        var (r, cpu) = await Run.TimedBashAsync(script, PeerTimeout);
        if (extra0 is not null) cpu += Cpu.Delta(extra0, extraCpu!());
        var ok = 0;
        foreach (var file in Directory.EnumerateFiles(outDir, "*.out"))
            if (FactsParser.Parse(await File.ReadAllTextAsync(file)).NixVersion is not null) ok++;
        if (r.ExitCode != 0 || ok != hostCount)
            log.WriteLine($"fleet: WARNING peer {kind} run {index + 1}: exit {r.ExitCode}, {ok} ok: {r.StdErr.Trim()} " +
                string.Join(" ", Directory.EnumerateFiles(outDir, "*.err").Select(File.ReadAllText).Where(t => t.Length > 0).Take(3)));
        Directory.Delete(outDir, recursive: true);
        log.WriteLine($"fleet: peer {kind} run {index + 1}: {Report.Ms(r.WallMs)}, ssh CPU {Report.Ms(cpu)}, {ok} ok");
        return new PeerRun(kind, r.WallMs, cpu, ok, "");
    }

    static PeerRun Summarize(string label, List<PeerRun> runs, string extraNote)
    {
        var median = runs.OrderBy(r => r.WallMs).ElementAt(runs.Count / 2);
        var note = (runs.Count > 1 ? $"median of {runs.Count}: " + string.Join(", ", runs.Select(r => Report.Ms(r.WallMs))) : "one run") + extraNote;
        return median with { Name = label, Note = note };
    }

    /// <summary>
    /// Masters for the floor row, opened beforehand (not timed) in parallel, as a human's ~/.ssh/config
    /// with ControlMaster=auto would after a first run. ControlPersist ends them by themselves should
    /// the bench die before closing them.
    /// </summary>
    async Task<(string Dir, string ControlPath)> OpenPeerMastersAsync()
    {
        var cm = Path.Combine(_peerDir, "cm");
        Directory.CreateDirectory(cm, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var controlPath = Path.Combine(cm, "%h");
        var env = $"export KEY={Q(_keyFile)} KNOWN={Q(_knownHosts)}; ";
        var open = await Run.BashAsync(env + $"xargs -P {PeerParallelism} -I{{}} ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes " +
            $"-o UserKnownHostsFile=\"$KNOWN\" -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o IdentityAgent=none -i \"$KEY\" " +
            $"-o LogLevel=ERROR -o ControlMaster=yes -o ControlPersist=120 -o ControlPath={Q(controlPath)} -f -N root@{{}} < {Q(_hostsFile)}", PeerTimeout);
        if (open.ExitCode != 0) log.WriteLine($"fleet: WARNING opening peer masters: {open.StdErr.Trim()}");
        return (cm, controlPath);
    }

    /// <summary>(d) One command: over NixFleet's warm master, over a raw master, and on a fresh connection.</summary>
    async Task CommandLatencyAsync(TestFleet fleet, string address)
    {
        const int muxRuns = 40, freshRuns = 12, probeRuns = 5;
        var dir = Repo.Scratch("cmd");
        var alias = "bench-cmd";
        var key = SshHostKeys.PickPreferred(await SshHostKeys.ScanAsync(address, 22))!;
        var knownHosts = Path.Combine(dir, "known_hosts");
        await File.WriteAllTextAsync(knownHosts, SshHostKeys.KnownHostsLine(alias, key.Type, key.Base64Blob) + "\n");
        var settings = new SshSettings(Path.Combine(dir, "cm"), knownHosts, alias, TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(2));
        var conn = new SshConnection(new SshTarget(address, 22, "root"), settings, _ => ValueTask.FromResult(fleet.PrivateKey));
        string[] common = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "LogLevel=ERROR", "-l", "root"];
        string[] viaMaster = [.. common, "-o", "UserKnownHostsFile=" + knownHosts, "-o", "HostKeyAlias=" + alias, "-o", "ControlMaster=no", "-o", "ControlPath=" + conn.ControlPath];
        string[] fresh = [.. common, "-o", "UserKnownHostsFile=" + _knownHosts, "-i", _keyFile, "-o", "ControlMaster=no", "-o", "ControlPath=none"];

        var sw = Stopwatch.StartNew();
        await conn.EnsureMasterAsync();
        var masterOpen = sw.Elapsed.TotalMilliseconds;
        try
        {
            var rows = report.Table("Per-command latency: warm master vs fresh connection",
                $"One host ({address}). `SshConnection` is NixFleet.Shared.Execution.SshConnection.RunAsync (what every operation uses). " +
                "Raw rows run `ssh` directly from the bench. CPU = user+system of the local ssh processes per command (the bench's reaped children); " +
                $"opening the master took {Report.Ms(masterOpen)}.",
                "command", "p50", "p95", "p50 / SshConnection warm", "local CPU per command", "n");

            var warm = await TimeAsync(muxRuns, async () => Check(await conn.RunAsync(["true"])));
            var raw = await TimeAsync(muxRuns, async () => Check(await Run.ProgramAsync([.. viaMaster, address, "true"], TimeSpan.FromSeconds(30))));
            var check = await TimeAsync(muxRuns, async () => Check(await Run.ProgramAsync([.. viaMaster, "-O", "check", address], TimeSpan.FromSeconds(30))));
            var cold = await TimeAsync(freshRuns, async () => Check(await Run.ProgramAsync([.. fresh, address, "true"], TimeSpan.FromSeconds(30))));
            var probeWarm = await TimeAsync(probeRuns, async () => Check(await conn.RunScriptAsync(FactsProbe.Script)));
            var probeFresh = await TimeAsync(probeRuns, async () => Check(await Run.ProgramAsync([.. fresh, address, "sh", "-s"], TimeSpan.FromSeconds(60), FactsProbe.Script)));

            var basis = warm.P50;
            void Add(string name, Timing t) => rows.Add([name, Report.Ms(t.P50), Report.Ms(t.P95), Report.Ratio(t.P50 / basis), Report.Ms(t.CpuPerRun), t.N.ToString(CultureInfo.InvariantCulture)]);
            Add("`true` via SshConnection (warm master)", warm);
            Add("`true` via raw ssh over the same master", raw);
            Add("`ssh -O check` alone (SshConnection runs it before every command)", check);
            Add("`true` via plain ssh, fresh connection", cold);
            Add("facts probe via SshConnection (warm master)", probeWarm);
            Add("facts probe via plain ssh, fresh connection", probeFresh);
            log.WriteLine($"fleet: per command p50: SshConnection {Report.Ms(warm.P50)}, raw mux {Report.Ms(raw.P50)}, -O check {Report.Ms(check.P50)}, fresh {Report.Ms(cold.P50)}; probe warm {Report.Ms(probeWarm.P50)}, fresh {Report.Ms(probeFresh.P50)}");
        }
        finally
        {
            await conn.CloseAsync();
        }
    }

    sealed record Timing(double P50, double P95, double CpuPerRun, int N);

    static async Task<Timing> TimeAsync(int n, Func<Task> action)
    {
        await action(); // warm-up: page cache, JIT
        var times = new List<double>(n);
        var cpu0 = Cpu.Of(Environment.ProcessId).Children;
        for (var i = 0; i < n; i++)
        {
            var sw = Stopwatch.StartNew();
            await action();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        var cpu = Cpu.Of(Environment.ProcessId).Children - cpu0;
        return new Timing(Stats.Percentile(times, 50), Stats.Percentile(times, 95), cpu / n, n);
    }

    static void Check(CommandResult r)
    {
        if (r.ExitCode != 0) throw new InvalidOperationException($"command failed ({r.ExitCode}): {r.StdErr}");
    }

    static void Check(RunResult r)
    {
        if (r.ExitCode != 0) throw new InvalidOperationException($"command failed ({r.ExitCode}): {r.StdErr}");
    }

    static string Q(string s) => "'" + s.Replace("'", "'\\''") + "'";
}
