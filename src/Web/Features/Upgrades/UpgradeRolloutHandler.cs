using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Generations;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Upgrades;

/// <summary>
/// "upgrade-rollout": an approved upgrade, wave by wave: the canaries, then each batch, with the
/// request's parallelism and pause. Each host's part is an "upgrade-host" operation (its own host
/// lock, output, audit). The first failure stops the rollout: no later wave starts; with automatic
/// rollback on, every host that failed after changing is rolled back to the generation it ran
/// before. Pause and abort are read between hosts. A recovered rollout reuses the parts it made,
/// so no host is upgraded twice.
/// </summary>
public sealed class UpgradeRolloutHandler(Auditor audit, Webhooks webhooks, ILogger<UpgradeRolloutHandler> logger) : IOperationHandler
{
    public const string KindName = "upgrade-rollout";
    public string Kind => KindName;

    public sealed record Parameters(Guid RequestId);

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var p = context.Parameters<Parameters>() ?? throw new OperationFailedException("no parameters");
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var request = await db.Upgrades.AsNoTracking().FirstOrDefaultAsync(r => r.Id == p.RequestId, ct)
            ?? throw new OperationFailedException("the upgrade request no longer exists");
        var log = context.Log;
        // Runs only what was approved: the content must still hash to what the approvals were for.
        if (request.ApprovedHash is null || UpgradeService.HashOf(request) != request.ApprovedHash || request.Hash != request.ApprovedHash)
        {
            await FinishAsync(db, request, UpgradeStatus.Failed, "the request changed after it was approved: nothing was run", context);
            throw new OperationFailedException("the request is not what was approved (its content changed): nothing was run");
        }
        if (request.NotAfter is { } notAfter && DateTimeOffset.UtcNow > notAfter &&
            !await db.UpgradeHosts.AnyAsync(h => h.RequestId == request.Id && h.Status != UpgradeHostStatus.Pending, ct))
        {
            // Started too late (NixFleet was down, or the queue was long): nothing ran, so it goes back to waiting.
            await db.Upgrades.Where(r => r.Id == request.Id && r.Status == UpgradeStatus.Running)
                .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, UpgradeStatus.Pending).SetProperty(r => r.OperationId, (Guid?)null)
                    .SetProperty(r => r.StartedAt, (DateTimeOffset?)null)
                    .SetProperty(r => r.DecisionReason, $"its window ended at {notAfter:u} before the rollout could start; it waits for a decision"), ct);
            await audit.RecordAsync("nixfleet", "upgrade.window-missed", UpgradeService.Target(request), new { notAfter, operationId = context.Operation.Id }, "pending", ct);
            throw new OperationFailedException($"the request's window ended at {notAfter:u} before the rollout could start: nothing ran; it waits for a decision");
        }
        if (!context.IsRecovery) await webhooks.SendAsync("started", request, null, null, ct);

        var rows = await db.UpgradeHosts.AsNoTracking().Where(h => h.RequestId == request.Id).ToListAsync(ct);
        var hosts = await db.Hosts.AsNoTracking().Where(h => request.HostIds.Contains(h.Id)).ToDictionaryAsync(h => h.Id, ct);
        var children = new ChildOperations(context);
        await children.LoadAsync(ct);
        var waves = rows.GroupBy(r => r.Wave).OrderBy(g => g.Key).ToList();
        log.Info($"upgrading {rows.Count} host(s) to {request.ChannelName} ({request.ChannelUrl}), {request.Action}: " +
                 $"{rows.Count(r => r.Wave == 0)} canary host(s), then {waves.Count(w => w.Key > 0)} batch(es) of up to {request.BatchSize}, {request.Parallelism} at a time");

        string? stopped = null;
        var failed = new ConcurrentBag<UpgradeHost>();
        foreach (var wave in waves)
        {
            if (wave.Key > 1 && request.PauseSeconds > 0 && wave.All(r => r.Status == UpgradeHostStatus.Pending))
            {
                log.Info($"pausing {request.PauseSeconds} s before batch {wave.Key}");
                if ((stopped = await WaitAsync(db, request.Id, TimeSpan.FromSeconds(request.PauseSeconds), log, ct)) is not null) break;
            }
            log.Info(wave.Key == 0 ? "canary hosts" : $"batch {wave.Key}");
            await Parallel.ForEachAsync(wave, new ParallelOptions { MaxDegreeOfParallelism = request.Parallelism, CancellationToken = ct }, async (row, token) =>
            {
                if (row.Status is UpgradeHostStatus.Succeeded) return;
                if (!failed.IsEmpty || await StopReasonAsync(context, request.Id, log, token) is not null) return;
                if (!hosts.TryGetValue(row.HostId, out var host))
                {
                    await MarkFailedAsync(context, request.Id, row.HostId, "the host no longer exists");
                    failed.Add(row);
                    return;
                }
                var part = await children.RunAsync(host, UpgradeHostHandler.KindName, new UpgradeHostHandler.Parameters(request.Id), token);
                if (part.Status != OperationStatus.Succeeded)
                {
                    // A part that failed before it could say so itself (busy host, untrusted key) is marked here.
                    await MarkFailedAsync(context, request.Id, row.HostId, part.Error ?? part.Status);
                    failed.Add(row);
                }
            });
            stopped ??= await StopReasonAsync(context, request.Id, log, ct);
            if (!failed.IsEmpty || stopped is not null) break;
        }

        if (request.AutoRollback && !failed.IsEmpty)
            await RollBackAsync(context, request, failed.Select(f => f.HostId).ToList(), hosts, children, ct);

        await db.UpgradeHosts.Where(h => h.RequestId == request.Id && h.Status == UpgradeHostStatus.Pending)
            .ExecuteUpdateAsync(s => s.SetProperty(h => h.Status, UpgradeHostStatus.NotStarted), CancellationToken.None);
        var final = await db.UpgradeHosts.AsNoTracking().Where(h => h.RequestId == request.Id).ToListAsync(CancellationToken.None);
        var summary = new
        {
            total = final.Count,
            succeeded = final.Count(h => h.Status == UpgradeHostStatus.Succeeded),
            failed = final.Count(h => h.Status == UpgradeHostStatus.Failed),
            rolledBack = final.Count(h => h.Status == UpgradeHostStatus.RolledBack),
            notStarted = final.Count(h => h.Status == UpgradeHostStatus.NotStarted),
        };
        if (stopped is not null)
        {
            await FinishAsync(db, request, UpgradeStatus.Aborted, stopped, context);
            throw new OperationFailedException($"the rollout was {stopped}", summary);
        }
        if (!failed.IsEmpty)
        {
            var names = string.Join(", ", failed.Select(f => hosts.TryGetValue(f.HostId, out var h) ? h.Name : f.HostId.ToString()).Order());
            await FinishAsync(db, request, UpgradeStatus.Failed, $"stopped at the first failure: {names}", context);
            throw new OperationFailedException($"the rollout stopped: {names} failed{(summary.rolledBack > 0 ? $"; {summary.rolledBack} rolled back to what they ran before" : "")}", summary);
        }
        await FinishAsync(db, request, UpgradeStatus.Succeeded, null, context);
        logger.LogInformation("Upgrade {Id} rolled out to {Count} host(s)", request.Id, summary.succeeded);
        return summary;
    }

    /// <summary>Failed hosts that changed go back to the generation they ran before, through a rollback each.</summary>
    async Task RollBackAsync(OperationContext context, UpgradeRequest request, IReadOnlyList<Guid> failedHosts, IReadOnlyDictionary<Guid, FleetHost> hosts, ChildOperations children, CancellationToken ct)
    {
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var rows = await db.UpgradeHosts.AsNoTracking().Where(h => h.RequestId == request.Id && failedHosts.Contains(h.HostId)).ToListAsync(ct);
        foreach (var row in rows)
        {
            var host = hosts[row.HostId];
            if (row.ToStorePath is null || row.FromGeneration is null || row.Profile is null)
            {
                context.Log.Info($"{host.Name}: nothing was activated; no rollback needed");
                continue;
            }
            context.Log.Info($"{host.Name}: automatic rollback of {row.Profile} to generation {row.FromGeneration} ({row.FromStorePath})");
            var part = await children.RunAsync(host, RollbackHandler.KindName,
                new RollbackHandler.Parameters(row.Profile, row.FromGeneration, request.Action, $"automatic rollback: upgrade {request.Id} failed on this host", false), ct);
            await db.UpgradeHosts.Where(h => h.RequestId == request.Id && h.HostId == row.HostId)
                .ExecuteUpdateAsync(s => s.SetProperty(h => h.RollbackOperationId, part.OperationId)
                    .SetProperty(h => h.Status, part.Status == OperationStatus.Succeeded ? UpgradeHostStatus.RolledBack : UpgradeHostStatus.Failed), ct);
            await audit.RecordAsync("nixfleet", "upgrade.autorollback", Hosts.HostService.HostTarget(host),
                new { upgradeId = request.Id, row.Profile, toGeneration = row.FromGeneration, operationId = part.OperationId }, part.Status, ct);
        }
    }

    /// <summary>"aborted by ..." when an operator aborted; waits while paused.</summary>
    static async Task<string?> StopReasonAsync(OperationContext context, Guid requestId, OperationLog log, CancellationToken ct)
    {
        var announced = false;
        while (true)
        {
            await using var scope = context.Services.CreateAsyncScope();
            var status = await scope.ServiceProvider.GetRequiredService<NixFleetDb>().Upgrades.AsNoTracking()
                .Where(r => r.Id == requestId).Select(r => r.Status).FirstAsync(ct);
            if (status == UpgradeStatus.Aborted) return "aborted by an operator";
            if (status != UpgradeStatus.Paused) return null;
            if (!announced) log.Info("paused by an operator: no new host starts until the rollout is resumed");
            announced = true;
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }

    static async Task<string?> WaitAsync(NixFleetDb db, Guid requestId, TimeSpan pause, OperationLog log, CancellationToken ct)
    {
        var until = DateTimeOffset.UtcNow + pause;
        while (DateTimeOffset.UtcNow < until)
        {
            if (await db.Upgrades.AsNoTracking().Where(r => r.Id == requestId).Select(r => r.Status).FirstAsync(ct) == UpgradeStatus.Aborted)
                return "aborted by an operator";
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
        return null;
    }

    static async Task MarkFailedAsync(OperationContext context, Guid requestId, Guid hostId, string? error)
    {
        await using var scope = context.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<NixFleetDb>().UpgradeHosts
            .Where(h => h.RequestId == requestId && h.HostId == hostId && h.Status != UpgradeHostStatus.Failed)
            .ExecuteUpdateAsync(s => s.SetProperty(h => h.Status, UpgradeHostStatus.Failed).SetProperty(h => h.Error, h => h.Error ?? error), CancellationToken.None);
    }

    async Task FinishAsync(NixFleetDb db, UpgradeRequest request, string status, string? reason, OperationContext context)
    {
        await db.Upgrades.Where(r => r.Id == request.Id && (r.Status == UpgradeStatus.Running || r.Status == UpgradeStatus.Paused || r.Status == UpgradeStatus.Aborted))
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, status).SetProperty(r => r.FinishedAt, DateTimeOffset.UtcNow)
                .SetProperty(r => r.DecisionReason, r => reason ?? r.DecisionReason), CancellationToken.None);
        await audit.RecordAsync("nixfleet", "upgrade.finish", UpgradeService.Target(request), new { operationId = context.Operation.Id, reason }, status, CancellationToken.None);
        request.Status = status;
        await webhooks.SendAsync(status == UpgradeStatus.Succeeded ? "finished" : "failed", request, null, reason, CancellationToken.None);
    }
}
