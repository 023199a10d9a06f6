using HostLockFile = NixFleet.Shared.Nix.HostLock;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;

namespace NixFleet.Web.Features.Operations;

/// <summary>What every changing operation does on its host: log each command it runs, and hold the host's own lock.</summary>
public static class HostCommands
{
    /// <summary>Runs a command, writing "$ command" and then each output line to the operation's log.</summary>
    public static async Task<CommandResult> RunLoggedAsync(IRemoteShell ssh, IReadOnlyList<string> argv, OperationLog log, CancellationToken ct)
    {
        log.Info("$ " + ShellQuote.Join(argv));
        return await ssh.RunAsync(argv, line =>
        {
            log.Write(line.Stream == OutputStream.StdErr ? OperationLog.ErrStream : OperationLog.OutStream, line.Text);
            return ValueTask.CompletedTask;
        }, null, ct);
    }

    /// <summary>
    /// Takes the lock on the host (<see cref="HostLockFile.Path"/>) for this operation, next to the
    /// one in the database: it also keeps out other NixFleet installations. A lock left by one of our
    /// own operations that has ended (its node died before releasing it) is removed.
    /// </summary>
    public static async Task TakeHostLockAsync(IRemoteShell ssh, NixFleetDb db, string owner, OperationLog log, ILogger logger, CancellationToken ct)
    {
        var r = await ssh.RunAsync(HostLockFile.TakeCommand(owner), null, null, ct);
        var state = HostLockFile.Parse(r.StdOut);
        if (state.State == HostLockState.Busy && Guid.TryParseExact(state.Owner, "N", out var holder) &&
            await db.Operations.AnyAsync(o => o.Id == holder && (o.Status == OperationStatus.Succeeded || o.Status == OperationStatus.Failed || o.Status == OperationStatus.Cancelled), ct))
        {
            log.Info($"removing the host lock left by finished operation {holder}");
            await ssh.RunAsync(HostLockFile.ReleaseCommand(state.Owner!), null, null, ct);
            r = await ssh.RunAsync(HostLockFile.TakeCommand(owner), null, null, ct);
            state = HostLockFile.Parse(r.StdOut);
        }
        switch (state.State)
        {
            case HostLockState.Taken or HostLockState.AlreadyHeld:
                return;
            case HostLockState.Busy:
                throw new OperationFailedException($"the host's lock ({HostLockFile.Path}) is held by {state.Owner} since {state.Since:u}: another NixFleet operation or tool is changing it. Nothing was changed.");
            default:
                logger.LogWarning("Host lock not taken: {Err}", r.StdErr);
                throw new OperationFailedException($"could not take the host's lock {HostLockFile.Path}: {r.StdErr.Trim()}");
        }
    }

    /// <summary>Releases the host's lock; a failure is logged, not thrown (the next take sees a finished owner).</summary>
    public static async Task ReleaseHostLockAsync(IRemoteShell ssh, string owner, ILogger logger, CancellationToken ct)
    {
        try
        {
            await ssh.RunAsync(HostLockFile.ReleaseCommand(owner), null, null, ct);
        }
        catch (Exception e) when (e is SshException or OperationCanceledException)
        {
            logger.LogWarning("Could not release the host lock for {Owner}: {Error}", owner, e.Message);
        }
    }
}
