using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Hosts;

/// <summary>The host inventory's actions, shared by the API and the pages. Each one is audited.</summary>
public sealed class HostService(NixFleetDb db, Auditor audit, OperationQueue queue, ILogger<HostService> logger)
{
    public sealed record AddResult(FleetHost? Host, Dictionary<string, string[]> Errors);

    public async Task<AddResult> AddAsync(HostInput input, string actor, CancellationToken ct)
    {
        var errors = input.Validate();
        if (errors.Count == 0 && await db.Hosts.AnyAsync(h => h.Name == input.Name, ct))
            errors["name"] = [$"A host named '{input.Name}' exists already."];
        if (errors.Count > 0) return new AddResult(null, errors);

        var host = new FleetHost
        {
            Name = input.Name!,
            Address = input.Address!,
            Port = input.Port ?? 22,
            User = input.User ?? "root",
            Tags = (input.Tags ?? []).Distinct().Order().ToList(),
        };
        if (input.HostKey is { } given)
        {
            // A key given up front is the operator's statement of trust.
            var parts = given.Trim().Split(' ');
            host.TrustedKeyType = host.ScannedKeyType = parts[0];
            host.TrustedKey = host.ScannedKey = parts[1];
            host.TrustedFingerprint = host.ScannedFingerprint = SshHostKeys.Fingerprint(parts[1]);
            host.HostKeyStatus = HostKeyStatus.Trusted;
        }
        else
        {
            await ScanIntoAsync(host, ct);
        }
        db.Hosts.Add(host);
        await db.SaveChangesAsync(ct);
        await audit.RecordAsync(actor, "host.add", HostTarget(host),
            new { host.Address, host.Port, host.User, host.Tags, hostKey = host.HostKeyStatus, fingerprint = host.ScannedFingerprint }, "ok", ct);
        return new AddResult(host, errors);
    }

    /// <summary>Asks the host for its key now; the answer is shown, never trusted by itself.</summary>
    public async Task ScanIntoAsync(FleetHost host, CancellationToken ct)
    {
        try
        {
            var keys = await SshHostKeys.ScanAsync(host.Address, host.Port, ct);
            if (SshHostKeys.PickPreferred(keys) is { } key)
            {
                host.ScannedKeyType = key.Type;
                host.ScannedKey = key.Base64Blob;
                host.ScannedFingerprint = SshHostKeys.Fingerprint(key.Base64Blob);
                host.LastError = null;
            }
            else
            {
                host.LastError = "ssh-keyscan got no host key (is sshd listening there?)";
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogInformation("Key scan of {Address}:{Port} failed: {Error}", host.Address, host.Port, e.Message);
            host.LastError = $"host key scan failed: {e.Message}";
        }
    }

    public async Task<FleetHost?> RescanAsync(Guid id, string actor, CancellationToken ct)
    {
        var host = await db.Hosts.FirstOrDefaultAsync(h => h.Id == id, ct);
        if (host is null) return null;
        await ScanIntoAsync(host, ct);
        if (host.HostKeyStatus == HostKeyStatus.Trusted && host.ScannedKey is not null && host.ScannedKey != host.TrustedKey)
            host.HostKeyStatus = HostKeyStatus.Changed;
        await db.SaveChangesAsync(ct);
        await audit.RecordAsync(actor, "host.key.scan", HostTarget(host), new { fingerprint = host.ScannedFingerprint, status = host.HostKeyStatus }, "ok", ct);
        return host;
    }

    public enum AcceptOutcome { Accepted, NotFound, NoScannedKey, FingerprintMismatch, AdminRequired }

    /// <summary>
    /// Pins the scanned key, but only if the operator read the same fingerprint. Re-pinning a key
    /// that changed after it was trusted is an admin's decision.
    /// </summary>
    public async Task<(AcceptOutcome Outcome, FleetHost? Host)> AcceptKeyAsync(Guid id, string? fingerprint, string actor, bool isAdmin, CancellationToken ct)
    {
        var host = await db.Hosts.FirstOrDefaultAsync(h => h.Id == id, ct);
        if (host is null) return (AcceptOutcome.NotFound, null);
        AcceptOutcome outcome;
        if (host.ScannedKey is null || host.ScannedFingerprint is null) outcome = AcceptOutcome.NoScannedKey;
        else if (!string.Equals(fingerprint?.Trim(), host.ScannedFingerprint, StringComparison.Ordinal)) outcome = AcceptOutcome.FingerprintMismatch;
        else if (host.HostKeyStatus == HostKeyStatus.Changed && !isAdmin) outcome = AcceptOutcome.AdminRequired;
        else outcome = AcceptOutcome.Accepted;

        var previous = host.TrustedFingerprint;
        if (outcome == AcceptOutcome.Accepted)
        {
            var action = host.HostKeyStatus == HostKeyStatus.Changed ? "host.key.repin" : "host.key.accept";
            host.TrustedKeyType = host.ScannedKeyType;
            host.TrustedKey = host.ScannedKey;
            host.TrustedFingerprint = host.ScannedFingerprint;
            host.HostKeyStatus = HostKeyStatus.Trusted;
            host.LastError = null;
            await db.SaveChangesAsync(ct);
            await audit.RecordAsync(actor, action, HostTarget(host), new { previous, fingerprint = host.TrustedFingerprint }, "ok", ct);
        }
        else
        {
            await audit.RecordAsync(actor, "host.key.accept", HostTarget(host), new { offered = fingerprint, scanned = host.ScannedFingerprint }, $"refused: {outcome}", ct);
        }
        return (outcome, host);
    }

    public async Task<bool> DeleteAsync(Guid id, string actor, CancellationToken ct)
    {
        var host = await db.Hosts.FirstOrDefaultAsync(h => h.Id == id, ct);
        if (host is null) return false;
        // Keep the operations (and their output) as history: detach them from the host.
        host.LatestFactsId = null;
        await db.SaveChangesAsync(ct);
        db.Hosts.Remove(host);
        await db.SaveChangesAsync(ct);
        await audit.RecordAsync(actor, "host.delete", HostTarget(host), new { host.Address, host.Port }, "ok", ct);
        return true;
    }

    public async Task<Operation?> RefreshAsync(Guid id, string actor, CancellationToken ct)
    {
        var host = await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct);
        if (host is null) return null;
        var op = await queue.EnqueueAsync(RefreshHandler.KindName, id, null, actor, ct);
        await audit.RecordAsync(actor, "host.refresh", HostTarget(host), new { operationId = op.Id }, "queued", ct);
        return op;
    }

    public async Task<Operation> RefreshFleetAsync(string? tag, string actor, CancellationToken ct)
    {
        var op = await queue.EnqueueAsync(FleetRefreshHandler.KindName, null, new FleetRefreshHandler.Parameters(tag), actor, ct);
        await audit.RecordAsync(actor, "fleet.refresh", tag is null ? "fleet" : $"tag:{tag}", new { operationId = op.Id }, "queued", ct);
        return op;
    }

    public static string HostTarget(FleetHost h) => $"host:{h.Name} ({h.Id})";

    public sealed record ListQuery(string? Q, string? Tag, string? Sort, int Page, int PageSize);
    public sealed record ListPage(IReadOnlyList<FleetHost> Items, int Total, int Page, int PageSize);

    /// <summary>Search, tag filter, sort and paging in the database (indexes on name and tags).</summary>
    public async Task<ListPage> ListAsync(ListQuery query, CancellationToken ct)
    {
        var page = Math.Max(1, query.Page);
        var size = Math.Clamp(query.PageSize, 1, 500);
        var hosts = db.Hosts.AsNoTracking().Include(h => h.LatestFacts).AsQueryable();
        if (!string.IsNullOrWhiteSpace(query.Q))
        {
            var pattern = "%" + query.Q.Trim().Replace("\\", "\\\\").Replace("%", "\\%").Replace("_", "\\_") + "%";
            hosts = hosts.Where(h => EF.Functions.ILike(h.Name, pattern, "\\") || EF.Functions.ILike(h.Address, pattern, "\\"));
        }
        if (!string.IsNullOrWhiteSpace(query.Tag)) hosts = hosts.Where(h => h.Tags.Contains(query.Tag));
        hosts = query.Sort switch
        {
            "-name" => hosts.OrderByDescending(h => h.Name),
            "address" => hosts.OrderBy(h => h.Address).ThenBy(h => h.Name),
            "-address" => hosts.OrderByDescending(h => h.Address).ThenBy(h => h.Name),
            "lastSeen" => hosts.OrderBy(h => h.LastSeenAt).ThenBy(h => h.Name),
            "-lastSeen" => hosts.OrderByDescending(h => h.LastSeenAt).ThenBy(h => h.Name),
            "status" => hosts.OrderBy(h => h.Reachable).ThenBy(h => h.Name),
            "-status" => hosts.OrderByDescending(h => h.Reachable).ThenBy(h => h.Name),
            _ => hosts.OrderBy(h => h.Name),
        };
        var total = await hosts.CountAsync(ct);
        var items = await hosts.Skip((page - 1) * size).Take(size).ToListAsync(ct);
        return new ListPage(items, total, page, size);
    }
}
