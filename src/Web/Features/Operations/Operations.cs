using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;
using Quartz;

namespace NixFleet.Web.Features.Operations;

/// <summary>
/// The web side of an operation: record the intent as a row, then schedule a Quartz job that
/// reloads it by id. Any node of the cluster may run it; Quartz fires it once.
/// </summary>
public sealed class OperationQueue(NixFleetDb db, ISchedulerFactory schedulers)
{
    public const string JobGroup = "operations";

    public async Task<Operation> EnqueueAsync(string kind, Guid? hostId, object? parameters, string actor, CancellationToken ct)
    {
        var op = NewOperation(kind, hostId, parameters, actor);
        db.Operations.Add(op);
        await db.SaveChangesAsync(ct);
        await ScheduleAsync(await schedulers.GetScheduler(ct), op.Id, ct);
        return op;
    }

    /// <summary>
    /// For operations that change a host: the row and the host's lock are written together, or
    /// neither is. Throws <see cref="HostBusyException"/> naming what holds the host.
    /// </summary>
    /// <param name="parentId">Part of a fleet-wide operation that runs it itself: not scheduled on its own.</param>
    public async Task<Operation> EnqueueChangeAsync(string kind, FleetHost host, object? parameters, string actor, CancellationToken ct, Guid? parentId = null)
    {
        var op = NewOperation(kind, host.Id, parameters, actor);
        op.ParentId = parentId;
        var strategy = db.Database.CreateExecutionStrategy();
        await strategy.ExecuteAsync(async () =>
        {
            db.ChangeTracker.Clear();
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            db.Operations.Add(op);
            await db.SaveChangesAsync(ct);
            if (await new HostLocks(db).TryAcquireAsync(host.Id, op.Id, kind, ct) is { } holder)
            {
                await tx.RollbackAsync(ct);
                throw new HostBusyException(HostLocks.Describe(holder, host.Name));
            }
            await tx.CommitAsync(ct);
        });
        if (parentId is null) await ScheduleAsync(await schedulers.GetScheduler(ct), op.Id, ct);
        return op;
    }

    public static Operation NewOperation(string kind, Guid? hostId, object? parameters, string actor) => new()
    {
        Kind = kind,
        HostId = hostId,
        RequestedBy = actor,
        Parameters = parameters is null ? null : JsonSerializer.Serialize(parameters, JsonSerializerOptions.Web),
    };

    /// <summary>Schedules an operation row that was inserted in the caller's own transaction.</summary>
    public async Task ScheduleExistingAsync(Guid operationId, CancellationToken ct) =>
        await ScheduleAsync(await schedulers.GetScheduler(ct), operationId, ct);

    public static JobKey JobKeyFor(Guid operationId) => new(operationId.ToString(), JobGroup);

    public static async Task ScheduleAsync(IScheduler scheduler, Guid operationId, CancellationToken ct)
    {
        var job = JobBuilder.Create<OperationJob>()
            .WithIdentity(JobKeyFor(operationId))
            .UsingJobData(OperationJob.OperationIdKey, operationId.ToString())
            // A node that dies mid-way leaves the job to another node (or itself after restart).
            .RequestRecovery()
            .Build();
        var trigger = TriggerBuilder.Create()
            .WithIdentity(operationId.ToString(), JobGroup)
            .StartNow()
            .WithSimpleSchedule(s => s.WithMisfireInstruction(SimpleTriggerMisfireInstruction.FireNow))
            .Build();
        await scheduler.ScheduleJob(job, trigger, default, ct);
    }

    /// <summary>Asks a queued or running operation to stop; a running job sees it at its next heartbeat.</summary>
    public async Task<bool> CancelAsync(Guid id, string actor, CancellationToken ct)
    {
        var changed = await db.Operations
            .Where(o => o.Id == id && (o.Status == OperationStatus.Queued || o.Status == OperationStatus.Running))
            .ExecuteUpdateAsync(s => s
                .SetProperty(o => o.Status, OperationStatus.Cancelled)
                .SetProperty(o => o.Error, $"cancelled by {actor}")
                .SetProperty(o => o.FinishedAt, o => o.StartedAt == null ? DateTimeOffset.UtcNow : o.FinishedAt), ct);
        // A queued operation never runs now: give its host back. A running one does so when it stops.
        if (changed > 0 && await db.Operations.AnyAsync(o => o.Id == id && o.StartedAt == null, ct))
            await new HostLocks(db).ReleaseAsync(id, ct);
        return changed > 0;
    }
}
