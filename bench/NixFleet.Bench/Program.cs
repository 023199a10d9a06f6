using System.Diagnostics;
using System.Globalization;
using System.Text;
using NixFleet.Bench;
using NixFleet.Testing;

// NixFleet benchmarks: measured next to peers run side by side, printed as ratios (bench/README.md).
//   dotnet NixFleet.Bench.dll [--only fleet|hosts] [--fleet-hosts 20] [--warm-runs 3]
//                             [--small 100] [--large 10000] [--requests 100] [--results FILE]
var options = Options.Parse(args);
var started = DateTimeOffset.Now;
var log = new ElapsedWriter(Console.Error);
var report = new Report();

// Everything stops by itself: past the deadline the bench exits, and the exit handlers below stop
// what it started (NixFleet processes by PID, the fleet by fleet.sh down, PostgreSQL by pg_ctl).
using var watchdog = new Timer(_ =>
{
    log.WriteLine($"bench: still running after {options.Deadline}; giving up");
    Environment.Exit(3);
}, null, options.Deadline, Timeout.InfiniteTimeSpan);
Console.CancelKeyPress += (_, e) => { e.Cancel = true; log.WriteLine("bench: interrupted"); Environment.Exit(130); };
AppDomain.CurrentDomain.ProcessExit += (_, _) => Cleanup.StopStrayApps();

var environment = await Machine.DescribeAsync();
log.WriteLine("bench: " + environment.Replace("\n", "; "));
var loadBefore = Machine.LoadAverage();
var failures = new List<string>();

if (options.Only is null or "fleet")
{
    try { await new FleetBench(report, log, options.FleetHosts, options.WarmRuns).RunAsync(); }
    catch (Exception e) { failures.Add($"fleet benchmark failed: {e}"); log.WriteLine(failures[^1]); }
}
if (options.Only is null or "hosts")
{
    try { await new HostsBench(report, log, options.Small, options.Large, options.Requests).RunAsync(); }
    catch (Exception e) { failures.Add($"hosts benchmark failed: {e}"); log.WriteLine(failures[^1]); }
}

var elapsed = DateTimeOffset.Now - started;
var header = $"NixFleet benchmarks, {started:yyyy-MM-dd HH:mm zzz}, took {elapsed.TotalSeconds:0} s\n{environment}\n" +
    $"load average (1/5/15 min) before: {loadBefore}, after: {Machine.LoadAverage()}";
Console.WriteLine(header);
Console.WriteLine(report.Text());
foreach (var f in failures) Console.WriteLine("FAILED: " + f.Split('\n')[0]);

if (options.Results is { } path)
{
    var md = new StringBuilder();
    md.AppendLine("# Benchmark results").AppendLine();
    md.AppendLine($"Written by `bash bench/run.sh` on {started:yyyy-MM-dd HH:mm zzz} (took {elapsed.TotalSeconds:0} s). See bench/README.md for what each number means.").AppendLine();
    md.AppendLine("```").AppendLine(environment).AppendLine($"load average (1/5/15 min) before: {loadBefore}, after: {Machine.LoadAverage()}").AppendLine("```");
    md.Append(report.Markdown());
    foreach (var f in failures) md.AppendLine().AppendLine("**FAILED**: `" + f.Split('\n')[0] + "`");
    await File.WriteAllTextAsync(path, md.ToString());
    log.WriteLine($"bench: results written to {path}");
}
return failures.Count == 0 ? 0 : 1;

sealed record Options(string? Only, int FleetHosts, int WarmRuns, int Small, int Large, int Requests, string? Results, TimeSpan Deadline)
{
    public static Options Parse(string[] args)
    {
        var o = new Options(null, 20, 3, 100, 10_000, 100, null, TimeSpan.FromMinutes(10));
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
            o = args[i] switch
            {
                "--only" => o with { Only = Next() },
                "--fleet-hosts" => o with { FleetHosts = Int() },
                "--warm-runs" => o with { WarmRuns = Int() },
                "--small" => o with { Small = Int() },
                "--large" => o with { Large = Int() },
                "--requests" => o with { Requests = Int() },
                "--results" => o with { Results = Path.GetFullPath(Next()) },
                "--deadline-minutes" => o with { Deadline = TimeSpan.FromMinutes(Int()) },
                _ => throw new ArgumentException($"unknown argument {args[i]}"),
            };
        }
        if (o.Only is not (null or "fleet" or "hosts")) throw new ArgumentException("--only is fleet or hosts");
        if (o.FleetHosts is < 1 or > 40) throw new ArgumentException("--fleet-hosts: 1 to 40 (addresses 127.0.0.101-140)");
        if (o.Requests is < 10 or > 2000 || o.WarmRuns is < 1 or > 10) throw new ArgumentException("--requests 10-2000, --warm-runs 1-10");
        return o;
    }
}

static class Machine
{
    public static string LoadAverage() => string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    public static async Task<string> DescribeAsync()
    {
        async Task<string> Out(string script)
        {
            try { return (await Run.BashAsync(script, TimeSpan.FromSeconds(20))).StdOut.Trim(); }
            catch (Exception e) { return e.Message; }
        }
        var cpu = await Out("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2");
        return string.Join("\n",
            $"machine: {Environment.ProcessorCount} cores ({cpu.Trim()}), {await Out("awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo")} RAM; " +
            $"{await Out(". /etc/os-release && echo $PRETTY_NAME")}; kernel {await Out("uname -r")}",
            $"NixFleet commit {await Out($"git -C '{Repo.Root}' rev-parse --short HEAD")}{(await Out($"git -C '{Repo.Root}' status --porcelain -- src") is { Length: > 0 } ? " (src/ has uncommitted changes)" : "")}; " +
            $".NET {Environment.Version}; {await Out("ssh -V 2>&1")}; {await Out("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1 | xargs -I{} {}/postgres --version")}");
    }
}

/// <summary>On an abnormal exit, NixFleet processes this bench started would be left running: stop them.</summary>
static class Cleanup
{
    public static void StopStrayApps()
    {
        var dir = $"/tmp/nft-{Environment.ProcessId}";
        foreach (var proc in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), out var pid)) continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(proc, "cmdline"));
                var environ = File.ReadAllText(Path.Combine(proc, "environ"));
                // Only our own NixFleet processes: started from the built web app with a data directory under our scratch dir.
                if (cmdline.Contains("NixFleet.Web.dll", StringComparison.Ordinal) && environ.Contains($"NIXFLEET_DATA_DIR={dir}/", StringComparison.Ordinal))
                {
                    using var p = Process.GetProcessById(pid);
                    p.Kill();
                }
            }
            catch (Exception) { /* gone already, or not ours to read */ }
        }
    }
}

/// <summary>Progress lines on stderr, each with the seconds since the bench started.</summary>
sealed class ElapsedWriter(TextWriter inner) : TextWriter
{
    readonly Stopwatch _clock = Stopwatch.StartNew();
    public override Encoding Encoding => inner.Encoding;
    public override void Write(char value) => inner.Write(value);
    public override void WriteLine(string? value) => inner.WriteLine($"[{_clock.Elapsed.TotalSeconds,5:0}s] {value}");
}
