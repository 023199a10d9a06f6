using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>
/// One test fleet (tests/fleet) shared by the tests of a class: a NixOS stand-in, a single-user, a
/// multi-user and a systemd host, each reached over a pinned, multiplexed SshConnection as root,
/// as NixFleet reaches hosts. Needs root and tests/fleet/fleet.sh; otherwise
/// <see cref="Available"/> is false and the tests do nothing.
/// </summary>
public sealed class RollbackFleet : IAsyncLifetime
{
    // This project's share of the loopback addresses for these tests; busy ones (another run) are skipped.
    private static readonly string[] Addresses = Enumerable.Range(71, 9).Select(i => $"127.0.0.{i}").ToArray();

    private readonly string _state = "/tmp/nf-rollback-fleet-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _control = "/tmp/nf-cm-" + Guid.NewGuid().ToString("N")[..8];
    private readonly Dictionary<string, SshConnection> _connections = [];
    private string? _fleet;

    public const string Nixos = "rbnixos", Single = "rbsingle", Multi = "rbmulti", Systemd = "rbsystemd";

    public bool Available => _fleet is not null;

    public async Task InitializeAsync()
    {
        var fleet = FleetScript.Find();
        if (fleet is null || !Environment.IsPrivilegedProcess)
        {
            return;
        }

        var free = Addresses.Where(a => !FleetScript.IsListening(a, 22)).Take(4).ToArray();
        if (free.Length < 4)
        {
            return;
        }

        string[] names = [Nixos, Single, Multi, Systemd];
        string[] kinds = ["nixos", "single", "multi", "systemd"];
        var specs = names.Select((name, i) => $"{kinds[i]}:{name}:{free[i]}");
        var up = await ProcessRunner.RunAsync(
            [fleet, "up", "--dir", _state, .. specs], new ProcessOptions { Timeout = TimeSpan.FromSeconds(120) });
        Assert.True(up.Succeeded, up.StdErr);
        _fleet = fleet;

        var privateKey = await File.ReadAllTextAsync(Path.Combine(_state, "id_ed25519"));
        for (var i = 0; i < names.Length; i++)
        {
            var keys = await SshHostKeys.ScanAsync(free[i], 22, TestContext.Timeout);
            var key = SshHostKeys.PickPreferred(keys)!;
            var knownHosts = Path.Combine(_state, $"known_hosts-{names[i]}");
            await File.WriteAllTextAsync(knownHosts, SshHostKeys.KnownHostsLine(names[i], key.Type, key.Base64Blob) + "\n");
            _connections[names[i]] = new SshConnection(
                new SshTarget(free[i], 22, "root"),
                new SshSettings(_control, knownHosts, names[i], TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60)),
                _ => ValueTask.FromResult(privateKey));
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var connection in _connections.Values)
        {
            await connection.CloseAsync();
        }

        if (_fleet is not null)
        {
            var down = await ProcessRunner.RunAsync([_fleet, "down", "--dir", _state], new ProcessOptions { Timeout = TimeSpan.FromSeconds(60) });
            Assert.True(down.Succeeded, down.StdErr);
        }

        if (Directory.Exists(_control))
        {
            Directory.Delete(_control, recursive: true);
        }
    }

    /// <summary>Runs an argv on the host over SSH, quoted by ShellQuote: NixFleet's own path.</summary>
    public Task<CommandResult> Ssh(string host, IReadOnlyList<string> argv) =>
        _connections[host].RunAsync(argv, ct: TestContext.Timeout);

    /// <summary>
    /// Runs a command as root on the host, for reading and changing its real state by other means
    /// than the code under test. Over the same SSH master (about 12 ms a command): fleet.sh exec
    /// (bash, nsenter) costs ten times that, and these tests run many.
    /// </summary>
    public async Task<string> Exec(string host, params string[] argv)
    {
        var result = await Ssh(host, argv);
        Assert.True(result.Succeeded, $"{string.Join(' ', argv)}: {result.StdErr}");
        return result.StdOut;
    }

    public async Task<GenerationsReport> Generations(string host)
    {
        var probe = await Ssh(host, ["sh", "-c", GenerationsProbe.Script]);
        Assert.True(probe.Succeeded, probe.StdErr);
        return GenerationsParser.ParseReport(probe.StdOut);
    }

    public async Task<HostFacts> Facts(string host)
    {
        var probe = await Ssh(host, ["sh", "-c", FactsProbe.Script]);
        Assert.True(probe.Succeeded, probe.StdErr);
        return FactsParser.Parse(probe.StdOut);
    }

    /// <summary>Starts an activation and follows it until it is over, collecting its output as NixFleet would stream it.</summary>
    public async Task<(ActivationStart Start, ActivationProgress Last, List<string> Lines)> Activate(
        string host, string systemPath, string mode, string runId)
    {
        var started = await Ssh(host, DetachedActivation.StartCommand(systemPath, mode, runId));
        Assert.True(started.Succeeded, started.StdErr);
        var start = DetachedActivation.ParseStart(started.StdOut)!;
        var (last, lines) = await Follow(host, runId);
        return (start, last, lines);
    }

    public async Task<(ActivationProgress Last, List<string> Lines)> Follow(string host, string runId)
    {
        var lines = new List<string>();
        long offset = 0;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var polled = await Ssh(host, DetachedActivation.FollowCommand(runId, offset));
            Assert.True(polled.Succeeded, polled.StdErr);
            var progress = DetachedActivation.ParseFollow(polled.StdOut)!;
            lines.AddRange(progress.Lines);
            offset = progress.NextOffset;
            if (progress.Finished && !progress.MoreOutput)
            {
                return (progress, lines);
            }

            Assert.True(DateTime.UtcNow < deadline, $"run {runId} did not end: {progress.State}");
            await Task.Delay(progress.MoreOutput ? 0 : 100);
        }
    }

    public static string NewRunId() => "t-" + Guid.NewGuid().ToString("N")[..12];


}
