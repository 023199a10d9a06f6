using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;

namespace NixFleet.Web.Features.Operations;

/// <summary>
/// One changing operation per host: a rollback, GC, upgrade or conversion takes the host's lock
/// when it is queued and gives it back when it finishes. A second one is refused with a message
/// that names what holds the host.
/// </summary>
public sealed class HostLocks(NixFleetDb db)
{
    public sealed record Holder(Guid OperationId, string Kind, DateTimeOffset Since);

    /// <summary>Takes the lock for <paramref name="operationId"/>, or returns who holds it.</summary>
    public async Task<Holder?> TryAcquireAsync(Guid hostId, Guid operationId, string kind, CancellationToken ct)
    {
        // Atomic: two requests racing for one host cannot both insert.
        var taken = await db.Database.ExecuteSqlInterpolatedAsync(
            $"""INSERT INTO host_locks ("HostId", "OperationId", "Kind", "AcquiredAt") VALUES ({hostId}, {operationId}, {kind}, {DateTimeOffset.UtcNow}) ON CONFLICT ("HostId") DO NOTHING""", ct);
        if (taken == 1) return null;
        var holder = await db.HostLocks.AsNoTracking().FirstOrDefaultAsync(l => l.HostId == hostId, ct);
        // Released between the insert and the read: try once more.
        if (holder is null) return await TryAcquireAsync(hostId, operationId, kind, ct);
        return holder.OperationId == operationId ? null : new Holder(holder.OperationId, holder.Kind, holder.AcquiredAt);
    }

    public Task ReleaseAsync(Guid operationId, CancellationToken ct) =>
        db.HostLocks.Where(l => l.OperationId == operationId).ExecuteDeleteAsync(ct);

    /// <summary>Locks whose operation has finished (ended by the reaper, or cancelled while queued).</summary>
    public Task<int> ReleaseFinishedAsync(CancellationToken ct) =>
        db.HostLocks
            .Where(l => db.Operations.Any(o => o.Id == l.OperationId &&
                (o.Status == OperationStatus.Succeeded || o.Status == OperationStatus.Failed || o.Status == OperationStatus.Cancelled))
                || !db.Operations.Any(o => o.Id == l.OperationId))
            .ExecuteDeleteAsync(ct);

    public static string Describe(Holder h, string hostName) =>
        $"Host '{hostName}' is busy: a {h.Kind} operation ({h.OperationId}) has held it since {h.Since:u}. Wait for it to finish, or cancel it.";
}

/// <summary>The host is held by another changing operation.</summary>
public sealed class HostBusyException(string message) : Exception(message);
