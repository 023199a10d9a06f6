using System.ComponentModel;
using System.Diagnostics;
using NixFleet.Shared.Execution;

namespace NixFleet.Shared.Tests.Execution;

public class ProcessRunnerTests
{
    [Fact]
    public async Task RunAsync_PassesArgumentsVerbatim_WithoutAShell()
    {
        string[] args = ["$(id)", "a b", "*", "'", ""];

        var result = await ProcessRunner.RunAsync(["printf", "%s\\0", .. args], TestContext.Timeout);

        Assert.Equal(string.Concat(args.Select(a => a + "\0")), result.StdOut);
    }

    [Fact]
    public async Task RunAsync_ReturnsExitCodeAndBothStreams()
    {
        var result = await ProcessRunner.RunAsync(
            ["sh", "-c", "echo out; echo err >&2; exit 3"], TestContext.Timeout);

        Assert.Equal(new CommandResult(3, "out\n", "err\n"), result);
        Assert.False(result.Succeeded);
    }

    [Fact]
    public async Task RunAsync_WithStandardInput_FeedsItAndClosesIt()
    {
        var text = "first line\nsecond ✓ line\n" + new string('x', 200_000);

        var result = await ProcessRunner.RunAsync(
            ["cat"], new ProcessOptions { StandardInput = text }, TestContext.Timeout);

        Assert.Equal(text, result.StdOut);
    }

    [Fact]
    public async Task RunAsync_WithoutStandardInput_GivesTheProcessEndOfFile()
    {
        var result = await ProcessRunner.RunAsync(["cat"], TestContext.Timeout);

        Assert.Equal(new CommandResult(0, "", ""), result);
    }

    [Fact]
    public async Task RunAsync_StreamsLinesWhileTheProcessRuns()
    {
        var clock = Stopwatch.StartNew();
        var lines = new List<(OutputLine Line, TimeSpan At)>();

        var result = await ProcessRunner.RunAsync(
            ["sh", "-c", "echo first; echo oops >&2; sleep 1; printf 'last without newline'"],
            new ProcessOptions
            {
                OnLine = line =>
                {
                    lines.Add((line, clock.Elapsed));
                    return ValueTask.CompletedTask;
                },
            },
            TestContext.Timeout);

        // Each stream keeps its order; how the two interleave is up to the scheduler.
        Assert.Equal(
            ["first", "last without newline"],
            lines.Where(l => l.Line.Stream == OutputStream.StdOut).Select(l => l.Line.Text));
        Assert.Equal(["oops"], lines.Where(l => l.Line.Stream == OutputStream.StdErr).Select(l => l.Line.Text));
        Assert.True(lines.Single(l => l.Line.Text == "first").At < TimeSpan.FromMilliseconds(800),
            "The first line should arrive before the process finishes sleeping.");
        Assert.Equal("first\nlast without newline", result.StdOut);
    }

    [Fact]
    public async Task RunAsync_CrLfLines_AreCutWithoutTheCarriageReturn_WhileStdOutStaysExact()
    {
        var lines = new List<string>();

        var result = await ProcessRunner.RunAsync(
            ["printf", "a\\r\\nb\\r\\n"],
            new ProcessOptions { OnLine = l => { lines.Add(l.Text); return ValueTask.CompletedTask; } },
            TestContext.Timeout);

        Assert.Equal(["a", "b"], lines);
        Assert.Equal("a\r\nb\r\n", result.StdOut);
    }

    [Fact]
    public async Task RunAsync_Cancelled_KillsTheWholeProcessTree()
    {
        using var cts = new CancellationTokenSource();
        var childPid = new TaskCompletionSource<int>();

        var run = ProcessRunner.RunAsync(
            ["sh", "-c", "sleep 60 & echo $!; wait"],
            new ProcessOptions
            {
                OnLine = line =>
                {
                    childPid.TrySetResult(int.Parse(line.Text));
                    return ValueTask.CompletedTask;
                },
            },
            cts.Token);
        var pid = await childPid.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var clock = Stopwatch.StartNew();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
        Assert.False(IsRunning(pid), "The grandchild 'sleep' survived the cancellation.");
    }

    [Fact]
    public async Task RunAsync_Timeout_KillsAndThrowsTimeoutException()
    {
        var clock = Stopwatch.StartNew();

        await Assert.ThrowsAsync<TimeoutException>(() => ProcessRunner.RunAsync(
            ["sleep", "60"], new ProcessOptions { Timeout = TimeSpan.FromMilliseconds(300) }, TestContext.Timeout));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task RunAsync_CallbackThrows_KillsTheProcessAndRethrows()
    {
        var clock = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ProcessRunner.RunAsync(
            ["sh", "-c", "echo one; sleep 60"],
            new ProcessOptions { OnLine = _ => throw new InvalidOperationException("storage is down") },
            TestContext.Timeout));

        Assert.Equal("storage is down", error.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task RunAsync_MissingProgram_Throws() =>
        await Assert.ThrowsAsync<Win32Exception>(() => ProcessRunner.RunAsync(
            ["/nonexistent/program-" + Guid.NewGuid().ToString("N")], TestContext.Timeout));

    [Fact]
    public async Task RunAsync_Environment_SetsAndRemovesVariables()
    {
        var result = await ProcessRunner.RunAsync(
            ["sh", "-c", "echo \"${NIXFLEET_A-unset} ${HOME-unset}\""],
            new ProcessOptions
            {
                Environment = new Dictionary<string, string?> { ["NIXFLEET_A"] = "set", ["HOME"] = null },
            },
            TestContext.Timeout);

        Assert.Equal("set unset\n", result.StdOut);
    }

    [Fact]
    public async Task RunAsync_EmptyArgv_IsRejected() =>
        await Assert.ThrowsAsync<ArgumentException>(() => ProcessRunner.RunAsync([], TestContext.Timeout));

    private static bool IsRunning(int pid)
    {
        // A killed child may linger as a zombie until reaped; that is not running.
        var stat = $"/proc/{pid}/stat";
        if (!File.Exists(stat))
        {
            return false;
        }

        try
        {
            var text = File.ReadAllText(stat);
            return text[(text.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }
}
