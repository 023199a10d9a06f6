using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Builders;

/// <summary>
/// "builders-batch": gives every host with a tag the same builders, a parallelism limit at a time.
/// Each host's part is a "builders-configure" operation of its own (its lock, output, audit and
/// verification); a host that is itself one of the builders is left out.
/// </summary>
public sealed class BuildersBatchHandler(ILogger<BuildersBatchHandler> logger) : IOperationHandler
{
    public const string KindName = "builders-batch";
    public string Kind => KindName;

    public sealed record Parameters(string Tag, BuildersHandler.ConfigureParameters Configure, int Parallelism);

    /// <summary>The hosts chosen when the run started: a recovered run works on the same ones.</summary>
    public sealed record Checkpoint(IReadOnlyList<Guid> HostIds);

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var p = context.Parameters<Parameters>() ?? throw new OperationFailedException("no parameters");
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var chosen = context.Checkpoint<Checkpoint>()?.HostIds;
        if (chosen is null)
        {
            var builderHosts = await db.Builders.AsNoTracking().Where(b => p.Configure.BuilderIds.Contains(b.Id) && b.HostId != null).Select(b => b.HostId!.Value).ToListAsync(ct);
            chosen = await db.Hosts.AsNoTracking().Where(h => h.Tags.Contains(p.Tag) && !builderHosts.Contains(h.Id)).Select(h => h.Id).ToListAsync(ct);
            await context.SaveCheckpointAsync(new Checkpoint(chosen), ct);
        }
        var hosts = await db.Hosts.AsNoTracking().Where(h => chosen.Contains(h.Id)).OrderBy(h => h.Name).ToListAsync(ct);
        var children = new ChildOperations(context);
        await children.LoadAsync(ct);
        var parts = new ConcurrentBag<ChildOperations.HostResult>();
        context.Log.Info($"{p.Configure.BuilderIds.Count} build machine(s) for {hosts.Count} host(s) tagged {p.Tag}, {p.Parallelism} at a time");

        await Parallel.ForEachAsync(hosts, new ParallelOptions { MaxDegreeOfParallelism = p.Parallelism, CancellationToken = ct }, async (host, token) =>
        {
            if (host.HostKeyStatus != HostKeyStatus.Trusted)
            {
                parts.Add(new ChildOperations.HostResult(host.Id, host.Name, null, BuildersHandler.ConfigureKind, "skipped", $"host key is {host.HostKeyStatus}"));
                return;
            }
            parts.Add(await children.RunAsync(host, BuildersHandler.ConfigureKind, p.Configure, token));
        });

        var rows = parts.OrderBy(r => r.Host).ToList();
        var failed = rows.Count(r => r.Status != OperationStatus.Succeeded);
        context.Log.Info($"done: {rows.Count - failed} succeeded, {failed} failed or skipped");
        logger.LogInformation("Builders batch {Id}: {Ok}/{All} hosts succeeded", context.Operation.Id, rows.Count - failed, rows.Count);
        var result = new { total = rows.Count, succeeded = rows.Count - failed, failed, hosts = rows };
        if (failed > 0) throw new OperationFailedException($"{failed} of {rows.Count} host(s) did not succeed", result);
        return result;
    }
}
