using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Generations;

/// <summary>
/// Runs a system generation's <c>bin/switch-to-configuration MODE</c> detached on the host and
/// reads its outcome back, through dropped connections ("reconciling"). Used by rollbacks and by
/// upgrades; see docs/operations.md.
/// </summary>
public sealed class SystemActivation(SshConnections connections)
{
    /// <summary>How long a lost host is waited for before its state is declared unknown.</summary>
    public static TimeSpan ReconcileFor { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Success only when the activation exited 0 and the host now runs and boots what the mode promised.</summary>
    public static string? Verify(ActivationProgress progress, string mode, string target)
    {
        if (progress.State == ActivationState.Unknown)
            return "the host knows no such activation: it never started (or its records were removed)";
        if (progress.State == ActivationState.Lost)
            return "the activation stopped without an exit status (killed, or the host went down)";
        if (progress.ExitStatus != 0)
            return $"switch-to-configuration {mode} exited {progress.ExitStatus}";
        if (ActivationMode.Activates(mode) && progress.CurrentSystem != target)
            return $"the host runs {progress.CurrentSystem ?? "nothing"} after activation, not {target}";
        if (ActivationMode.SetsProfile(mode) && progress.SystemProfilePath != target)
            return $"the system profile points at {progress.SystemProfilePath ?? "nothing"} after activation, not {target}";
        return null;
    }

    public static async Task StartAsync(IRemoteShell ssh, string storePath, string mode, string runId, OperationLog log, CancellationToken ct)
    {
        log.Info($"starting {storePath}/bin/switch-to-configuration {mode}, detached from this connection");
        var r = await ssh.RunAsync(DetachedActivation.StartCommand(storePath, mode, runId), null, null, ct);
        var start = DetachedActivation.ParseStart(r.StdOut);
        if (r.ExitCode != 0 || start is null)
            throw new OperationFailedException($"could not start the activation (exit {r.ExitCode}): {r.StdErr.Trim()}");
        // The run id is the operation's: a retried start after an interruption never activates twice.
        if (start.AlreadyStarted) log.Info("this activation was already started by the interrupted attempt: following it, not starting it again");
        log.Info(start.Unit is { } unit ? $"running as systemd unit {unit}" : $"running as process {start.Pid}");
    }

    /// <summary>
    /// Polls the detached activation, streaming its output, until it has ended. When the connection
    /// drops the operation is "reconciling": it reconnects and reads the host's real state.
    /// </summary>
    public async Task<(ActivationProgress Progress, long Offset)> FollowAsync(OperationContext context, FleetHost host, string runId, long offset, Func<long, Task> saveOffset, CancellationToken ct)
    {
        var log = context.Log;
        DateTimeOffset? lostSince = null;
        while (true)
        {
            ActivationProgress? progress;
            try
            {
                var r = await connections.For(host).RunAsync(DetachedActivation.FollowCommand(runId, offset), null, null, ct);
                progress = r.ExitCode == 0 ? DetachedActivation.ParseFollow(r.StdOut) : null;
                if (progress is null) throw new OperationFailedException($"reading the activation failed (exit {r.ExitCode}): {r.StdErr.Trim()}");
            }
            catch (SshException e) when (e.Failure is SshFailure.Unreachable or SshFailure.Other)
            {
                if (lostSince is null)
                {
                    lostSince = DateTimeOffset.UtcNow;
                    await context.SetStatusAsync(OperationStatus.Reconciling, ct);
                    log.Write(OperationLog.ErrStream, $"connection to the host lost ({e.Message}); the activation goes on there. Reconnecting to read its real outcome.");
                }
                if (DateTimeOffset.UtcNow - lostSince > ReconcileFor)
                    throw new OperationFailedException($"the host could not be reached for {ReconcileFor.TotalMinutes:0} minutes to read back the activation: its state is unknown. Check the host, then refresh it.");
                await Task.Delay(TimeSpan.FromSeconds(2), ct);
                continue;
            }
            if (lostSince is not null)
            {
                lostSince = null;
                await context.SetStatusAsync(OperationStatus.Running, ct);
                log.Info("reconnected; reading the activation's outcome from the host");
            }
            foreach (var line in progress.Lines) log.Write(OperationLog.OutStream, line);
            if (progress.NextOffset != offset)
            {
                offset = progress.NextOffset;
                await saveOffset(offset);
            }
            if (progress.Finished && !progress.MoreOutput) return (progress, offset);
            if (!progress.MoreOutput) await Task.Delay(TimeSpan.FromMilliseconds(700), ct);
        }
    }
}
