using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;

namespace NixFleet.Web.Features.Operations;

/// <summary>
/// For fleet-wide operations: each host's part is a real operation of its own (its own host lock,
/// output and audit), created and run by the parent's job. A recovered parent finds the parts it
/// already made and does not make them twice.
/// </summary>
public sealed class ChildOperations(OperationContext parent)
{
    readonly List<Operation> _existing = [];

    public sealed record HostResult(Guid HostId, string Host, Guid? OperationId, string Kind, string Status, string? Error);

    public async Task LoadAsync(CancellationToken ct)
    {
        var db = parent.Services.GetRequiredService<NixFleetDb>();
        var parentId = parent.Operation.Id;
        _existing.AddRange(await db.Operations.AsNoTracking().Where(o => o.ParentId == parentId).ToListAsync(ct));
    }

    /// <summary>Creates (or finds) the host's part of this kind, runs it here, and reads how it ended.</summary>
    public async Task<HostResult> RunAsync(FleetHost host, string kind, object parameters, CancellationToken ct)
    {
        Operation? child;
        lock (_existing) child = _existing.FirstOrDefault(o => o.HostId == host.Id && o.Kind == kind);
        if (child is null)
        {
            try
            {
                await using var scope = parent.Services.CreateAsyncScope();
                var queue = scope.ServiceProvider.GetRequiredService<OperationQueue>();
                child = await queue.EnqueueChangeAsync(kind, host, parameters, parent.Operation.RequestedBy, ct, parentId: parent.Operation.Id);
            }
            catch (HostBusyException e)
            {
                parent.Log.Write(OperationLog.ErrStream, $"{host.Name}: skipped: {e.Message}");
                return new HostResult(host.Id, host.Name, null, kind, "skipped", e.Message);
            }
        }
        else if (OperationStatus.IsFinished(child.Status))
        {
            return new HostResult(host.Id, host.Name, child.Id, kind, child.Status, child.Error);
        }

        parent.Log.Info($"{host.Name}: {kind} {child.Id} started");
        // Resolved here, not injected: the job runs handlers, and this runs the job.
        var runner = parent.Services.GetRequiredService<OperationJob>();
        await runner.RunAsync(child.Id, parent.Operation.Node ?? Environment.MachineName, recovering: OperationStatus.IsActive(child.Status), ct);

        await using var read = parent.Services.CreateAsyncScope();
        var done = await read.ServiceProvider.GetRequiredService<NixFleetDb>().Operations.AsNoTracking().FirstAsync(o => o.Id == child.Id, ct);
        if (done.Status == OperationStatus.Succeeded) parent.Log.Info($"{host.Name}: {kind} succeeded");
        else parent.Log.Write(OperationLog.ErrStream, $"{host.Name}: {kind} {done.Status}: {done.Error}");
        return new HostResult(host.Id, host.Name, child.Id, kind, done.Status, done.Error);
    }
}
