using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Maintenance;

/// <summary>Queues store maintenance on one host or many, after the edge checks (MaintenanceInput).</summary>
public sealed class MaintenanceService(NixFleetDb db, OperationQueue queue, Auditor audit)
{
    public abstract record Outcome
    {
        public sealed record Queued(Operation Operation) : Outcome;
        public sealed record Busy(string Message) : Outcome;
        public sealed record Refused(string Message) : Outcome;
    }

    /// <summary>
    /// A GC on one host. A dry run only reads, so it does not need the host; a real one takes the
    /// host's lock and is refused while another change (a rollback, say) holds it.
    /// </summary>
    public async Task<Outcome> RequestGcAsync(FleetHost host, GcHandler.Parameters gc, string actor, CancellationToken ct)
    {
        if (Unusable(host) is { } refusal) return refusal;
        if (gc.DryRun)
            return new Outcome.Queued(await queue.EnqueueAsync(GcHandler.KindName, host.Id, gc, actor, ct));
        return await ChangeAsync(host, GcHandler.KindName, gc, "store.gc.request", actor, ct);
    }

    public async Task<Outcome> RequestOptimiseAsync(FleetHost host, string actor, CancellationToken ct) =>
        Unusable(host) ?? await ChangeAsync(host, OptimiseHandler.KindName, new { }, "store.optimise.request", actor, ct);

    public async Task<Outcome> RequestVerifyAsync(FleetHost host, VerifyHandler.Parameters p, string actor, CancellationToken ct) =>
        Unusable(host) ?? await ChangeAsync(host, VerifyHandler.KindName, p, "store.verify.request", actor, ct);

    /// <summary>GC on many hosts as one operation; the hosts are chosen when it starts.</summary>
    public async Task<Operation> RequestBatchAsync(GcBatchHandler.Parameters p, string actor, CancellationToken ct)
    {
        var op = await queue.EnqueueAsync(GcBatchHandler.KindName, null, p, actor, ct);
        await audit.RecordAsync(actor, "store.gc.batch.request", "fleet", new { operationId = op.Id, p.HostIds, p.Tag, p.Gc, p.Parallelism }, "queued", ct);
        return op;
    }

    /// <summary>The hosts a batch would cover now (for the confirmation page).</summary>
    public Task<List<FleetHost>> BatchHostsAsync(GcBatchHandler.Parameters p, CancellationToken ct) =>
        GcBatchHandler.Scope(db, p).Include(h => h.LatestFacts).OrderBy(h => h.Name).ToListAsync(ct);

    async Task<Outcome> ChangeAsync(FleetHost host, string kind, object parameters, string action, string actor, CancellationToken ct)
    {
        try
        {
            var op = await queue.EnqueueChangeAsync(kind, host, parameters, actor, ct);
            await audit.RecordAsync(actor, action, HostService.HostTarget(host), new { operationId = op.Id, parameters }, "queued", ct);
            return new Outcome.Queued(op);
        }
        catch (HostBusyException e)
        {
            await audit.RecordAsync(actor, action, HostService.HostTarget(host), new { parameters }, $"refused: {e.Message}", ct);
            return new Outcome.Busy(e.Message);
        }
    }

    static Outcome? Unusable(FleetHost host) => host.HostKeyStatus == HostKeyStatus.Trusted ? null
        : new Outcome.Refused($"{host.Name}'s host key is {host.HostKeyStatus}: accept it first. Nothing was queued.");
}
