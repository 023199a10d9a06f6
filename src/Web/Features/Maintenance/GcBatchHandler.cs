using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Maintenance;

/// <summary>
/// "gc-batch": garbage collection on many hosts, as one job that fans out with a parallelism
/// limit; each host's part is a "gc" operation of its own (and an "optimise" one when asked),
/// so the combined view has a row per host. Runs for a click (hosts, a tag, or every host) and
/// for each firing of a maintenance policy.
/// </summary>
public sealed class GcBatchHandler(ILogger<GcBatchHandler> logger) : IOperationHandler
{
    public const string KindName = "gc-batch";
    public string Kind => KindName;

    /// <param name="HostIds">These hosts; else the hosts with <paramref name="Tag"/>; else every host.</param>
    /// <param name="OptimiseWeekly">Then <c>nix-store --optimise</c> on each host not optimised in the last 7 days.</param>
    /// <param name="PolicyId">The maintenance policy this run is a firing of, if any.</param>
    public sealed record Parameters(
        IReadOnlyList<Guid>? HostIds, string? Tag, GcHandler.Parameters Gc, bool OptimiseWeekly, int Parallelism, Guid? PolicyId = null);

    /// <summary>The hosts chosen when the run started: a recovered run works on the same ones.</summary>
    public sealed record Checkpoint(IReadOnlyList<Guid> HostIds);

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var p = context.Parameters<Parameters>() ?? throw new OperationFailedException("no parameters");
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var chosen = context.Checkpoint<Checkpoint>()?.HostIds;
        if (chosen is null)
        {
            chosen = await Scope(db, p).Select(h => h.Id).ToListAsync(ct);
            await context.SaveCheckpointAsync(new Checkpoint(chosen), ct);
        }
        var hosts = await db.Hosts.AsNoTracking().Where(h => chosen.Contains(h.Id)).OrderBy(h => h.Name).ToListAsync(ct);
        var children = new ChildOperations(context);
        await children.LoadAsync(ct);
        var results = new ConcurrentBag<ChildOperations.HostResult>();
        var condition = p.Gc.OnlyWhenFreeBelowPercent is { } x ? $", only where /nix has less than {x}% free" : "";
        context.Log.Info($"{(p.Gc.DryRun ? "dry run of " : "")}{p.Gc.Mode} GC on {hosts.Count} host(s), {p.Parallelism} at a time{condition}");

        await Parallel.ForEachAsync(hosts, new ParallelOptions { MaxDegreeOfParallelism = p.Parallelism, CancellationToken = ct }, async (host, token) =>
        {
            if (host.HostKeyStatus != HostKeyStatus.Trusted)
            {
                results.Add(new ChildOperations.HostResult(host.Id, host.Name, null, GcHandler.KindName, "skipped", $"host key is {host.HostKeyStatus}"));
                return;
            }
            var gc = await children.RunAsync(host, GcHandler.KindName, p.Gc, token);
            results.Add(gc);
            if (p.OptimiseWeekly && !p.Gc.DryRun && gc.Status == OperationStatus.Succeeded && !await OptimisedLastWeekAsync(context, host.Id, token))
                results.Add(await children.RunAsync(host, OptimiseHandler.KindName, new { }, token));
        });

        var all = results.OrderBy(r => r.Host).ThenBy(r => r.Kind).ToList();
        var failed = all.Count(r => r.Status != OperationStatus.Succeeded);
        var freed = await BytesFreedAsync(db, all, ct);
        context.Log.Info($"done: {all.Count - failed} succeeded, {failed} failed or skipped; {freed} bytes freed in all");
        logger.LogInformation("GC batch {Id}: {Ok}/{All} parts succeeded", context.Operation.Id, all.Count - failed, all.Count);
        var summary = new { total = all.Count, succeeded = all.Count - failed, failed, bytesFreed = freed, hosts = all };
        if (failed > 0) throw new OperationFailedException($"{failed} of {all.Count} part(s) did not succeed", summary);
        return summary;
    }

    /// <summary>The hosts a run covers, as it starts.</summary>
    public static IQueryable<FleetHost> Scope(NixFleetDb db, Parameters p)
    {
        var hosts = db.Hosts.AsNoTracking();
        if (p.HostIds is { Count: > 0 } ids) return hosts.Where(h => ids.Contains(h.Id));
        if (p.Tag is { } tag) return hosts.Where(h => h.Tags.Contains(tag));
        return hosts;
    }

    static async Task<bool> OptimisedLastWeekAsync(OperationContext context, Guid hostId, CancellationToken ct)
    {
        await using var scope = context.Services.CreateAsyncScope();
        var since = DateTimeOffset.UtcNow.AddDays(-7);
        return await scope.ServiceProvider.GetRequiredService<NixFleetDb>().Operations.AnyAsync(o =>
            o.HostId == hostId && o.Kind == OptimiseHandler.KindName && o.Status == OperationStatus.Succeeded && o.FinishedAt > since, ct);
    }

    static async Task<long> BytesFreedAsync(NixFleetDb db, IReadOnlyList<ChildOperations.HostResult> parts, CancellationToken ct)
    {
        var ids = parts.Where(r => r.OperationId is not null).Select(r => r.OperationId!.Value).ToList();
        var results = await db.Operations.AsNoTracking().Where(o => ids.Contains(o.Id) && o.Result != null).Select(o => o.Result!).ToListAsync(ct);
        return results.Sum(json => GcRunNumbers.Parse(json)?.BytesFreed ?? 0);
    }
}
