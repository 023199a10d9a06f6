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
/// <remarks>
/// Also registered as "activate", which an upgrade uses to activate the generation it built: the
/// same steps, named for what they do there.
/// </remarks>
public sealed class RollbackHandler(SshConnections connections, HostRefresher refresher, Auditor audit, SystemActivation activation, ILogger<RollbackHandler> logger, string kind = RollbackHandler.KindName)
    : IOperationHandler
{
    public const string KindName = "rollback";
    public const string ActivateKindName = "activate";
    public string Kind => kind;

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
            await audit.RecordAsync(context.Operation.RequestedBy, kind == ActivateKindName ? "generation.activate" : "generation.rollback", HostService.HostTarget(host), new
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
            await SystemActivation.StartAsync(ssh, cp.ToStorePath, p.Mode, runId, log, ct);
            cp = cp with { Phase = Activating };
            await context.SaveCheckpointAsync(cp, ct);
        }

        var (progress, offset) = await activation.FollowAsync(context, host, runId, cp.LogOffset, SaveOffset(context), ct);
        cp = cp with { LogOffset = offset };
        var problem = SystemActivation.Verify(progress, p.Mode, cp.ToStorePath);
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
        await SystemActivation.StartAsync(ssh, restoreTarget, p.Mode, runId, log, ct);
        var (progress, _) = await activation.FollowAsync(context, host, runId, 0, _ => Task.CompletedTask, ct);
        var problem = SystemActivation.Verify(progress, p.Mode, restoreTarget);
        if (problem is null) log.Info($"re-activated {restoreTarget}");
        else log.Write(OperationLog.ErrStream, $"re-activation failed too: {problem}. Check the host.");
    }

    /// <summary>Keeps how much of the activation's log was read, so a recovered run does not repeat it.</summary>
    static Func<long, Task> SaveOffset(OperationContext context) => async offset =>
    {
        if (context.Checkpoint<Checkpoint>() is { } saved) await context.SaveCheckpointAsync(saved with { LogOffset = offset }, CancellationToken.None);
    };

    static async Task RunNixAsync(IRemoteShell ssh, FleetHost host, HostFacts facts, IReadOnlyList<string> command, string? profileOwner, OperationLog log, CancellationToken ct)
    {
        var r = await HostCommands.RunLoggedAsync(ssh, RollbackCommands.ForHost(facts, host.User, command, profileOwner), log, ct);
        if (r.ExitCode != 0) throw new OperationFailedException($"{command[0]} exited {r.ExitCode}: {r.StdErr.Trim()}");
    }
}
