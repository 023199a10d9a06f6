using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Builders;

/// <summary>
/// The list of build machines, and the requests that give a host its builders or verify them,
/// after the edge checks (<see cref="BuilderInput"/>, <see cref="BuildersOptions"/>).
/// </summary>
public sealed class BuildersService(NixFleetDb db, OperationQueue queue, Auditor audit)
{
    /// <summary>A builder as the API shows it, with what its last verification found ("jobs running" cannot be read from Nix 2.8).</summary>
    public sealed record BuilderDto(
        Guid Id, Guid? HostId, string? HostName, string Address, int Port, string User, IReadOnlyList<string> Systems, int MaxJobs, int SpeedFactor,
        IReadOnlyList<string> SupportedFeatures, IReadOnlyList<string> MandatoryFeatures, string HostKey, string StoreUri, string MachinesLine,
        IReadOnlyList<string> UsedBy, DateTimeOffset? LastVerifiedAt, bool? LastReachable, bool? LastTrusted, bool? LastBuildSucceeded, string? LastError);

    public sealed record HostBuildersDto(Guid HostId, IReadOnlyList<Guid> BuilderIds, int? MaxJobs, bool UseSubstitutes, DateTimeOffset? AppliedAt, JsonElement? LastResult);

    public abstract record Saved
    {
        public sealed record Ok(BuilderDto Builder) : Saved;
        public sealed record Invalid(Dictionary<string, string[]> Errors) : Saved;
        public sealed record NotFound : Saved;
        public sealed record InUse(string Message) : Saved;
    }

    public async Task<IReadOnlyList<BuilderDto>> ListAsync(CancellationToken ct)
    {
        var builders = await db.Builders.AsNoTracking().OrderBy(b => b.Address).ThenBy(b => b.User).ToListAsync(ct);
        return await DtosAsync(builders, ct);
    }

    public async Task<BuilderDto?> GetAsync(Guid id, CancellationToken ct) =>
        await db.Builders.AsNoTracking().FirstOrDefaultAsync(b => b.Id == id, ct) is { } b ? (await DtosAsync([b], ct))[0] : null;

    /// <summary>Adds a builder; a fleet host's address, port and pinned key are taken from the fleet.</summary>
    public async Task<Saved> CreateAsync(JsonElement body, string actor, CancellationToken ct)
    {
        var record = new BuildMachineRecord { Address = "", User = "", HostKey = "" };
        if (await FillAsync(record, body, ct) is { } invalid) return invalid;
        db.Builders.Add(record);
        await db.SaveChangesAsync(ct);
        await audit.RecordAsync(actor, "builder.create", $"builder:{record.Id}", Describe(record), "created", ct);
        return new Saved.Ok((await GetAsync(record.Id, ct))!);
    }

    /// <summary>Changes a builder's record; hosts using it get the change when their builders are next written.</summary>
    public async Task<Saved> UpdateAsync(Guid id, JsonElement body, string actor, CancellationToken ct)
    {
        if (await db.Builders.FirstOrDefaultAsync(b => b.Id == id, ct) is not { } record) return new Saved.NotFound();
        var before = Describe(record);
        if (await FillAsync(record, body, ct) is { } invalid) return invalid;
        await db.SaveChangesAsync(ct);
        await audit.RecordAsync(actor, "builder.update", $"builder:{id}", new { before, after = Describe(record) }, "updated", ct);
        return new Saved.Ok((await GetAsync(id, ct))!);
    }

    /// <summary>Deletes a builder no host uses: a host's machines file must be rewritten (and verified) without it first.</summary>
    public async Task<Saved> DeleteAsync(Guid id, string actor, CancellationToken ct)
    {
        if (await db.Builders.FirstOrDefaultAsync(b => b.Id == id, ct) is not { } record) return new Saved.NotFound();
        var users = await UsersAsync([id], ct);
        if (users.TryGetValue(id, out var names) && names.Count > 0)
            return new Saved.InUse($"{record.User}@{record.Address} is a build machine of {string.Join(", ", names)}: remove it from those hosts first. Nothing was deleted.");
        db.Builders.Remove(record);
        await db.SaveChangesAsync(ct);
        await audit.RecordAsync(actor, "builder.delete", $"builder:{id}", Describe(record), "deleted", ct);
        return new Saved.Ok((await DtosAsync([record], ct))[0]);
    }

    public async Task<HostBuildersDto> ForHostAsync(Guid hostId, CancellationToken ct)
    {
        var ids = await db.HostBuilders.AsNoTracking().Where(h => h.HostId == hostId).Select(h => h.BuilderId).ToListAsync(ct);
        var settings = await db.HostBuildSettings.AsNoTracking().FirstOrDefaultAsync(s => s.HostId == hostId, ct);
        JsonElement? last = settings?.LastResult is { } json ? JsonDocument.Parse(json).RootElement.Clone() : null;
        return new HostBuildersDto(hostId, ids, settings?.MaxJobs, settings?.UseSubstitutes ?? false, settings?.AppliedAt, last);
    }

    /// <summary>Queues writing a host's builders (an empty list restores what it had before NixFleet), under the host's lock.</summary>
    public async Task<QueueOutcome> RequestConfigureAsync(FleetHost host, BuildersHandler.ConfigureParameters p, string actor, CancellationToken ct)
    {
        if (QueueOutcome.UnlessTrusted(host) is { } refusal) return refusal;
        try
        {
            var op = await queue.EnqueueChangeAsync(BuildersHandler.ConfigureKind, host, p, actor, ct);
            await audit.RecordAsync(actor, "host.builders.request", HostService.HostTarget(host), new { operationId = op.Id, p.BuilderIds, p.Options }, "queued", ct);
            return new QueueOutcome.Queued(op);
        }
        catch (HostBusyException e)
        {
            await audit.RecordAsync(actor, "host.builders.request", HostService.HostTarget(host), new { p.BuilderIds, p.Options }, $"refused: {e.Message}", ct);
            return new QueueOutcome.Busy(e.Message);
        }
    }

    /// <summary>The same builders for every host with a tag, as one operation with a part per host.</summary>
    public async Task<Operation> RequestBatchAsync(BuildersBatchHandler.Parameters p, string actor, CancellationToken ct)
    {
        var op = await queue.EnqueueAsync(BuildersBatchHandler.KindName, null, p, actor, ct);
        await audit.RecordAsync(actor, "host.builders.batch.request", $"tag:{p.Tag}", new { operationId = op.Id, p.Configure.BuilderIds, p.Configure.Options, p.Parallelism }, "queued", ct);
        return op;
    }

    /// <summary>Queues a verification of the host's builders: it only reads and builds, so it takes no lock.</summary>
    public async Task<QueueOutcome> RequestVerifyAsync(FleetHost host, string actor, CancellationToken ct) =>
        QueueOutcome.UnlessTrusted(host) ?? new QueueOutcome.Queued(await queue.EnqueueAsync(BuildersHandler.VerifyKind, host.Id, new { }, actor, ct));

    /// <summary>The builders with these ids as the host side takes them, in the order asked; null when one does not exist.</summary>
    public static async Task<IReadOnlyList<RemoteBuilder>?> RemoteBuildersAsync(NixFleetDb db, IReadOnlyList<Guid> ids, CancellationToken ct)
    {
        var found = await db.Builders.AsNoTracking().Where(b => ids.Contains(b.Id)).ToDictionaryAsync(b => b.Id, ct);
        if (ids.Any(id => !found.ContainsKey(id))) return null;
        return ids.Select(id => ToRemote(found[id])).ToList();
    }

    public static RemoteBuilder ToRemote(BuildMachineRecord b) =>
        new(b.Id.ToString("N"), b.Address, b.Port, b.User, b.Systems, b.MaxJobs, b.SpeedFactor, b.SupportedFeatures, b.MandatoryFeatures, b.HostKey);

    async Task<Saved.Invalid?> FillAsync(BuildMachineRecord record, JsonElement body, CancellationToken ct)
    {
        var (input, errors) = BuilderInput.Read(body);
        if (input is null) return new Saved.Invalid(errors);
        string address, hostKey;
        int port;
        if (input.HostId is { } hostId)
        {
            var host = await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == hostId, ct);
            if (host is null) return new Saved.Invalid(new() { ["hostId"] = ["No such host."] });
            if (host.HostKeyStatus != HostKeyStatus.Trusted || host.TrustedKeyType is null || host.TrustedKey is null)
                return new Saved.Invalid(new() { ["hostId"] = [$"{host.Name}'s host key is {host.HostKeyStatus}: accept it first, so that its pinned key can go to the clients."] });
            (address, port, hostKey) = (host.Address, host.Port, host.TrustedKeyType + " " + host.TrustedKey);
            if (input.HostKey is not null && OpenSshPublicKey.Parse(input.HostKey)?.Line != hostKey)
                return new Saved.Invalid(new() { ["hostKey"] = [$"{host.Name}'s pinned key is {hostKey}: leave hostKey out for a fleet host, or re-pin the host first."] });
        }
        else if (input.HostKey is null)
        {
            return new Saved.Invalid(new() { ["hostKey"] = ["An outside machine needs its SSH host key (a line of its /etc/ssh/ssh_host_ed25519_key.pub): clients pin it, so the first connection does not fail."] });
        }
        else
        {
            (address, port, hostKey) = (input.Address!, input.Port, OpenSshPublicKey.Parse(input.HostKey)!.Line);
        }

        record.HostId = input.HostId;
        record.Address = address;
        record.Port = port;
        record.User = input.User;
        record.Systems = [.. input.Systems];
        record.MaxJobs = input.MaxJobs;
        record.SpeedFactor = input.SpeedFactor;
        record.SupportedFeatures = [.. input.SupportedFeatures];
        record.MandatoryFeatures = [.. input.MandatoryFeatures];
        record.HostKey = hostKey;
        return null;
    }

    async Task<Dictionary<Guid, List<string>>> UsersAsync(IReadOnlyList<Guid> builderIds, CancellationToken ct) =>
        (await (from a in db.HostBuilders.AsNoTracking()
                join h in db.Hosts.AsNoTracking() on a.HostId equals h.Id
                where builderIds.Contains(a.BuilderId)
                select new { a.BuilderId, h.Name }).ToListAsync(ct))
        .GroupBy(x => x.BuilderId).ToDictionary(g => g.Key, g => g.Select(x => x.Name).Order().ToList());

    async Task<IReadOnlyList<BuilderDto>> DtosAsync(IReadOnlyList<BuildMachineRecord> builders, CancellationToken ct)
    {
        var ids = builders.Select(b => b.Id).ToList();
        var users = await UsersAsync(ids, ct);
        var hostIds = builders.Where(b => b.HostId is not null).Select(b => b.HostId!.Value).ToList();
        var names = await db.Hosts.AsNoTracking().Where(h => hostIds.Contains(h.Id)).ToDictionaryAsync(h => h.Id, h => h.Name, ct);
        return builders.Select(b =>
        {
            var remote = ToRemote(b);
            return new BuilderDto(b.Id, b.HostId, b.HostId is { } h ? names.GetValueOrDefault(h) : null, b.Address, b.Port, b.User, b.Systems, b.MaxJobs,
                b.SpeedFactor, b.SupportedFeatures, b.MandatoryFeatures, b.HostKey, remote.StoreUri, MachinesFile.RenderLine(remote.Machine),
                users.GetValueOrDefault(b.Id) ?? [], b.LastVerifiedAt, b.LastReachable, b.LastTrusted, b.LastBuildSucceeded, b.LastError);
        }).ToList();
    }

    static object Describe(BuildMachineRecord b) =>
        new { b.HostId, b.Address, b.Port, b.User, b.Systems, b.MaxJobs, b.SpeedFactor, b.SupportedFeatures, b.MandatoryFeatures, b.HostKey };

}
