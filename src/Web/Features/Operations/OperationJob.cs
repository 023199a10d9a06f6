using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;
using Quartz;

namespace NixFleet.Web.Features.Operations;

/// <summary>
/// Runs one operation row: claims it, runs its handler with a heartbeat, stores every output line,
/// and records the true end state. Exceptions from the handler end the operation as failed; the
/// job itself only throws when it could not record that, so Quartz sees real faults.
/// </summary>
public sealed class OperationJob(
    IServiceScopeFactory scopes,
    IEnumerable<IOperationHandler> handlers,
    ILogger<OperationJob> logger) : IJob
{
    public const string OperationIdKey = "operationId";
    static readonly TimeSpan HeartbeatEvery = TimeSpan.FromSeconds(10);

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken ct = default)
    {
        var id = Guid.Parse(context.MergedJobDataMap.GetString(OperationIdKey)!);
        var node = context.Scheduler.SchedulerInstanceId;
        await RunAsync(id, node, context.Recovering, ct);
    }

    public async Task RunAsync(Guid id, string node, bool recovering, CancellationToken ct)
    {
        var claimed = await ClaimAsync(id, node, recovering, ct);
        if (claimed is null) return;

        await using var scope = scopes.CreateAsyncScope();
        await using var log = await OperationLog.OpenAsync(id, scopes, logger, ct);
        if (claimed.Attempt > 1)
            log.Info($"The node that ran this operation stopped mid-way; node {node} takes it over (attempt {claimed.Attempt}).");

        var handler = handlers.FirstOrDefault(h => h.Kind == claimed.Kind);
        string status, error = "";
        object? result = null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var heartbeat = HeartbeatAsync(id, node, stop);
        try
        {
            if (handler is null) throw new OperationFailedException($"no handler for operation kind '{claimed.Kind}'");
            result = await handler.RunAsync(new OperationContext(claimed, log, scope.ServiceProvider, claimed.Attempt > 1), stop.Token);
            status = OperationStatus.Succeeded;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            status = OperationStatus.Cancelled;
            error = "cancelled by a user";
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // This node is shutting down: leave the row running; Quartz recovery or the reaper ends it truthfully.
            log.Info($"node {node} is shutting down; the operation will be recovered");
            throw;
        }
        catch (Exception e)
        {
            status = OperationStatus.Failed;
            error = e is OperationFailedException ? e.Message : $"{e.GetType().Name}: {e.Message}";
            if (e is OperationFailedException { Result: { } partial }) result = partial;
            if (e is not OperationFailedException) logger.LogError(e, "Operation {Id} failed", id);
        }
        finally
        {
            await stop.CancelAsync();
            await heartbeat;
        }

        if (status != OperationStatus.Succeeded && log.LastText != error) log.Write(OperationLog.ErrStream, error);
        await log.DisposeAsync();
        await FinishAsync(id, node, status, error, result);
    }

    async Task<Operation?> ClaimAsync(Guid id, string node, bool recovering, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<NixFleetDb>();
        var now = DateTimeOffset.UtcNow;
        // Compare-and-set: only one claim wins, even if two nodes were ever handed the same job.
        var claimed = await db.Operations
            .Where(o => o.Id == id && (o.Status == OperationStatus.Queued ||
                (recovering && (o.Status == OperationStatus.Running || o.Status == OperationStatus.Reconciling))))
            .ExecuteUpdateAsync(s => s
                .SetProperty(o => o.Status, OperationStatus.Running)
                .SetProperty(o => o.Node, node)
                .SetProperty(o => o.StartedAt, o => o.StartedAt ?? now)
                .SetProperty(o => o.HeartbeatAt, now)
                .SetProperty(o => o.Attempt, o => o.Attempt + 1), ct);
        if (claimed == 0)
        {
            logger.LogInformation("Operation {Id} is not startable (finished, cancelled or taken); skipping", id);
            return null;
        }
        return await db.Operations.AsNoTracking().FirstAsync(o => o.Id == id, ct);
    }

    async Task HeartbeatAsync(Guid id, string node, CancellationTokenSource stop)
    {
        using var timer = new PeriodicTimer(HeartbeatEvery);
        try
        {
            while (await timer.WaitForNextTickAsync(stop.Token))
            {
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<NixFleetDb>();
                var row = await db.Operations.AsNoTracking().Where(o => o.Id == id).Select(o => new { o.Status, o.Node }).FirstOrDefaultAsync(stop.Token);
                if (row is null || row.Status == OperationStatus.Cancelled || row.Node != node)
                {
                    // Cancelled by a user, or taken over elsewhere: stop working on it here.
                    await stop.CancelAsync();
                    return;
                }
                await db.Operations.Where(o => o.Id == id).ExecuteUpdateAsync(s => s.SetProperty(o => o.HeartbeatAt, DateTimeOffset.UtcNow), stop.Token);
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e)
        {
            // A missed heartbeat is not fatal (the database may be restarting); the reaper allows for it.
            logger.LogWarning("Heartbeat for operation {Id} failed: {Error}", id, e.Message);
        }
    }

    async Task FinishAsync(Guid id, string node, string status, string error, object? result)
    {
        var json = result is null ? null : JsonSerializer.Serialize(result, result.GetType(), JsonSerializerOptions.Web);
        await Retry.UntilStoredAsync(async () =>
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<NixFleetDb>();
            // Only the node that holds it finishes it; a user's cancel keeps its "cancelled".
            await db.Operations
                .Where(o => o.Id == id && o.Node == node &&
                    (o.Status == OperationStatus.Running || o.Status == OperationStatus.Reconciling || o.Status == OperationStatus.Cancelled))
                .ExecuteUpdateAsync(s => s
                    .SetProperty(o => o.Status, o => o.Status == OperationStatus.Cancelled ? OperationStatus.Cancelled : status)
                    .SetProperty(o => o.Error, o => o.Status == OperationStatus.Cancelled ? o.Error ?? error : (error == "" ? null : error))
                    .SetProperty(o => o.Result, json)
                    .SetProperty(o => o.FinishedAt, DateTimeOffset.UtcNow));
            await new HostLocks(db).ReleaseAsync(id, CancellationToken.None);
        }, logger, $"operation {id} status");
    }
}
