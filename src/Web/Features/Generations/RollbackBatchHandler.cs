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

    /// <param name="Targets">Per host, the profile and generation to go back to (an upgrade's "before"); else Profile and Generation for all.</param>
    public sealed record Parameters(IReadOnlyList<Guid> HostIds, string Profile, int? Generation, string Mode, string Reason, bool ReactivateOnFailure, int Parallelism,
        IReadOnlyList<HostTarget>? Targets = null);

    public sealed record HostTarget(Guid HostId, string Profile, int Generation);

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var p = context.Parameters<Parameters>() ?? throw new OperationFailedException("no parameters");
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var hosts = await db.Hosts.AsNoTracking().Where(h => p.HostIds.Contains(h.Id)).OrderBy(h => h.Name).ToListAsync(ct);
        var children = new ChildOperations(context);
        await children.LoadAsync(ct);
        var results = new ConcurrentBag<ChildOperations.HostResult>();
        context.Log.Info($"rolling back {(p.Targets is null ? p.Profile : "each host's recorded generation")} on {hosts.Count} host(s), {p.Parallelism} at a time");

        await Parallel.ForEachAsync(hosts, new ParallelOptions { MaxDegreeOfParallelism = p.Parallelism, CancellationToken = ct }, async (host, token) =>
        {
            var target = p.Targets?.FirstOrDefault(t => t.HostId == host.Id);
            results.Add(await children.RunAsync(host, RollbackHandler.KindName,
                new RollbackHandler.Parameters(target?.Profile ?? p.Profile, target?.Generation ?? p.Generation, p.Mode, p.Reason, p.ReactivateOnFailure), token));
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
