namespace NixFleet.Shared.Execution;

/// <summary>
/// Runs commands on one host. The seam between NixFleet and OpenSSH: production uses
/// <see cref="SshConnection"/>; unit tests of callers may fake it.
/// </summary>
public interface IRemoteShell
{
    /// <summary>Runs an argument list on the host; each element arrives there as exactly one argument.</summary>
    /// <remarks>
    /// Cancelling stops the local ssh and the wait. Without a terminal ssh cannot signal the remote
    /// process: it goes on until it next writes output (and dies of SIGPIPE) or finishes.
    /// </remarks>
    /// <exception cref="SshException">SSH itself failed (exit code 255).</exception>
    Task<CommandResult> RunAsync(
        IReadOnlyList<string> argv,
        Func<OutputLine, ValueTask>? onLine = null,
        string? stdin = null,
        CancellationToken ct = default);

    /// <summary>Runs a fixed script with <c>sh -c</c>. Never build the script from user input; use argv for that.</summary>
    /// <exception cref="SshException">SSH itself failed (exit code 255).</exception>
    Task<CommandResult> RunScriptAsync(
        string script,
        Func<OutputLine, ValueTask>? onLine = null,
        string? stdin = null,
        CancellationToken ct = default);
}

/// <summary>Makes the <see cref="IRemoteShell"/> for a host; the one place Web asks for a connection.</summary>
public interface IRemoteShellFactory
{
    IRemoteShell Create(SshTarget target, SshSettings settings, Func<CancellationToken, ValueTask<string>> privateKey);
}

public sealed class SshConnectionFactory : IRemoteShellFactory
{
    public IRemoteShell Create(
        SshTarget target, SshSettings settings, Func<CancellationToken, ValueTask<string>> privateKey) =>
        new SshConnection(target, settings, privateKey);
}
