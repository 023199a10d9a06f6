using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests;

/// <summary>
/// Test hosts from tests/fleet shared by the tests of a class, each reached over a pinned,
/// multiplexed SshConnection as root, as NixFleet reaches hosts. Needs root and
/// tests/fleet/fleet.sh; otherwise <see cref="Available"/> is false and the tests do nothing.
/// </summary>
/// <param name="addresses">This class's share of the loopback addresses; busy ones (another run) are skipped.</param>
/// <param name="hosts">Name and kind of each host.</param>
public abstract class SshTestFleet(IReadOnlyList<string> addresses, params (string Name, string Kind)[] hosts) : IAsyncLifetime
{
    private readonly string _state = "/tmp/nf-fleet-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _control = "/tmp/nf-cm-" + Guid.NewGuid().ToString("N")[..8];
    private readonly Dictionary<string, SshConnection> _connections = [];
    private readonly Dictionary<string, string> _addresses = [];
    private string? _fleet;

    public bool Available => _fleet is not null;

    public string StateDir => _state;

    public async Task InitializeAsync()
    {
        var fleet = FleetScript.Find();
        if (fleet is null || !Environment.IsPrivilegedProcess)
        {
            return;
        }

        var free = addresses.Where(a => !FleetScript.IsListening(a, 22)).Take(hosts.Length).ToArray();
        if (free.Length < hosts.Length)
        {
            return;
        }

        var specs = hosts.Select((h, i) => $"{h.Kind}:{h.Name}:{free[i]}");
        var up = await ProcessRunner.RunAsync(
            [fleet, "up", "--dir", _state, .. specs], new ProcessOptions { Timeout = TimeSpan.FromSeconds(120) });
        Assert.True(up.Succeeded, up.StdErr);
        _fleet = fleet;

        var privateKey = await File.ReadAllTextAsync(Path.Combine(_state, "id_ed25519"));
        for (var i = 0; i < hosts.Length; i++)
        {
            var name = hosts[i].Name;
            _addresses[name] = free[i];
            var keys = await SshHostKeys.ScanAsync(free[i], 22, TestContext.Timeout);
            var key = SshHostKeys.PickPreferred(keys)!;
            var knownHosts = Path.Combine(_state, $"known_hosts-{name}");
            await File.WriteAllTextAsync(knownHosts, SshHostKeys.KnownHostsLine(name, key.Type, key.Base64Blob) + "\n");
            _connections[name] = new SshConnection(
                new SshTarget(free[i], 22, "root"),
                new SshSettings(_control, knownHosts, name, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60)),
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

    public IRemoteShell Shell(string host) => _connections[host];

    public string Address(string host) => _addresses[host];

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

    /// <summary>Runs a script as root inside the host with fleet.sh exec (not over SSH: it works while the host's sshd is down).</summary>
    public async Task<string> HostExec(string host, string script)
    {
        var r = await ProcessRunner.RunAsync([_fleet!, "exec", "--dir", _state, host, "--", "sh", "-c", script],
            new ProcessOptions { Timeout = TimeSpan.FromSeconds(60) });
        Assert.True(r.Succeeded, $"{script}: {r.StdErr}");
        return r.StdOut;
    }

    public async Task<HostFacts> Facts(string host)
    {
        var probe = await Ssh(host, ["sh", "-c", FactsProbe.Script]);
        Assert.True(probe.Succeeded, probe.StdErr);
        return FactsParser.Parse(probe.StdOut);
    }

    /// <summary>Kills the local SSH master processes of this fleet (ours, by PID): the connection is lost as when a network fails.</summary>
    public async Task<int> KillSshMastersAsync()
    {
        var killed = 0;
        if (!Directory.Exists(_control)) return 0;
        foreach (var socket in Directory.EnumerateFiles(_control, "*", SearchOption.AllDirectories))
        {
            var check = await ProcessRunner.RunAsync(["ssh", "-O", "check", "-o", $"ControlPath={socket}", "-F", "/dev/null", "x"]);
            var m = System.Text.RegularExpressions.Regex.Match(check.StdErr, @"pid=(\d+)");
            if (!m.Success) continue;
            System.Diagnostics.Process.GetProcessById(int.Parse(m.Groups[1].Value)).Kill();
            killed++;
        }
        return killed;
    }
}
