using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Generations;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Upgrades;

/// <summary>
/// "upgrade-host": one host's part of an approved upgrade. Records what the host runs, points the
/// channel at the request's URL and updates it (restoring the channel list exactly if the download
/// fails), then on NixOS builds the new system and activates it detached (what
/// <c>nixos-rebuild switch --upgrade</c> does, in steps that survive a dropped connection), on
/// Nix-only hosts upgrades the profile with <c>nix-env -u</c> as its user; then the health check.
/// Each step is checkpointed, so a recovered run goes on from where it was and never redoes an
/// activation. See docs/operations.md, "Upgrades".
/// </summary>
public sealed class UpgradeHostHandler(SshConnections connections, HostRefresher refresher, SystemActivation activation, Auditor audit, ILogger<UpgradeHostHandler> logger)
    : IOperationHandler
{
    public const string KindName = "upgrade-host";
    public string Kind => KindName;

    public sealed record Parameters(Guid RequestId);

    public sealed record Checkpoint(
        string Phase, bool IsNixOS, string ChannelUser, string Profile, string? ProfileOwner, int? FromGeneration, string? FromStorePath,
        string? ToStorePath, int? ToGeneration, long LogOffset);

    const string Recorded = "recorded", ChannelUpdated = "channel-updated", Built = "built", ProfileSet = "profile-set", Activating = "activating", Upgraded = "upgraded";

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var p = context.Parameters<Parameters>() ?? throw new OperationFailedException("no parameters");
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var request = await db.Upgrades.AsNoTracking().FirstOrDefaultAsync(r => r.Id == p.RequestId, ct)
            ?? throw new OperationFailedException("the upgrade request no longer exists");
        var host = await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == context.Operation.HostId, ct)
            ?? throw new OperationFailedException("the host no longer exists");
        var log = context.Log;
        var ssh = connections.For(host);
        var lockOwner = context.Operation.Id.ToString("N");
        var cp = context.Checkpoint<Checkpoint>();
        string outcome = "failed";
        try
        {
            await SetRowAsync(db, request.Id, host.Id, s => s.SetProperty(h => h.Status, UpgradeHostStatus.Running).SetProperty(h => h.OperationId, context.Operation.Id), ct);
            var facts = await refresher.KnownOrFreshFactsAsync(host, log, ct);
            await HostCommands.TakeHostLockAsync(ssh, db, lockOwner, log, logger, ct);
            try
            {
                if (cp is null)
                {
                    cp = await RecordBeforeAsync(ssh, facts, host, log, ct);
                    await context.SaveCheckpointAsync(cp, ct);
                    await SetRowAsync(db, request.Id, host.Id, s => s.SetProperty(h => h.Profile, cp.Profile)
                        .SetProperty(h => h.FromGeneration, cp.FromGeneration).SetProperty(h => h.FromStorePath, cp.FromStorePath), ct);
                }
                else log.Info($"continuing an interrupted upgrade from step '{cp.Phase}'");

                if (cp.Phase == Recorded)
                {
                    await UpdateChannelAsync(ssh, facts, host, request, cp.ChannelUser, log, ct);
                    cp = cp with { Phase = ChannelUpdated };
                    await context.SaveCheckpointAsync(cp, ct);
                }

                cp = cp.IsNixOS
                    ? await UpgradeSystemAsync(context, ssh, facts, host, request, cp, ct)
                    : await UpgradeProfileAsync(context, ssh, facts, host, cp, ct);
                await SetRowAsync(db, request.Id, host.Id, s => s.SetProperty(h => h.ToGeneration, cp.ToGeneration).SetProperty(h => h.ToStorePath, cp.ToStorePath), ct);

                await HealthCheckAsync(ssh, facts, host, request, cp, log, ct);
                outcome = "succeeded";
                await SetRowAsync(db, request.Id, host.Id, s => s.SetProperty(h => h.Status, UpgradeHostStatus.Succeeded).SetProperty(h => h.Error, (string?)null), ct);
                return new { cp.Profile, cp.FromGeneration, cp.ToGeneration, cp.FromStorePath, cp.ToStorePath };
            }
            finally
            {
                await HostCommands.ReleaseHostLockAsync(ssh, lockOwner, logger, CancellationToken.None);
            }
        }
        catch (SshException e)
        {
            await FailRowAsync(db, request.Id, host.Id, $"{host.Name}: {e.Message}");
            throw new OperationFailedException($"{host.Name}: {e.Message}", cp);
        }
        catch (OperationFailedException e)
        {
            await FailRowAsync(db, request.Id, host.Id, e.Message);
            throw;
        }
        finally
        {
            if (!ct.IsCancellationRequested) await refresher.RefreshAsync(host.Id, log, CancellationToken.None);
            await audit.RecordAsync(context.Operation.RequestedBy, "upgrade.host", HostService.HostTarget(host), new
            {
                upgradeId = request.Id, operationId = context.Operation.Id, channel = request.ChannelName, url = request.ChannelUrl, request.Action,
                cp?.FromGeneration, cp?.ToGeneration, cp?.FromStorePath, cp?.ToStorePath,
            }, outcome, CancellationToken.None);
        }
    }

    /// <summary>What the host runs before anything changes: the generation to return to.</summary>
    static async Task<Checkpoint> RecordBeforeAsync(IRemoteShell ssh, HostFacts facts, FleetHost host, OperationLog log, CancellationToken ct)
    {
        var report = await GenerationsService.ProbeAsync(ssh, ct);
        var channelUser = ChannelService.ChannelUsers(facts)[0];
        var profilePath = facts.IsNixOS ? NixLocator.SystemProfile : facts.CurrentGenerationProfile
            ?? throw new OperationFailedException("the host has no profile to upgrade; nothing was changed");
        var profile = GenerationValidation.FindProfile(report.Profiles, profilePath)
            ?? throw new OperationFailedException($"{profilePath} is not listed on the host; nothing was changed");
        var before = profile.BootDefault;
        log.Info($"before: {profile.Profile} generation {before?.Number.ToString() ?? "?"} ({before?.StorePath ?? "?"}){(facts.IsNixOS ? $", running {report.CurrentSystem}" : "")}");
        return new Checkpoint(Recorded, facts.IsNixOS, channelUser, profile.Profile, profile.Owner, before?.Number, before?.StorePath,
            null, null, 0);
    }

    /// <summary>
    /// <c>nix-channel --add URL NAME</c> (when it points elsewhere) and <c>--update NAME</c>, with the
    /// channel list backed up first and put back exactly if either fails: a failed download changes nothing.
    /// </summary>
    static async Task UpdateChannelAsync(IRemoteShell ssh, HostFacts facts, FleetHost host, UpgradeRequest request, string user, OperationLog log, CancellationToken ct)
    {
        await MustAsync(ssh, ChannelCommands.AsUser(host.User, user, ChannelCommands.BackupScript), log, "backing up the channel list", ct);
        var list = await ssh.RunAsync(ChannelCommands.ForUser(facts, host.User, user, ChannelCommands.List()), null, null, ct);
        var current = list.StdOut.Split('\n').Select(l => l.Trim().Split(' ', 2)).FirstOrDefault(f => f.Length == 2 && f[0] == request.ChannelName);
        try
        {
            if (current?[1] != request.ChannelUrl)
                await MustAsync(ssh, ChannelCommands.ForUser(facts, host.User, user, ChannelCommands.Add(request.ChannelUrl, request.ChannelName)), log, "nix-channel --add", ct);
            await MustAsync(ssh, ChannelCommands.ForUser(facts, host.User, user, ChannelCommands.Update(request.ChannelName, bypassCache: true)), log, "nix-channel --update", ct);
        }
        catch (OperationFailedException)
        {
            log.Info("putting the channel list back as it was");
            await MustAsync(ssh, ChannelCommands.AsUser(host.User, user, ChannelCommands.RestoreScript), log, "restoring the channel list", ct);
            throw;
        }
        await ssh.RunAsync(ChannelCommands.AsUser(host.User, user, ChannelCommands.DropBackupScript), null, null, ct);
    }

    /// <summary>NixOS: build the system from the updated channel, set the system profile, activate detached.</summary>
    async Task<Checkpoint> UpgradeSystemAsync(OperationContext context, IRemoteShell ssh, HostFacts facts, FleetHost host, UpgradeRequest request, Checkpoint cp, CancellationToken ct)
    {
        var log = context.Log;
        if (cp.Phase == ChannelUpdated)
        {
            // What nixos-rebuild builds: <nixpkgs/nixos> -A system, with nixpkgs the channel just updated.
            var build = await MustAsync(ssh, NixLocator.Command(facts, host.User, "nix-build", "<nixpkgs/nixos>", "-A", "system", "--no-out-link",
                "-I", $"nixpkgs=/nix/var/nix/profiles/per-user/root/channels/{request.ChannelName}"), log, "building the new system", ct);
            var built = build.StdOut.Split('\n').Select(l => l.Trim()).LastOrDefault(GenerationsParser.IsStorePath)
                ?? throw new OperationFailedException("nix-build printed no store path; nothing was activated");
            cp = cp with { Phase = Built, ToStorePath = built };
            await context.SaveCheckpointAsync(cp, ct);
        }
        if (cp.Phase == Built)
        {
            await MustAsync(ssh, RollbackCommands.ForHost(facts, host.User, RollbackCommands.SetProfile(NixLocator.SystemProfile, cp.ToStorePath!)), log, "setting the system profile", ct);
            var profile = GenerationValidation.FindProfile((await GenerationsService.ProbeAsync(ssh, ct)).Profiles, NixLocator.SystemProfile);
            cp = cp with { Phase = ProfileSet, ToGeneration = profile?.BootDefault?.Number };
            await context.SaveCheckpointAsync(cp, ct);
        }
        var runId = context.Operation.Id.ToString("N");
        if (cp.Phase == ProfileSet)
        {
            await SystemActivation.StartAsync(ssh, cp.ToStorePath!, request.Action, runId, log, ct);
            cp = cp with { Phase = Activating };
            await context.SaveCheckpointAsync(cp, ct);
        }
        var (progress, offset) = await activation.FollowAsync(context, host, runId, cp.LogOffset, async o =>
        {
            if (context.Checkpoint<Checkpoint>() is { } saved) await context.SaveCheckpointAsync(saved with { LogOffset = o }, CancellationToken.None);
        }, ct);
        cp = cp with { LogOffset = offset };
        if (SystemActivation.Verify(progress, request.Action, cp.ToStorePath!) is { } problem)
            throw new OperationFailedException(problem, cp);
        log.Info($"activated ({request.Action}): running {progress.CurrentSystem}, boot default {progress.SystemProfileLink}");
        return cp with { Phase = Upgraded };
    }

    /// <summary>Nix only: <c>nix-env -p PROFILE -u</c> as the profile's user, from the updated channel.</summary>
    static async Task<Checkpoint> UpgradeProfileAsync(OperationContext context, IRemoteShell ssh, HostFacts facts, FleetHost host, Checkpoint cp, CancellationToken ct)
    {
        if (cp.Phase == ChannelUpdated)
        {
            await MustAsync(ssh, RollbackCommands.ForHost(facts, host.User, ["nix-env", "-p", cp.Profile, "--upgrade"], cp.ProfileOwner), context.Log, "nix-env --upgrade", ct);
            var profile = GenerationValidation.FindProfile((await GenerationsService.ProbeAsync(ssh, ct)).Profiles, cp.Profile);
            cp = cp with { Phase = Upgraded, ToGeneration = profile?.BootDefault?.Number, ToStorePath = profile?.BootDefault?.StorePath };
            await context.SaveCheckpointAsync(cp, ct);
            context.Log.Info($"{cp.Profile} is at generation {cp.ToGeneration} ({cp.ToStorePath})");
        }
        return cp;
    }

    /// <summary>The host answers, runs (or boots) what the upgrade made, and the request's command exits 0.</summary>
    static async Task HealthCheckAsync(IRemoteShell ssh, HostFacts facts, FleetHost host, UpgradeRequest request, Checkpoint cp, OperationLog log, CancellationToken ct)
    {
        log.Info("health check");
        await MustAsync(ssh, ["true"], log, "reaching the host", ct);
        var report = await GenerationsService.ProbeAsync(ssh, ct);
        var profile = GenerationValidation.FindProfile(report.Profiles, cp.Profile);
        if (profile?.BootDefault?.StorePath != cp.ToStorePath)
            throw new OperationFailedException($"health check: {cp.Profile} points at {profile?.BootDefault?.StorePath ?? "nothing"}, not the upgraded {cp.ToStorePath}", cp);
        if (cp.IsNixOS && request.Action == ActivationMode.Switch && report.CurrentSystem != cp.ToStorePath)
            throw new OperationFailedException($"health check: the host runs {report.CurrentSystem ?? "nothing"}, not {cp.ToStorePath}", cp);
        if (request.HealthCommand is { } command)
        {
            var r = await HostCommands.RunLoggedAsync(ssh, ["sh", "-c", command], log, ct);
            if (r.ExitCode != 0)
                throw new OperationFailedException($"health check: `{command}` exited {r.ExitCode}: {string.Join(" / ", r.StdErr.Trim().Split('\n').TakeLast(3))}", cp);
        }
        log.Info("healthy");
    }

    static async Task<CommandResult> MustAsync(IRemoteShell ssh, IReadOnlyList<string> argv, OperationLog log, string what, CancellationToken ct)
    {
        var r = await HostCommands.RunLoggedAsync(ssh, argv, log, ct);
        if (r.ExitCode != 0)
            throw new OperationFailedException($"{what} failed (exit {r.ExitCode}): {ChannelsParser.ErrorMessage(r.StdErr) ?? string.Join(" / ", r.StdErr.Trim().Split('\n').Where(l => l.Length > 0).TakeLast(3))}");
        return r;
    }

    static Task SetRowAsync(NixFleetDb db, Guid requestId, Guid hostId,
        Action<Microsoft.EntityFrameworkCore.Query.UpdateSettersBuilder<UpgradeHost>> set, CancellationToken ct) =>
        db.UpgradeHosts.Where(h => h.RequestId == requestId && h.HostId == hostId).ExecuteUpdateAsync(set, ct);

    static Task FailRowAsync(NixFleetDb db, Guid requestId, Guid hostId, string error) =>
        db.UpgradeHosts.Where(h => h.RequestId == requestId && h.HostId == hostId)
            .ExecuteUpdateAsync(s => s.SetProperty(h => h.Status, UpgradeHostStatus.Failed).SetProperty(h => h.Error, error), CancellationToken.None);
}
