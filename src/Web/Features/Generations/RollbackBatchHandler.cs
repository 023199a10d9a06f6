using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Generations;

/// <summary>
/// "rollback-batch": one rollback operation per host (each with its own host lock, output and
/// audit), run by this job with a parallelism limit. The children are real operations, so each
/// host's page and the combined view show the same story.
/// </summary>
public sealed class RollbackBatchHandler(ILogger<RollbackBatchHandler> logger) : IOperationHandler
{
    public const string KindName = "rollback-batch";
    public string Kind => KindName;

    public sealed record Parameters(IReadOnlyList<Guid> HostIds, string Profile, int? Generation, string Mode, string Reason, bool ReactivateOnFailure, int Parallelism);

    public sealed record HostResult(Guid HostId, string Host, Guid? OperationId, string Status, string? Error);

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var p = context.Parameters<Parameters>() ?? throw new OperationFailedException("no parameters");
        var db = context.Services.GetRequiredService<NixFleetDb>();
        // Resolved here, not injected: the job runs handlers, this handler runs the job.
        var runner = context.Services.GetRequiredService<OperationJob>();
        var hosts = await db.Hosts.AsNoTracking().Where(h => p.HostIds.Contains(h.Id)).OrderBy(h => h.Name).ToListAsync(ct);
        var existing = await db.Operations.AsNoTracking().Where(o => o.ParentId == context.Operation.Id).ToListAsync(ct);
        var node = context.Operation.Node ?? Environment.MachineName;
        var results = new ConcurrentBag<HostResult>();
        context.Log.Info($"rolling back {p.Profile} on {hosts.Count} host(s), {p.Parallelism} at a time");

        await Parallel.ForEachAsync(hosts, new ParallelOptions { MaxDegreeOfParallelism = p.Parallelism, CancellationToken = ct }, async (host, token) =>
        {
            // After a recovery, a host that already has its part is not given a second one.
            var child = existing.FirstOrDefault(o => o.HostId == host.Id);
            if (child is null)
            {
                try
                {
                    await using var scope = context.Services.CreateAsyncScope();
                    var q = scope.ServiceProvider.GetRequiredService<OperationQueue>();
                    child = await q.EnqueueChangeAsync(RollbackHandler.KindName, host,
                        new RollbackHandler.Parameters(p.Profile, p.Generation, p.Mode, p.Reason, p.ReactivateOnFailure),
                        context.Operation.RequestedBy, token, parentId: context.Operation.Id);
                }
                catch (HostBusyException e)
                {
                    context.Log.Write(OperationLog.ErrStream, $"{host.Name}: skipped: {e.Message}");
                    results.Add(new HostResult(host.Id, host.Name, null, "skipped", e.Message));
                    return;
                }
            }
            context.Log.Info($"{host.Name}: rollback {child.Id} started");
            await runner.RunAsync(child.Id, node, recovering: OperationStatus.IsActive(child.Status), token);

            await using var read = context.Services.CreateAsyncScope();
            var done = await read.ServiceProvider.GetRequiredService<NixFleetDb>().Operations.AsNoTracking().FirstAsync(o => o.Id == child.Id, token);
            results.Add(new HostResult(host.Id, host.Name, child.Id, done.Status, done.Error));
            if (done.Status == OperationStatus.Succeeded) context.Log.Info($"{host.Name}: succeeded");
            else context.Log.Write(OperationLog.ErrStream, $"{host.Name}: {done.Status}: {done.Error}");
        });

        var all = results.OrderBy(r => r.Host).ToList();
        var failed = all.Count(r => r.Status != OperationStatus.Succeeded);
        context.Log.Info($"done: {all.Count - failed} succeeded, {failed} failed or skipped");
        logger.LogInformation("Rollback batch {Id}: {Ok}/{All} succeeded", context.Operation.Id, all.Count - failed, all.Count);
        var summary = new { total = all.Count, succeeded = all.Count - failed, failed, hosts = all };
        if (failed > 0) throw new OperationFailedException($"{failed} of {all.Count} host(s) did not roll back", summary);
        return summary;
    }
}
