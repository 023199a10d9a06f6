using NixFleet.Shared.Execution;

namespace NixFleet.Testing;

/// <summary>One host of the test fleet: its own namespaces, overlay root and sshd on a loopback address.</summary>
public sealed record FleetHostInfo(string Name, string Kind, string Address);

/// <summary>
/// The real test fleet (tests/fleet/fleet.sh), started once for the test run. Hosts are isolated
/// Nix machines on 127.0.0.x; tests read their real state through <see cref="ExecAsync"/>.
/// </summary>
public sealed class TestFleet : IAsyncDisposable
{
    static readonly SemaphoreSlim Gate = new(1, 1);
    static TestFleet? _shared;

    public string Dir { get; }
    public IReadOnlyList<FleetHostInfo> Hosts { get; }
    /// <summary>The key the fleet's root accounts accept; NixFleet instances under test import it.</summary>
    public string PrivateKey { get; }
    public string PublicKey { get; }

    TestFleet(string dir, IReadOnlyList<FleetHostInfo> hosts, string privateKey, string publicKey)
    {
        Dir = dir;
        Hosts = hosts;
        PrivateKey = privateKey;
        PublicKey = publicKey;
    }

    public FleetHostInfo Host(string kind) => Hosts.First(h => h.Kind == kind);

    public FleetHostInfo Named(string name) => Hosts.First(h => h.Name == name);

    /// <summary>Stops one host: every process in it ends, as when a machine loses power.</summary>
    public async Task StopHostAsync(string name)
    {
        var r = await ProcessRunner.RunAsync(["bash", Repo.FleetScript, "down", "--dir", Dir, name], new ProcessOptions { Timeout = TimeSpan.FromMinutes(2) });
        if (r.ExitCode != 0) throw new InvalidOperationException($"fleet.sh down {name} failed: {r.StdErr}");
    }

    /// <summary>Starts a stopped host again (fresh state and a new host key, like a reinstall).</summary>
    public async Task StartHostAsync(string name)
    {
        var h = Named(name);
        var pubFile = Path.Combine(Repo.Scratch("keys"), $"{name}.pub");
        await File.WriteAllTextAsync(pubFile, PublicKey + "\n");
        var r = await ProcessRunner.RunAsync(["bash", Repo.FleetScript, "up", "--dir", Dir, "--authorized-key", pubFile, $"{h.Kind}:{h.Name}:{h.Address}"],
            new ProcessOptions { Timeout = TimeSpan.FromMinutes(5) });
        if (r.ExitCode != 0) throw new InvalidOperationException($"fleet.sh up {name} failed: {r.StdErr}");
    }

    /// <summary>The standard fleet: one host of each kind, shared by every test that needs hosts.</summary>
    public static async Task<TestFleet> SharedAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_shared is null)
            {
                _shared = await StartAsync("shared",
                    ("single", "single1", "127.0.0.31"),
                    ("multi", "multi1", "127.0.0.32"),
                    ("systemd", "systemd1", "127.0.0.33"),
                    ("nixos", "nixos1", "127.0.0.34"),
                    ("builder", "builder1", "127.0.0.35"),
                    // For tests that break or stop a host.
                    ("multi", "victim1", "127.0.0.36"));
                var fleet = _shared;
                AppDomain.CurrentDomain.ProcessExit += (_, _) => fleet.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            return _shared;
        }
        finally
        {
            Gate.Release();
        }
    }

    public static async Task<TestFleet> StartAsync(string name, params (string Kind, string Name, string Address)[] hosts)
    {
        var dir = Repo.Scratch($"fleet-{name}");
        var pair = await SshKeys.GenerateAsync("nixfleet-tests");
        var pubFile = Path.Combine(Repo.Scratch("keys"), $"{name}.pub");
        await File.WriteAllTextAsync(pubFile, pair.PublicKey + "\n");
        var args = new List<string> { "bash", Repo.FleetScript, "up", "--dir", dir, "--authorized-key", pubFile };
        args.AddRange(hosts.Select(h => $"{h.Kind}:{h.Name}:{h.Address}"));
        var result = await ProcessRunner.RunAsync(args, new ProcessOptions { Timeout = TimeSpan.FromMinutes(5) });
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"fleet.sh up failed ({result.ExitCode}):\n{result.StdErr}\n{result.StdOut}");
        return new TestFleet(dir, hosts.Select(h => new FleetHostInfo(h.Name, h.Kind, h.Address)).ToList(), pair.PrivateKey, pair.PublicKey);
    }

    /// <summary>Runs a command inside a host (as its root), to read or break its real state.</summary>
    public async Task<CommandResult> ExecAsync(string host, params string[] argv)
    {
        var args = new List<string> { "bash", Repo.FleetScript, "exec", "--dir", Dir, host, "--" };
        args.AddRange(argv);
        return await ProcessRunner.RunAsync(args, new ProcessOptions { Timeout = TimeSpan.FromMinutes(2) });
    }

    /// <summary>Runs a shell snippet inside a host and returns its trimmed stdout, failing on a non-zero exit.</summary>
    public async Task<string> ShAsync(string host, string script)
    {
        var r = await ExecAsync(host, "sh", "-c", script);
        if (r.ExitCode != 0) throw new InvalidOperationException($"{host}: `{script}` exited {r.ExitCode}: {r.StdErr}");
        return r.StdOut.Trim();
    }

    public async ValueTask DisposeAsync()
    {
        await ProcessRunner.RunAsync(["bash", Repo.FleetScript, "down", "--dir", Dir], new ProcessOptions { Timeout = TimeSpan.FromMinutes(2) });
    }
}
