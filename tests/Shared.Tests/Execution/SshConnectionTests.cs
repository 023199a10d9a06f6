using System.Diagnostics;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Execution;

/// <summary>SshConnection against a real sshd: pinned keys, quoting across the wire, the master connection.</summary>
public sealed class SshConnectionTests(LocalSshd sshd) : IClassFixture<LocalSshd>, IAsyncLifetime
{
    private const string Alias = "nixfleet-test-host";
    private readonly List<SshConnection> _opened = [];
    private string _controlDirectory = "";

    public Task InitializeAsync()
    {
        // Under /tmp and short: control socket paths are limited to 108 bytes.
        _controlDirectory = Path.Combine("/tmp", "nf-cm-" + Guid.NewGuid().ToString("N")[..8]);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var connection in _opened)
        {
            await connection.CloseAsync();
        }

        if (Directory.Exists(_controlDirectory))
        {
            Directory.Delete(_controlDirectory, recursive: true);
        }
    }

    [SshdFact]
    public async Task PinnedKey_MatchesTheHostKeyFingerprintSshKeygenShows()
    {
        var keys = await SshHostKeys.ScanAsync(LocalSshd.Address, sshd.Port, TestContext.Timeout);
        var listed = await ProcessRunner.RunAsync(["ssh-keygen", "-lf", sshd.HostKeyFile + ".pub"], TestContext.Timeout);

        Assert.Equal(["ecdsa-sha2-nistp256", "ssh-ed25519"], keys.Select(k => k.Type).Order());
        Assert.Equal(listed.StdOut.Split(' ')[1], SshHostKeys.PickPreferred(keys)!.Fingerprint);
    }

    [SshdFact]
    public async Task RunAsync_HostileArguments_ArriveOnTheHostUnchanged()
    {
        var marker = "/tmp/pwn-" + Guid.NewGuid().ToString("N");
        string[] hostile =
        [
            "; touch " + marker, "$(touch " + marker + ")", "`touch " + marker + "`", "it's", "\"q\"",
            "a\nb", "*", "~", "-n", "ünïcödé ✓", "", "$HOME", "x|y&z", "FOO=bar",
        ];
        var connection = await ConnectAsync();

        var printed = await connection.RunAsync(["printf", "%s\\0", .. hostile], ct: TestContext.Timeout);
        var echoed = await connection.RunAsync(["echo", .. hostile[..6]], ct: TestContext.Timeout);

        Assert.Equal(hostile, printed.StdOut.Split('\0')[..^1]);
        Assert.Equal(string.Join(' ', hostile[..6]) + "\n", echoed.StdOut);
        Assert.False(File.Exists(marker));
    }

    [SshdFact]
    public async Task RunAsync_ReturnsRemoteExitCodeStreamsAndLines()
    {
        var connection = await ConnectAsync();
        var lines = new List<OutputLine>();

        var result = await connection.RunAsync(
            ["sh", "-c", "echo out; echo err >&2; exit 3"],
            line => { lines.Add(line); return ValueTask.CompletedTask; },
            ct: TestContext.Timeout);

        Assert.Equal(new CommandResult(3, "out\n", "err\n"), result);
        Assert.Contains(new OutputLine(OutputStream.StdOut, "out"), lines);
        Assert.Contains(new OutputLine(OutputStream.StdErr, "err"), lines);
    }

    [SshdFact]
    public async Task RunAsync_StandardInput_ReachesTheRemoteCommand()
    {
        var connection = await ConnectAsync();

        var result = await connection.RunAsync(["cat"], stdin: "line one\nline ✓ two\n", ct: TestContext.Timeout);

        Assert.Equal("line one\nline ✓ two\n", result.StdOut);
    }

    [SshdFact]
    public async Task RunScriptAsync_TheFactsProbe_RunsAndParses()
    {
        var connection = await ConnectAsync();

        var result = await connection.RunScriptAsync(FactsProbe.Script, ct: TestContext.Timeout);
        var facts = FactsParser.Parse(result.StdOut);

        Assert.Equal(0, result.ExitCode);
        Assert.False(string.IsNullOrEmpty(facts.KernelVersion));
        Assert.NotNull(facts.DiskFreeBytes);
    }

    [SshdFact]
    public async Task EnsureMasterAsync_KeepsOneMaster_AndTheKeyIsOnDiskOnlyWhileConnecting()
    {
        var connection = await ConnectAsync();

        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(i =>
            connection.RunAsync(["echo", i.ToString()], ct: TestContext.Timeout)));
        var clock = Stopwatch.StartNew();
        await connection.RunAsync(["true"], ct: TestContext.Timeout);
        var overMaster = clock.Elapsed;

        Assert.Equal(Enumerable.Range(0, 6).Select(i => i + "\n"), results.Select(r => r.StdOut));
        Assert.True(await connection.IsMasterRunningAsync(TestContext.Timeout));
        Assert.Equal([connection.ControlPath], Directory.GetFileSystemEntries(_controlDirectory));
        Assert.Equal(
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute,
            File.GetUnixFileMode(_controlDirectory));
        Assert.True(overMaster < TimeSpan.FromSeconds(1), $"A command over the master took {overMaster}.");
    }

    [SshdFact]
    public async Task CloseAsync_EndsTheMaster_AndTheNextCommandOpensANewOne()
    {
        var connection = await ConnectAsync();
        await connection.RunAsync(["true"], ct: TestContext.Timeout);

        await connection.CloseAsync(TestContext.Timeout);
        var runningAfterClose = await connection.IsMasterRunningAsync(TestContext.Timeout);
        var again = await connection.RunAsync(["echo", "again"], ct: TestContext.Timeout);

        Assert.False(runningAfterClose);
        Assert.Equal("again\n", again.StdOut);
    }

    [SshdFact]
    public async Task EnsureMasterAsync_StaleSocketFileLeftByAKilledMaster_IsReplaced()
    {
        var connection = await ConnectAsync();
        Directory.CreateDirectory(_controlDirectory);
        await File.WriteAllTextAsync(connection.ControlPath, "stale");

        var result = await connection.RunAsync(["echo", "ok"], ct: TestContext.Timeout);

        Assert.Equal("ok\n", result.StdOut);
        Assert.True(await connection.IsMasterRunningAsync(TestContext.Timeout));
    }

    [SshdFact]
    public async Task RunAsync_WrongPinnedKey_ThrowsHostKeyChanged()
    {
        var other = await SshKeys.GenerateAsync("impostor", TestContext.Timeout);
        var knownHosts = Path.Combine(sshd.Directory, "known_hosts-wrong");
        var fields = other.PublicKey.Split(' ');
        await File.WriteAllTextAsync(knownHosts, SshHostKeys.KnownHostsLine(Alias, fields[0], fields[1]) + "\n");
        var connection = Connect(knownHosts, sshd.ClientKey.PrivateKey);

        var error = await Assert.ThrowsAsync<SshException>(() => connection.RunAsync(["true"], ct: TestContext.Timeout));

        Assert.Equal(SshFailure.HostKeyChanged, error.Failure);
        Assert.Contains("Host key verification failed.", error.StdErr);
    }

    [SshdFact]
    public async Task RunAsync_KeyPinnedUnderAnotherAlias_ThrowsHostKeyUnknown()
    {
        var knownHosts = await sshd.PinHostKeyAsync("some-other-host");
        var connection = Connect(knownHosts, sshd.ClientKey.PrivateKey);

        var error = await Assert.ThrowsAsync<SshException>(() => connection.RunAsync(["true"], ct: TestContext.Timeout));

        Assert.Equal(SshFailure.HostKeyUnknown, error.Failure);
    }

    [SshdFact]
    public async Task RunAsync_KeyNotAuthorized_ThrowsAuthenticationFailed()
    {
        var knownHosts = await sshd.PinHostKeyAsync(Alias);
        var stranger = await SshKeys.GenerateAsync("stranger", TestContext.Timeout);
        var connection = Connect(knownHosts, stranger.PrivateKey);

        var error = await Assert.ThrowsAsync<SshException>(() => connection.RunAsync(["true"], ct: TestContext.Timeout));

        Assert.Equal(SshFailure.AuthenticationFailed, error.Failure);
    }

    [SshdFact]
    public async Task RunAsync_NothingListening_ThrowsUnreachable()
    {
        var knownHosts = await sshd.PinHostKeyAsync(Alias);
        var connection = new SshConnection(
            new SshTarget(LocalSshd.Address, 1, "root"), Settings(knownHosts), _ => ValueTask.FromResult(sshd.ClientKey.PrivateKey));

        var error = await Assert.ThrowsAsync<SshException>(() => connection.RunAsync(["true"], ct: TestContext.Timeout));

        Assert.Equal(SshFailure.Unreachable, error.Failure);
        Assert.Contains("Connection refused", error.StdErr);
    }

    [SshdFact]
    public async Task RunAsync_Cancelled_StopsWaitingForTheRemoteCommand()
    {
        var connection = await ConnectAsync();
        await connection.EnsureMasterAsync(TestContext.Timeout);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var clock = Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connection.RunAsync(["sleep", "30"], ct: cts.Token));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
    }

    [SshdFact]
    public async Task RunAsync_Cancelled_RemoteCommandDiesAtItsNextWrite()
    {
        var marker = "/tmp/nf-after-cancel-" + Guid.NewGuid().ToString("N");
        var connection = await ConnectAsync();
        await connection.EnsureMasterAsync(TestContext.Timeout);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connection.RunAsync(
            ["sh", "-c", "sleep 1; echo still here; touch " + marker], ct: cts.Token));
        await Task.Delay(TimeSpan.FromSeconds(1.5));

        Assert.False(File.Exists(marker), "The remote command outlived its first write after cancellation.");
    }

    private async Task<SshConnection> ConnectAsync() =>
        Connect(await sshd.PinHostKeyAsync(Alias), sshd.ClientKey.PrivateKey);

    private SshConnection Connect(string knownHosts, string privateKey)
    {
        var connection = new SshConnection(
            new SshTarget(LocalSshd.Address, sshd.Port, "root"), Settings(knownHosts), _ => ValueTask.FromResult(privateKey));
        _opened.Add(connection);
        return connection;
    }

    private SshSettings Settings(string knownHosts) =>
        new(_controlDirectory, knownHosts, Alias, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(60));
}
