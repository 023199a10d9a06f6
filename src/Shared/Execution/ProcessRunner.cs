using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace NixFleet.Shared.Execution;

/// <summary>How to run one local process; every member is optional.</summary>
public sealed record ProcessOptions
{
    /// <summary>Text written to the process's stdin, which is then closed. When null, stdin is closed at once.</summary>
    public string? StandardInput { get; init; }

    /// <summary>
    /// Called for every line of stdout and stderr as it arrives. Calls are never concurrent and
    /// never happen after <see cref="ProcessRunner.RunAsync(IReadOnlyList{string}, ProcessOptions?, CancellationToken)"/> returns.
    /// An exception thrown here kills the process and is rethrown to the caller.
    /// </summary>
    public Func<OutputLine, ValueTask>? OnLine { get; init; }

    /// <summary>When it elapses the process tree is killed and <see cref="TimeoutException"/> is thrown.</summary>
    public TimeSpan? Timeout { get; init; }

    public string? WorkingDirectory { get; init; }

    /// <summary>Variables to set on top of this process's environment; a null value removes the variable.</summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }
}

/// <summary>Runs a local program from an argument list. There is no shell in between, so nothing is ever quoted here.</summary>
public static class ProcessRunner
{
    // After the process has exited, its pipes normally reach end-of-file at once. A process outside
    // its tree can hold them open (a daemon that forgot to close stdio; the master an ssh
    // multiplexing client passed its pipes to): don't wait for that longer than this.
    private static readonly TimeSpan DrainAfterExit = TimeSpan.FromSeconds(3);

    // After a kill nobody needs the rest of the output, and it may never end: an ssh multiplexing
    // client hands its pipes to the master, which keeps them until the remote command finishes.
    private static readonly TimeSpan DrainAfterKill = TimeSpan.FromMilliseconds(200);

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    public static Task<CommandResult> RunAsync(IReadOnlyList<string> argv, CancellationToken ct = default) =>
        RunAsync(argv, options: null, ct);

    /// <exception cref="OperationCanceledException">The caller cancelled; the process tree was killed.</exception>
    /// <exception cref="TimeoutException">The timeout elapsed; the process tree was killed.</exception>
    /// <exception cref="Win32Exception">The program could not be started (not found, not executable).</exception>
    public static async Task<CommandResult> RunAsync(
        IReadOnlyList<string> argv, ProcessOptions? options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(argv);
        if (argv.Count == 0 || string.IsNullOrEmpty(argv[0]))
        {
            throw new ArgumentException("The argument list must start with the program to run.", nameof(argv));
        }

        options ??= new ProcessOptions();
        ct.ThrowIfCancellationRequested();

        var startInfo = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            // stdin is always redirected: an inherited stdin would let the child (ssh in particular)
            // read from whatever this process was started with.
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardInputEncoding = Utf8,
            StandardOutputEncoding = Utf8,
            StandardErrorEncoding = Utf8,
        };
        for (var i = 1; i < argv.Count; i++)
        {
            startInfo.ArgumentList.Add(argv[i]);
        }

        if (options.WorkingDirectory is not null)
        {
            startInfo.WorkingDirectory = options.WorkingDirectory;
        }

        if (options.Environment is not null)
        {
            foreach (var (name, value) in options.Environment)
            {
                if (value is null)
                {
                    startInfo.Environment.Remove(name);
                }
                else
                {
                    startInfo.Environment[name] = value;
                }
            }
        }

        using var process = new Process { StartInfo = startInfo };
        process.Start();

        using var timeout = options.Timeout is { } t ? new CancellationTokenSource(t) : null;
        // Cancelled by the pumps when the line callback throws.
        using var callbackFailed = new CancellationTokenSource();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(
            ct, timeout?.Token ?? CancellationToken.None, callbackFailed.Token);

        var sink = new LineSink(options.OnLine, callbackFailed);
        var stdout = new OutputPump(process.StandardOutput, OutputStream.StdOut, sink);
        var stderr = new OutputPump(process.StandardError, OutputStream.StdErr, sink);
        var pumps = Task.WhenAll(stdout.RunAsync(), stderr.RunAsync());
        var stdin = WriteStandardInputAsync(process.StandardInput, options.StandardInput);

        var killed = false;
        try
        {
            await process.WaitForExitAsync(stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            killed = true;
            KillTree(process);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }

        var drain = killed ? DrainAfterKill : DrainAfterExit;
        await Task.WhenAny(pumps, Task.Delay(drain, CancellationToken.None)).ConfigureAwait(false);
        await Task.WhenAny(stdin, Task.Delay(drain, CancellationToken.None)).ConfigureAwait(false);
        await sink.CloseAsync().ConfigureAwait(false);

        sink.ThrowIfCallbackFailed();
        if (killed)
        {
            ct.ThrowIfCancellationRequested();
            throw new TimeoutException($"'{argv[0]}' did not finish within {options.Timeout} and was killed.");
        }

        return new CommandResult(process.ExitCode, stdout.Text, stderr.Text);
    }

    private static async Task WriteStandardInputAsync(StreamWriter stdin, string? text)
    {
        try
        {
            if (!string.IsNullOrEmpty(text))
            {
                await stdin.WriteAsync(text).ConfigureAwait(false);
                await stdin.FlushAsync().ConfigureAwait(false);
            }

            stdin.Close();
        }
        catch (IOException)
        {
            // The process exited (or closed stdin) without reading everything: its exit code says
            // what happened, a broken pipe here adds nothing.
        }
    }

    private static void KillTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    /// <summary>Serializes line callbacks of both streams and stops them once the run is over.</summary>
    private sealed class LineSink(Func<OutputLine, ValueTask>? onLine, CancellationTokenSource callbackFailed)
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private bool _closed;
        private Exception? _failure;

        public async ValueTask WriteAsync(OutputLine line)
        {
            if (onLine is null)
            {
                return;
            }

            await _gate.WaitAsync().ConfigureAwait(false);
            try
            {
                if (_closed || _failure is not null)
                {
                    return;
                }

                await onLine(line).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                _failure = e;
                await callbackFailed.CancelAsync().ConfigureAwait(false);
            }
            finally
            {
                _gate.Release();
            }
        }

        public async ValueTask CloseAsync()
        {
            await _gate.WaitAsync().ConfigureAwait(false);
            _closed = true;
            _gate.Release();
        }

        public void ThrowIfCallbackFailed()
        {
            if (_failure is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_failure);
            }
        }
    }

    /// <summary>Reads one stream to its end, keeping the exact text and cutting it into lines.</summary>
    private sealed class OutputPump(StreamReader reader, OutputStream stream, LineSink sink)
    {
        private readonly StringBuilder _all = new();
        private readonly StringBuilder _line = new();

        public string Text
        {
            get
            {
                lock (_all)
                {
                    return _all.ToString();
                }
            }
        }

        public async Task RunAsync()
        {
            var buffer = new char[8192];
            try
            {
                int read;
                while ((read = await reader.ReadAsync(buffer.AsMemory()).ConfigureAwait(false)) > 0)
                {
                    lock (_all)
                    {
                        _all.Append(buffer, 0, read);
                    }

                    for (var i = 0; i < read; i++)
                    {
                        if (buffer[i] == '\n')
                        {
                            await EmitAsync().ConfigureAwait(false);
                        }
                        else
                        {
                            _line.Append(buffer[i]);
                        }
                    }
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // The process was killed and its pipe torn down: what was read so far is kept.
            }

            if (_line.Length > 0)
            {
                await EmitAsync().ConfigureAwait(false);
            }
        }

        private ValueTask EmitAsync()
        {
            if (_line.Length > 0 && _line[^1] == '\r')
            {
                _line.Length--;
            }

            var text = _line.ToString();
            _line.Clear();
            return sink.WriteAsync(new OutputLine(stream, text));
        }
    }
}
