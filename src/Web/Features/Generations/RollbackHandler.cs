using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Generations;

/// <summary>
/// "rollback": what nixos-rebuild does, and no more. Set the profile to the chosen generation
/// (switch, boot), run that generation's bin/switch-to-configuration MODE detached on the host
/// (switch, boot, test), follow it, and report only what was read back from the host. A lost
/// connection turns the operation to "reconciling" until the host's real state can be read.
/// </summary>
public sealed class RollbackHandler(SshConnections connections, HostRefresher refresher, Auditor audit, ILogger<RollbackHandler> logger)
    : IOperationHandler
{
    public const string KindName = "rollback";
    public string Kind => KindName;

    /// <summary>How long a lost host is waited for before its state is declared unknown.</summary>
    public static TimeSpan ReconcileFor { get; set; } = TimeSpan.FromMinutes(5);

    public sealed record Parameters(string Profile, int? Generation, string Mode, string Reason, bool ReactivateOnFailure);

    /// <summary>What was true before, and how far the rollback got: a recovered run continues from here.</summary>
    public sealed record Checkpoint(
        string Phase, string Profile, bool IsSystem, string? ProfileOwner, int ToGeneration, string ToStorePath,
        int? FromGeneration, string? FromStorePath, string? RunningSystem, long LogOffset);

    public sealed record Outcome(
        string Profile, string Mode, int? FromGeneration, int ToGeneration, string? FromStorePath, string ToStorePath,
        string? CurrentSystem, string? BootDefaultStorePath, bool Restored);

    const string Checked = "checked", ProfileSet = "profile-set", Activating = "activating";

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var p = context.Parameters<Parameters>() ?? throw new OperationFailedException("the rollback has no parameters");
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var host = await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == context.Operation.HostId, ct)
            ?? throw new OperationFailedException("the host no longer exists");
        var log = context.Log;
        var lockOwner = context.Operation.Id.ToString("N");
        Outcome? outcome = null;
        string result = "failed";
        Checkpoint? cp = context.Checkpoint<Checkpoint>();
        try
        {
            var ssh = connections.For(host);
            var facts = await refresher.KnownOrFreshFactsAsync(host, log, ct);
            await HostCommands.TakeHostLockAsync(ssh, db, lockOwner, log, logger, ct);
            try
            {
                if (cp is null)
                {
                    cp = await CheckAsync(ssh, p, log, ct);
                    await context.SaveCheckpointAsync(cp, ct);
                }
                else
                {
                    log.Info($"continuing an interrupted rollback from step '{cp.Phase}'");
                }

                outcome = cp.IsSystem
                    ? await RollBackSystemAsync(context, ssh, host, facts, p, cp, ct)
                    : await RollBackUserProfileAsync(ssh, host, facts, p, cp, log, ct);
                result = "succeeded";
                return outcome;
            }
            finally
            {
                await HostCommands.ReleaseHostLockAsync(ssh, lockOwner, logger, ct);
            }
        }
        catch (OperationFailedException e)
        {
            result = $"failed: {e.Message}";
            throw;
        }
        catch (SshException e)
        {
            result = $"failed: {e.Message}";
            throw new OperationFailedException($"{host.Name}: {e.Message}");
        }
        finally
        {
            // The page shows the new current generation without another click.
            if (!ct.IsCancellationRequested) await refresher.RefreshAsync(host.Id, log, CancellationToken.None);
            await audit.RecordAsync(context.Operation.RequestedBy, "generation.rollback", HostService.HostTarget(host), new
            {
                operationId = context.Operation.Id,
                p.Reason,
                p.Profile,
                p.Mode,
                fromStorePath = cp?.FromStorePath,
                toStorePath = cp?.ToStorePath,
                fromGeneration = cp?.FromGeneration,
                toGeneration = cp?.ToGeneration,
                runningBefore = cp?.RunningSystem,
            }, result, CancellationToken.None);
        }
    }


    /// <summary>The target must still exist on the host (it may have been deleted since the page was loaded).</summary>
    static async Task<Checkpoint> CheckAsync(IRemoteShell ssh, Parameters p, OperationLog log, CancellationToken ct)
    {
        var report = await GenerationsService.ProbeAsync(ssh, ct);
        var (target, error) = GenerationValidation.CheckRollback(report.Profiles, p.Profile, p.Generation, p.Mode);
        if (target is null) throw new OperationFailedException($"{error} Nothing was changed.");
        var profile = target.Profile;
        var pointsAt = profile.BootDefault;
        log.Info($"{profile.Profile}: from generation {pointsAt?.Number.ToString() ?? "?"} ({pointsAt?.StorePath ?? "?"}) " +
                 $"to generation {target.To.Number} ({target.To.StorePath}), mode {target.Mode}");
        if (profile.IsSystem) log.Info($"running now: {report.CurrentSystem ?? "unknown"}");
        return new Checkpoint(Checked, profile.Profile, profile.IsSystem, profile.Owner, target.To.Number, target.To.StorePath,
            pointsAt?.Number, pointsAt?.StorePath, report.CurrentSystem, 0);
    }

    async Task<Outcome> RollBackUserProfileAsync(IRemoteShell ssh, FleetHost host, HostFacts facts, Parameters p, Checkpoint cp, OperationLog log, CancellationToken ct)
    {
        await RunNixAsync(ssh, host, facts, RollbackCommands.SwitchGeneration(cp.Profile, cp.ToGeneration), cp.ProfileOwner, log, ct);
        var after = GenerationValidation.FindProfile((await GenerationsService.ProbeAsync(ssh, ct)).Profiles, cp.Profile);
        var now = after?.BootDefault;
        if (now?.StorePath != cp.ToStorePath)
            throw new OperationFailedException($"{cp.Profile} points at {now?.StorePath ?? "nothing"} after the switch, not {cp.ToStorePath}");
        log.Info($"{cp.Profile} is now at generation {now.Number}");
        return new Outcome(cp.Profile, p.Mode, cp.FromGeneration, cp.ToGeneration, cp.FromStorePath, cp.ToStorePath, null, now.StorePath, false);
    }

    async Task<Outcome> RollBackSystemAsync(OperationContext context, IRemoteShell ssh, FleetHost host, HostFacts facts, Parameters p, Checkpoint cp, CancellationToken ct)
    {
        var log = context.Log;
        var runId = context.Operation.Id.ToString("N");
        if (cp.Phase == Checked && ActivationMode.SetsProfile(p.Mode))
        {
            await RunNixAsync(ssh, host, facts, RollbackCommands.SwitchGeneration(cp.Profile, cp.ToGeneration), null, log, ct);
            cp = cp with { Phase = ProfileSet };
            await context.SaveCheckpointAsync(cp, ct);
        }
        if (cp.Phase is Checked or ProfileSet)
        {
            await StartActivationAsync(ssh, cp.ToStorePath, p.Mode, runId, log, ct);
            cp = cp with { Phase = Activating };
            await context.SaveCheckpointAsync(cp, ct);
        }

        var (progress, offset) = await FollowAsync(context, host, runId, cp.LogOffset, ct);
        cp = cp with { LogOffset = offset };
        var problem = Verify(progress, p.Mode, cp.ToStorePath);
        if (problem is null)
        {
            log.Info($"activation succeeded; running {progress.CurrentSystem}, boot default {progress.SystemProfileLink}");
            return new Outcome(cp.Profile, p.Mode, cp.FromGeneration, cp.ToGeneration, cp.FromStorePath, cp.ToStorePath,
                progress.CurrentSystem, progress.SystemProfilePath, false);
        }

        log.Write(OperationLog.ErrStream, problem);
        if (!p.ReactivateOnFailure)
        {
            log.Info($"the host was left as it is now; to go back, roll back to generation {cp.FromGeneration} ({cp.FromStorePath})");
            throw new OperationFailedException(problem);
        }
        await RestoreAsync(context, ssh, host, facts, p, cp, ct);
        throw new OperationFailedException($"{problem}; the generation that ran before was re-activated");
    }

    /// <summary>Success only when the activation exited 0 and the host now runs and boots what the mode promised.</summary>
    static string? Verify(ActivationProgress progress, string mode, string target)
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

    async Task RestoreAsync(OperationContext context, IRemoteShell ssh, FleetHost host, HostFacts facts, Parameters p, Checkpoint cp, CancellationToken ct)
    {
        var log = context.Log;
        // Back to where the host was: the profile to what it pointed at, and what ran before running again.
        var restoreTarget = p.Mode == ActivationMode.Boot ? cp.FromStorePath : cp.RunningSystem;
        if (restoreTarget is null || !GenerationsParser.IsStorePath(restoreTarget))
        {
            log.Write(OperationLog.ErrStream, "cannot re-activate: what ran before is not known");
            return;
        }
        log.Info($"re-activating what ran before: {restoreTarget} ({p.Mode})");
        if (ActivationMode.SetsProfile(p.Mode) && cp.FromStorePath is { } from)
            await RunNixAsync(ssh, host, facts, RollbackCommands.SetProfile(cp.Profile, from), null, log, ct);
        var runId = context.Operation.Id.ToString("N") + "-restore";
        await StartActivationAsync(ssh, restoreTarget, p.Mode, runId, log, ct);
        var (progress, _) = await FollowAsync(context, host, runId, 0, ct);
        var problem = Verify(progress, p.Mode, restoreTarget);
        if (problem is null) log.Info($"re-activated {restoreTarget}");
        else log.Write(OperationLog.ErrStream, $"re-activation failed too: {problem}. Check the host.");
    }

    async Task StartActivationAsync(IRemoteShell ssh, string storePath, string mode, string runId, OperationLog log, CancellationToken ct)
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
    async Task<(ActivationProgress Progress, long Offset)> FollowAsync(OperationContext context, FleetHost host, string runId, long offset, CancellationToken ct)
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
                var saved = context.Checkpoint<Checkpoint>();
                if (saved is not null) await context.SaveCheckpointAsync(saved with { LogOffset = offset }, ct);
            }
            if (progress.Finished && !progress.MoreOutput) return (progress, offset);
            if (!progress.MoreOutput) await Task.Delay(TimeSpan.FromMilliseconds(700), ct);
        }
    }

    static async Task RunNixAsync(IRemoteShell ssh, FleetHost host, HostFacts facts, IReadOnlyList<string> command, string? profileOwner, OperationLog log, CancellationToken ct)
    {
        var r = await HostCommands.RunLoggedAsync(ssh, RollbackCommands.ForHost(facts, host.User, command, profileOwner), log, ct);
        if (r.ExitCode != 0) throw new OperationFailedException($"{command[0]} exited {r.ExitCode}: {r.StdErr.Trim()}");
    }
}
