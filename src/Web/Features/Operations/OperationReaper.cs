using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;
using Microsoft.Extensions.Options;
using Quartz;

namespace NixFleet.Web.Features.Operations;

/// <summary>
/// The safety net behind Quartz recovery, so that no operation stays "running" or "queued" forever:
/// a running row whose heartbeat stopped is ended as failed with the reason; a queued row whose
/// job never reached the scheduler (the process died between the insert and the schedule) is
/// scheduled again. Runs on one node at a time (a clustered trigger).
/// </summary>
[DisallowConcurrentExecution]
public sealed class OperationReaper(NixFleetDb db, IOptions<NixFleetOptions> options, ILogger<OperationReaper> logger) : IJob
{
    public static readonly JobKey Key = new("operation-reaper", "system");

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken ct = default)
    {
        var now = DateTimeOffset.UtcNow;
        var staleBefore = now.AddSeconds(-options.Value.OperationStaleSeconds);
        var lost = await db.Operations
            .Where(o => (o.Status == OperationStatus.Running || o.Status == OperationStatus.Reconciling) && o.HeartbeatAt < staleBefore)
            .ToListAsync(ct);
        foreach (var op in lost)
        {
            // If Quartz still holds the job it will recover it; a job that is gone cannot come back.
            if (await context.Scheduler.Exists(OperationQueue.JobKeyFor(op.Id), ct)) continue;
            var ended = await db.Operations
                .Where(o => o.Id == op.Id && (o.Status == OperationStatus.Running || o.Status == OperationStatus.Reconciling) && o.HeartbeatAt < staleBefore)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(o => o.Status, OperationStatus.Failed)
                    .SetProperty(o => o.Error, $"interrupted: node {op.Node} stopped reporting at {op.HeartbeatAt:u} and the job could not be recovered")
                    .SetProperty(o => o.FinishedAt, now), ct);
            if (ended > 0) logger.LogWarning("Operation {Id} lost its node {Node}; marked failed", op.Id, op.Node);
        }

        await new HostLocks(db).ReleaseFinishedAsync(ct);
        await Maintenance.MaintenancePolicies.ReconcileAsync(db, context.Scheduler, logger, ct);

        var queuedBefore = now.AddSeconds(-30);
        // A part of a fleet-wide operation is run by its parent, never scheduled on its own.
        var orphans = await db.Operations
            .Where(o => o.Status == OperationStatus.Queued && o.CreatedAt < queuedBefore && o.ParentId == null)
            .OrderBy(o => o.CreatedAt)
            .Select(o => o.Id)
            .Take(1000)
            .ToListAsync(ct);
        foreach (var id in orphans)
        {
            if (await context.Scheduler.Exists(OperationQueue.JobKeyFor(id), ct)) continue;
            logger.LogWarning("Operation {Id} was queued but never scheduled; scheduling it now", id);
            await OperationQueue.ScheduleAsync(context.Scheduler, id, ct);
        }
    }
}
