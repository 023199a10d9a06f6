using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Testing;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>
/// The test channel releases served over real HTTP (<see cref="ChannelServer"/>) used by a NixOS
/// stand-in test host through NixFleet's own commands (<see cref="ChannelCommands"/>), each result
/// checked against the host's real state: nix-channel --list, the channels profile, the built system.
/// </summary>
public sealed class ChannelServerTests(ChannelServerFleet fleet) : IClassFixture<ChannelServerFleet>
{
    private const string RootNixos = "/nix/var/nix/profiles/per-user/root/channels/nixos";

    [Fact]
    public async Task Update_ToTheServedNixos2411Release_BuildsASystemWhoseVersionIs2411()
    {
        if (!fleet.Available)
        {
            return; // No fleet here (see ChannelServerFleet).
        }

        var url = fleet.Server.Url("nixos-24.11");
        var before = await fleet.Probe("root");

        await fleet.Nix("root", ChannelCommands.Add(url, "nixos"));
        var update = await fleet.Nix("root", ChannelCommands.Update("nixos"));

        var report = await fleet.Probe("root");
        var nixos = Assert.Single(report.Channels, c => c.Name == "nixos");
        Assert.Equal(url, nixos.Url);
        Assert.Equal("24.11.710315.b681065d0919", nixos.Version);
        Assert.Equal("b681065d0919e1f3d3c0b6b1c5d2f9e8a7c6b5a4", nixos.Revision);
        Assert.True(report.ProfileGeneration > before.ProfileGeneration, update.StdErr);
        Assert.Equal((await fleet.Exec("readlink", RootNixos)).Trim(), nixos.StorePath);
        // nix-channel asked for the channel, was sent to its release, and fetched the tarball there.
        Assert.Contains(fleet.Server.Requests, r => r.Contains("\"GET /nixos-24.11 HTTP/1.1\" 302", StringComparison.Ordinal));
        Assert.Contains(fleet.Server.Requests, r =>
            r.Contains("\"GET /releases/nixos-24.11.710315.b681065d0919/nixexprs.tar.xz HTTP/1.1\" 200", StringComparison.Ordinal));

        // Nix does not ask again within tarball-ttl (an hour) unless told to.
        var asked = Asked();
        await fleet.Nix("root", ChannelCommands.Update("nixos"));
        Assert.Equal(asked, Asked());
        await fleet.Nix("root", ChannelCommands.Update("nixos", bypassCache: true));
        for (var i = 0; i < 40 && Asked() == asked; i++)
        {
            await Task.Delay(50); // The server's log arrives on its own pipe.
        }

        Assert.Equal(asked + 1, Asked());

        // What nixos-rebuild would build from it.
        var build = await fleet.Ssh(["env", "NIX_PATH=nixpkgs=" + RootNixos,
            fleet.Facts.NixBinDirectory + "/nix-build", "<nixpkgs/nixos>", "-A", "system", "--no-out-link"]);
        Assert.True(build.Succeeded, build.StdErr);
        var system = build.StdOut.Trim();
        Assert.Matches(@"^/nix/store/[0-9a-z]{32}-nixos-system-chsrvnixos-24\.11\.710315\.b681065d0919$", system);
        Assert.StartsWith("24.11", await fleet.Exec("cat", system + "/nixos-version"), StringComparison.Ordinal);
        Assert.Equal("24.11.710315.b681065d0919 (Vicuna)\n", await fleet.Exec(system + "/sw/bin/nixos-version"));
        Assert.Equal("6.6.40", await fleet.Exec("cat", system + "/kernel-version"));
        Assert.True((await fleet.Ssh(["test", "-x", system + "/bin/switch-to-configuration"])).Succeeded);

        int Asked() => fleet.Server.Requests.Count(r => r.Contains("\"GET /nixos-24.11 HTTP/1.1\"", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("html", "failed to open archive: Unrecognized archive format")]
    [InlineData("truncated", "failed to open archive: Lzma library error:  No progress is possible")]
    [InlineData("missing", "HTTP error 404 ('Not Found')")]
    public async Task Update_FromABrokenChannel_FailsWithNixsMessageAndRestoreLeavesTheChannelsAsTheyWere(string channel, string message)
    {
        if (!fleet.Available)
        {
            return;
        }

        var url = fleet.Server.Url(channel);
        var list = (await fleet.Nix("root", ChannelCommands.List())).StdOut;
        var report = await fleet.Probe("root");
        var file = await fleet.Exec("sh", "-c", FileState, "file-state", "/root/.nix-channels");

        Assert.Equal("backup created\n", (await fleet.Script("root", ChannelCommands.BackupScript)).StdOut);
        await fleet.Nix("root", ChannelCommands.Add(url, "nixos"));
        Assert.Contains($"nixos {url}\n", (await fleet.Nix("root", ChannelCommands.List())).StdOut, StringComparison.Ordinal);
        var update = await fleet.Ssh(ChannelCommands.ForUser(fleet.Facts, "root", "root", ChannelCommands.Update("nixos")));
        Assert.NotEqual(0, update.ExitCode);
        Assert.Contains(message, ChannelsParser.ErrorMessage(update.StdErr), StringComparison.Ordinal);
        Assert.Equal("restored\n", (await fleet.Script("root", ChannelCommands.RestoreScript)).StdOut);

        Assert.Equal(list, (await fleet.Nix("root", ChannelCommands.List())).StdOut);
        Assert.Equal(file, await fleet.Exec("sh", "-c", FileState, "file-state", "/root/.nix-channels"));
        var after = await fleet.Probe("root");
        Assert.Equal(report.ProfileGeneration, after.ProfileGeneration);
        Assert.Equal(report.Generations, after.Generations);
        Assert.Equal(report.UpdatedAt, after.UpdatedAt);
        Assert.Equal(report.Channels, after.Channels);
        Assert.False(after.HasBackup);
    }

    [Fact]
    public async Task ChannelsOfAnotherUser_AreChangedAsThatUser_FromNoneToTwoGenerationsAndBack()
    {
        if (!fleet.Available)
        {
            return;
        }

        // alice has no channels on a fresh host; nothing else in this class touches hers.
        Assert.False((await fleet.Ssh(["test", "-e", "/home/alice/.nix-channels"])).Succeeded);

        // A failed first subscription leaves no file behind.
        Assert.Equal("backup absent\n", (await fleet.Script("alice", ChannelCommands.BackupScript)).StdOut);
        await fleet.Nix("alice", ChannelCommands.Add(fleet.Server.Url("missing"), "nixpkgs"));
        var failed = await fleet.Ssh(ChannelCommands.ForUser(fleet.Facts, "root", "alice", ChannelCommands.Update(null)));
        Assert.NotEqual(0, failed.ExitCode);
        Assert.Contains("HTTP error 404", ChannelsParser.ErrorMessage(failed.StdErr), StringComparison.Ordinal);
        Assert.Equal("restored absent\n", (await fleet.Script("alice", ChannelCommands.RestoreScript)).StdOut);
        var none = await fleet.Probe("alice");
        Assert.False(none.ChannelsFilePresent);
        Assert.Empty(none.Channels);
        Assert.Null(none.ProfileGeneration);

        // nixpkgs-old, then nixpkgs-new: two generations, and nix-env -u upgrades hello 1.0 to 2.0.
        await fleet.Nix("alice", ChannelCommands.Add(fleet.Server.Url("nixpkgs-old"), "nixpkgs"));
        await fleet.Nix("alice", ChannelCommands.Update(null));
        await fleet.Nix("alice", ChannelCommands.Add(fleet.Server.Url("nixpkgs-new"), "nixpkgs"));
        await fleet.Nix("alice", ChannelCommands.Update("nixpkgs"));
        var two = await fleet.Probe("alice");
        Assert.Equal(2, two.ProfileGeneration);
        Assert.Equal([1, 2], two.Generations);
        Assert.Equal("24.11pre712345.5f4e3d2c1b0a", Assert.Single(two.Channels).Version);
        Assert.Equal("alice alice\nalice alice\nalice alice\n", await fleet.Exec("sh", "-c",
            "stat -c '%U %G' /home/alice/.nix-channels /nix/var/nix/profiles/per-user/alice/channels-1-link /nix/var/nix/profiles/per-user/alice/channels-2-link"));
        var upgrade = await fleet.Ssh(RollbackCommands.ForHost(fleet.Facts, "root", ["nix-env", "-u"], profileOwner: "alice"));
        Assert.True(upgrade.Succeeded, upgrade.StdErr);
        Assert.Contains("upgrading 'hello-1.0' to 'hello-2.0'", upgrade.StdErr, StringComparison.Ordinal);

        // Rolling the channels back is a profile switch: the file keeps the newer URL.
        await fleet.Nix("alice", ChannelCommands.Rollback(null));
        var back = await fleet.Probe("alice");
        Assert.Equal(1, back.ProfileGeneration);
        Assert.Equal([1, 2], back.Generations);
        var nixpkgs = Assert.Single(back.Channels);
        Assert.Equal("24.05pre612345.0a1b2c3d4e5f", nixpkgs.Version);
        Assert.Equal(fleet.Server.Url("nixpkgs-new"), nixpkgs.Url);
    }

    // $1: a file; prints what must come back after a restore.
    private const string FileState = """stat -c '%s %a %U %Y %y' "$1" && sha256sum "$1" """;
}

/// <summary>
/// One NixOS stand-in test host (tests/fleet, kind nixos, on a free address of 127.0.0.97-99)
/// reached as root over a pinned, multiplexed SshConnection, and a <see cref="ChannelServer"/>.
/// Needs root, tests/fleet/fleet.sh and python3; otherwise <see cref="Available"/> is false and
/// the tests do nothing.
/// </summary>
public sealed class ChannelServerFleet : IAsyncLifetime
{
    private const string Host = "chsrvnixos";
    private static readonly string[] Addresses = ["127.0.0.97", "127.0.0.98", "127.0.0.99"];

    private readonly string _control = "/tmp/nf-cm-" + Guid.NewGuid().ToString("N")[..8];
    private string? _fleet;
    private string _state = "";
    private SshConnection? _connection;
    private ChannelServer? _server;

    public bool Available => _connection is not null;

    public ChannelServer Server => _server ?? throw new InvalidOperationException("No channel server.");

    /// <summary>The host's facts, read with FactsProbe at start: where its Nix is, its install type.</summary>
    public HostFacts Facts { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var fleet = FleetScript.Find();
        var address = Addresses.FirstOrDefault(a => !FleetScript.IsListening(a, 22));
        if (fleet is null || !Environment.IsPrivilegedProcess || address is null)
        {
            return;
        }

        _server = await ChannelServer.StartAsync();
        // Under the run's scratch directory: tests/cleanup-stale.sh stops the fleet if this process dies.
        _state = Repo.Scratch("fleet-channels");
        var up = await ProcessRunner.RunAsync(
            [fleet, "up", "--dir", _state, $"nixos:{Host}:{address}"], new ProcessOptions { Timeout = TimeSpan.FromSeconds(120) });
        Assert.True(up.Succeeded, up.StdErr);
        _fleet = fleet;

        var key = SshHostKeys.PickPreferred(await SshHostKeys.ScanAsync(address, 22, TestContext.Timeout))!;
        var knownHosts = Path.Combine(_state, "known_hosts-test");
        await File.WriteAllTextAsync(knownHosts, SshHostKeys.KnownHostsLine(Host, key.Type, key.Base64Blob) + "\n");
        var privateKey = await File.ReadAllTextAsync(Path.Combine(_state, "id_ed25519"));
        _connection = new SshConnection(
            new SshTarget(address, 22, "root"),
            new SshSettings(_control, knownHosts, Host, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60)),
            _ => ValueTask.FromResult(privateKey));

        var facts = await Ssh(["sh", "-c", FactsProbe.Script]);
        Assert.True(facts.Succeeded, facts.StdErr);
        Facts = FactsParser.Parse(facts.StdOut);
    }

    public async Task DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.CloseAsync();
        }

        if (_fleet is not null)
        {
            var down = await ProcessRunner.RunAsync([_fleet, "down", "--dir", _state], new ProcessOptions { Timeout = TimeSpan.FromSeconds(60) });
            Assert.True(down.Succeeded, down.StdErr);
        }

        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (Directory.Exists(_control))
        {
            Directory.Delete(_control, recursive: true);
        }
    }

    /// <summary>Runs an argv on the host as root over SSH, quoted by ShellQuote: NixFleet's own path.</summary>
    public Task<CommandResult> Ssh(IReadOnlyList<string> argv) =>
        _connection!.RunAsync(argv, ct: TestContext.Timeout);

    /// <summary>Runs a command as root to read the host's real state; it must succeed.</summary>
    public async Task<string> Exec(params string[] argv)
    {
        var result = await Ssh(argv);
        Assert.True(result.Succeeded, $"{string.Join(' ', argv)}: {result.StdErr}");
        return result.StdOut;
    }

    /// <summary>A nix-channel command as USER through <see cref="ChannelCommands.ForUser"/>; it must succeed.</summary>
    public async Task<CommandResult> Nix(string user, IReadOnlyList<string> command)
    {
        var result = await Ssh(ChannelCommands.ForUser(Facts, "root", user, command));
        Assert.True(result.Succeeded, $"{string.Join(' ', command)} as {user}: {result.StdErr}");
        return result;
    }

    /// <summary>A constant script as USER through <see cref="ChannelCommands.AsUser"/>; it must succeed.</summary>
    public async Task<CommandResult> Script(string user, string script)
    {
        var result = await Ssh(ChannelCommands.AsUser("root", user, script));
        Assert.True(result.Succeeded, result.StdErr);
        return result;
    }

    public async Task<ChannelsReport> Probe(string user) =>
        ChannelsParser.Parse((await Script(user, ChannelsProbe.Script)).StdOut);
}
