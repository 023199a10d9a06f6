using System.Text;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>The activation scripts' parsers on their real output (Fixtures/activation, see its README), their argv, and their input checks.</summary>
public class DetachedActivationTests
{
    private const string Gen1 = "/nix/store/w58qw2akp5b5y1b8k8sfswpdybxahhmb-nixos-system-nixos1-24.05.1232.8ea141a";
    private const string Gen3 = "/nix/store/f4z04v5i7avm5ly0xf8a8qvwwbzg3m5p-nixos-system-nixos1-24.05.1234.abcdef0";

    [Fact]
    public void ParseStart_Setsid_GivesThePidAndWhatWasStarted()
    {
        var start = DetachedActivation.ParseStart(Fixture("start.setsid.txt"));

        Assert.Equal(
            new ActivationStart("run-test-1", false, null, 320, "/var/lib/nixfleet/activations/run-test-1.log", Gen1, "test",
                DateTimeOffset.FromUnixTimeSeconds(1795444218)),
            start);
    }

    [Fact]
    public void ParseStart_Systemd_GivesTheUnit()
    {
        var start = DetachedActivation.ParseStart(Fixture("start.systemd.txt"))!;

        Assert.Equal(("nixfleet-activate-run-systemd-1", null, false), (start.Unit, start.Pid, start.AlreadyStarted));
    }

    [Fact]
    public void ParseStart_SameRunAgain_SaysAlreadyStarted() =>
        Assert.True(DetachedActivation.ParseStart(Fixture("start.already.txt"))!.AlreadyStarted);

    [Theory]
    [InlineData("")]
    [InlineData("nixfleet-activate: the mode must be switch, boot or test\n")]
    [InlineData("@@start\n|run run-1\n|state weird\n")]
    public void ParseStart_NoStartReported_IsNull(string output) =>
        Assert.Null(DetachedActivation.ParseStart(output));

    [Fact]
    public void ParseFollow_Done_GivesExitStatusOutputAndWhatTheSystemRunsAndBoots()
    {
        var progress = DetachedActivation.ParseFollow(Fixture("follow.done.txt"));

        Assert.Equal(
            new ActivationProgress("run-test-1", ActivationState.Done, 0, null, 320,
                ["activating the configuration...", "setting up /etc..."], 0, 51, 51, Gen1, "system-3-link", Gen3),
            progress,
            new ProgressComparer());
        Assert.True(progress!.Succeeded);
        Assert.True(progress.Finished);
        Assert.False(progress.MoreOutput);
    }

    [Fact]
    public void ParseFollow_FromAnOffsetMidLine_StartsThere()
    {
        var progress = DetachedActivation.ParseFollow(Fixture("follow.done-offset.txt"))!;

        Assert.Equal(["guration...", "setting up /etc..."], progress.Lines);
        Assert.Equal((20, 51), (progress.Offset, progress.NextOffset));
    }

    [Fact]
    public void ParseFollow_FailedActivation_GivesStatusOneAndItsError()
    {
        var progress = DetachedActivation.ParseFollow(Fixture("follow.failed.txt"))!;

        Assert.Equal((ActivationState.Done, 1, false), (progress.State, progress.ExitStatus, progress.Succeeded));
        Assert.Contains(progress.Lines, l => l.StartsWith("error: activation of /nix/store/", StringComparison.Ordinal));
        Assert.Equal(Gen1, progress.CurrentSystem); // left alone by the failed switch
    }

    [Fact]
    public void ParseFollow_Running_IsNotFinishedAndGivesCompleteLinesOnly()
    {
        var progress = DetachedActivation.ParseFollow(Fixture("follow.running.txt"))!;

        // Caught half-way: the first lines of what it prints, each complete, and the offset right after them.
        Assert.Equal((ActivationState.Running, null, false), (progress.State, progress.ExitStatus, progress.Finished));
        Assert.InRange(progress.Lines.Count, 2, 20);
        Assert.Equal(
            (string[])["slow activation boot starting", .. Enumerable.Range(1, progress.Lines.Count - 1).Select(i => $"step {i}")],
            progress.Lines);
        Assert.Equal(progress.Lines.Sum(l => l.Length + 1), progress.NextOffset);
    }

    [Fact]
    public void ParseFollow_DoneWithAnUnterminatedLastLine_GivesThatLineToo()
    {
        var progress = DetachedActivation.ParseFollow(Fixture("follow.done-partial-line.txt"))!;

        Assert.Equal((7, "no newline at the end"), (progress.ExitStatus, progress.Lines[^1]));
        Assert.Equal(22, progress.Lines.Count);
        Assert.Equal(progress.LogSize, progress.NextOffset);
    }

    [Fact]
    public void ParseFollow_Killed_IsLostWithoutAnExitStatus()
    {
        var progress = DetachedActivation.ParseFollow(Fixture("follow.lost.txt"))!;

        Assert.Equal((ActivationState.Lost, null, true, false), (progress.State, progress.ExitStatus, progress.Finished, progress.Succeeded));
        Assert.Equal("step 6", progress.Lines[^1]);
    }

    [Fact]
    public void ParseFollow_UnknownRun_IsUnknownAndEmpty()
    {
        var progress = DetachedActivation.ParseFollow(Fixture("follow.unknown.txt"))!;

        Assert.Equal((ActivationState.Unknown, 0, 0L), (progress.State, progress.Lines.Count, progress.LogSize));
        Assert.True(progress.Finished);
    }

    [Fact]
    public void ParseFollow_SystemdHostWithoutSystemProfile_GivesTheUnitAndNoProfile()
    {
        var progress = DetachedActivation.ParseFollow(Fixture("follow.systemd.txt"))!;

        Assert.Equal(("nixfleet-activate-run-systemd-1", null, null), (progress.Unit, progress.SystemProfileLink, progress.SystemProfilePath));
        Assert.True(progress.Succeeded);
    }

    [Fact]
    public void ParseFollow_ChunkCutShort_IsRejected()
    {
        var whole = Fixture("follow.done-partial-line.txt");
        var cut = whole.Replace("|OQpzdGVwIDIwCm5vIG5ld2xpbmUgYXQgdGhlIGVuZA==\n", "", StringComparison.Ordinal);

        Assert.NotEqual(whole, cut);
        Assert.Null(DetachedActivation.ParseFollow(cut));
    }

    [Fact]
    public void ParseFollow_PartialLineWhileRunning_IsLeftForTheNextPoll()
    {
        var output = Follow("running", "line one\nline tw", offset: 100, size: 200);

        var progress = DetachedActivation.ParseFollow(output)!;

        Assert.Equal(["line one"], progress.Lines);
        Assert.Equal(109, progress.NextOffset);
        Assert.True(progress.MoreOutput);
    }

    [Fact]
    public void ParseFollow_HexChunkWhereThereIsNoBase64_IsReadToo()
    {
        var output = Follow("done", "ok\n", offset: 0, size: 3).Replace("@@log-base64\n|b2sK", "@@log-hex\n| 6f 6b 0a", StringComparison.Ordinal);

        Assert.Equal(["ok"], DetachedActivation.ParseFollow(output)!.Lines);
    }

    [Fact]
    public void ParseFollow_InvalidUtf8AndCarriageReturns_StillGiveLines()
    {
        var output = Follow("done", "caf\xe9\r\nend", offset: 0, size: 9, latin1: true);

        Assert.Equal(["caf\uFFFD", "end"], DetachedActivation.ParseFollow(output)!.Lines);
    }

    [Fact]
    public void StartCommand_IsTheScriptWithItsThreeArguments() =>
        Assert.Equal(
            ["sh", "-c", DetachedActivation.StartScript, "nixfleet-activate", Gen1, "test", "op-42-1"],
            DetachedActivation.StartCommand(Gen1, "test", "op-42-1"));

    [Theory]
    [InlineData("/nix/store/w58qw2akp5b5y1b8k8sfswpdybxahhmb-x; reboot", "switch", "run-1")]
    [InlineData("/run/current-system", "switch", "run-1")]
    [InlineData(Gen1, "dry-activate", "run-1")]
    [InlineData(Gen1, "switch", "Run-1")]
    [InlineData(Gen1, "switch", "run 1")]
    [InlineData(Gen1, "switch", "")]
    [InlineData(Gen1, "switch", "../../etc/x")]
    [InlineData(Gen1, "switch", "run-1\n")]
    [InlineData(Gen1, "switch", "a123456789012345678901234567890123456789012345678901234567890123456789")]
    public void StartCommand_BadInput_IsRefusedBeforeAnythingRuns(string path, string mode, string runId) =>
        Assert.Throws<ArgumentException>(() => DetachedActivation.StartCommand(path, mode, runId));

    [Fact]
    public void FollowCommand_IsTheScriptWithRunAndOffset()
    {
        Assert.Equal(["sh", "-c", DetachedActivation.FollowScript, "nixfleet-follow", "run-1", "51"], DetachedActivation.FollowCommand("run-1", 51));
        Assert.Throws<ArgumentOutOfRangeException>(() => DetachedActivation.FollowCommand("run-1", -1));
        Assert.Throws<ArgumentException>(() => DetachedActivation.FollowCommand("run/1"));
    }

    [Theory]
    [InlineData(nameof(DetachedActivation.StartScript), "/bin/dash", "-n")]
    [InlineData(nameof(DetachedActivation.StartScript), "/bin/bash", "--posix", "-n")]
    [InlineData(nameof(DetachedActivation.FollowScript), "/bin/dash", "-n")]
    [InlineData(nameof(DetachedActivation.FollowScript), "/bin/bash", "--posix", "-n")]
    [InlineData(nameof(HostLock.TakeScript), "/bin/dash", "-n")]
    [InlineData(nameof(HostLock.ReleaseScript), "/bin/dash", "-n")]
    public async Task Scripts_AreValidPosixShell(string script, string shell, params string[] check)
    {
        if (!File.Exists(shell))
        {
            return; // Not installed here.
        }

        var result = await ProcessRunner.RunAsync([shell, .. check, "-c", Script(script)], TestContext.Timeout);

        Assert.True(result.Succeeded, result.StdErr);
    }

    [Theory]
    [InlineData(Gen1, "switch")]
    [InlineData(Gen1, "reboot", "run-1")]
    [InlineData(Gen1, "switch", "Run-1")]
    [InlineData(Gen1, "switch", "run-1; touch /tmp/nixfleet-pwned")]
    [InlineData(Gen1, "switch", "")]
    [InlineData(Gen1 + "\n/tmp", "switch", "run-1")]
    [InlineData("/nix/store/w58qw2akp5b5y1b8k8sfswpdybxahhmb-x/../../../tmp", "switch", "run-1")]
    [InlineData("/nix/store/w58qw2akp5b5y1b8k8sfswpdybxahhmb-$(touch /tmp/nixfleet-pwned)", "switch", "run-1")]
    [InlineData("/nix/store/short-x", "switch", "run-1")]
    public async Task StartScript_BadArguments_ExitTwoBeforeTouchingAnything(params string[] arguments)
    {
        // Run here: the checks come before any file is made, so nothing on this machine changes.
        var result = await ProcessRunner.RunAsync(["/bin/sh", "-c", DetachedActivation.StartScript, "nixfleet-activate", .. arguments], TestContext.Timeout);

        Assert.Equal(DetachedActivation.ExitBadArgument, result.ExitCode);
        Assert.StartsWith("nixfleet-activate: ", result.StdErr, StringComparison.Ordinal);
        Assert.Equal("", result.StdOut);
        Assert.False(File.Exists("/tmp/nixfleet-pwned"));
    }

    [Fact]
    public async Task StartScript_TargetThatIsNoSystem_ExitsThreeBeforeTouchingAnything()
    {
        // A valid store path that is not there: refused before anything is made.
        var result = await ProcessRunner.RunAsync(
            ["/bin/sh", "-c", DetachedActivation.StartScript, "nixfleet-activate", "/nix/store/00000000000000000000000000000000-nixos-system-none", "switch", "run-1"],
            TestContext.Timeout);

        Assert.Equal(Environment.IsPrivilegedProcess ? DetachedActivation.ExitNotASystem : DetachedActivation.ExitNotRoot, result.ExitCode);
        Assert.Equal("", result.StdOut);
    }

    [Theory]
    [InlineData("run/1", "0")]
    [InlineData("run-1", "-5")]
    [InlineData("run-1", "1e3")]
    [InlineData("run-1", "9999999999999999")]
    [InlineData]
    public async Task FollowScript_BadArguments_ExitTwo(params string[] arguments)
    {
        var result = await ProcessRunner.RunAsync(["/bin/sh", "-c", DetachedActivation.FollowScript, "nixfleet-follow", .. arguments], TestContext.Timeout);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("", result.StdOut);
    }

    private static string Fixture(string name) => File.ReadAllText(TestContext.FixturePath("activation", name));

    private static string Script(string name) => name switch
    {
        nameof(DetachedActivation.StartScript) => DetachedActivation.StartScript,
        nameof(DetachedActivation.FollowScript) => DetachedActivation.FollowScript,
        nameof(HostLock.TakeScript) => HostLock.TakeScript,
        _ => HostLock.ReleaseScript,
    };

    // A follow output around a log chunk, as the script prints it.
    private static string Follow(string state, string chunk, long offset, long size, bool latin1 = false)
    {
        var bytes = latin1 ? Encoding.Latin1.GetBytes(chunk) : Encoding.UTF8.GetBytes(chunk);
        return $"""

            @@run
            |run run-1
            |state {state}
            {(state == "done" ? "|exit 0" : "|launcher setsid")}

            @@log
            |offset {offset}
            |size {size}
            |length {bytes.Length}

            @@log-base64
            |{Convert.ToBase64String(bytes)}

            @@current-system
            |{Gen1}
            """;
    }

    // Records compare their lists by reference: compare the lines apart.
    private sealed class ProgressComparer : IEqualityComparer<ActivationProgress?>
    {
        public bool Equals(ActivationProgress? x, ActivationProgress? y) =>
            x is not null && y is not null && x.Lines.SequenceEqual(y.Lines) && x with { Lines = [] } == y with { Lines = [] };

        public int GetHashCode(ActivationProgress? obj) => 0;
    }
}
