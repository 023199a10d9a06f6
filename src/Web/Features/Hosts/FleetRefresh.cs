using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Operations;
using Quartz;

namespace NixFleet.Web.Features.Hosts;

/// <summary>
/// "fleet-refresh": every trusted host (or those with a tag) in one operation that fans out with
/// bounded parallelism over multiplexed connections, with one log line per host.
/// </summary>
public sealed class FleetRefreshHandler(HostRefresher refresher, IOptions<NixFleetOptions> options) : IOperationHandler
{
    public const string KindName = "fleet-refresh";
    public string Kind => KindName;

    public sealed record Parameters(string? Tag);

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var p = context.Operation.Parameters is { } json
            ? System.Text.Json.JsonSerializer.Deserialize<Parameters>(json, System.Text.Json.JsonSerializerOptions.Web)
            : null;
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var inScope = db.Hosts.AsNoTracking();
        if (p?.Tag is { } tag) inScope = inScope.Where(h => h.Tags.Contains(tag));
        var hosts = await inScope.Where(h => h.HostKeyStatus == HostKeyStatus.Trusted)
            .OrderBy(h => h.Name).Select(h => new { h.Id, h.Name }).ToListAsync(ct);
        var skipped = await inScope.CountAsync(h => h.HostKeyStatus != HostKeyStatus.Trusted, ct);

        context.Log.Info($"refreshing {hosts.Count} host(s), {options.Value.RefreshParallelism} at a time; {skipped} host(s) without a trusted key skipped");
        var failures = new ConcurrentBag<object>();
        var succeeded = 0;
        await Parallel.ForEachAsync(hosts, new ParallelOptions { MaxDegreeOfParallelism = options.Value.RefreshParallelism, CancellationToken = ct },
            async (h, token) =>
            {
                var outcome = await refresher.RefreshAsync(h.Id, context.Log, token);
                if (outcome.Ok) Interlocked.Increment(ref succeeded);
                else failures.Add(new { hostId = h.Id, name = h.Name, error = outcome.Error });
            });
        context.Log.Info($"done: {succeeded} refreshed, {failures.Count} failed");
        return new { total = hosts.Count, succeeded, failed = failures.Count, skipped, failures = failures.ToArray() };
    }
}

/// <summary>The fleet-wide schedule: fires once per period across the cluster and queues one fleet-refresh.</summary>
[DisallowConcurrentExecution]
public sealed class FleetRefreshSchedule(OperationQueue queue) : IJob
{
    public static readonly JobKey Key = new("fleet-refresh", "system");

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken ct = default) =>
        await queue.EnqueueAsync(FleetRefreshHandler.KindName, null, new FleetRefreshHandler.Parameters(null), "scheduler", ct);
}
