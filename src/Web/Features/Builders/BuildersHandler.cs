using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Builders;

/// <summary>
/// "builders-configure": writes a host's build machines (Shared/Nix/builders.sh through
/// <see cref="BuildersRunner"/>): root's key on the client, the key authorized (and the user
/// trusted) on fleet builders, /etc/nix/machines and nix.conf, the daemon restarted, then a build
/// that can only succeed on each builder; a failed verification puts everything back unless the
/// operator chose to keep it. An empty list restores the host's configuration from before NixFleet.
/// "builders-verify": that verification alone, recorded on each builder.
/// </summary>
public sealed class BuildersHandler(SshConnections connections, Auditor audit, ILogger<BuildersHandler> logger, string kind = BuildersHandler.ConfigureKind)
    : IOperationHandler
{
    public const string ConfigureKind = "builders-configure";
    public const string VerifyKind = "builders-verify";
    public string Kind => kind;

    public sealed record ConfigureParameters(IReadOnlyList<Guid> BuilderIds, BuildersOptions Options);

    /// <summary>One builder's verification as the API returns it.</summary>
    public sealed record VerifiedBuilder(Guid BuilderId, bool Reachable, bool? Trusted, bool BuildSucceeded, string? RanOn, double? Seconds, string? Error, string? ErrorKind, string StoreUri);

    public sealed record VerifyResult(IReadOnlyList<VerifiedBuilder> Builders);

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var host = await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == context.Operation.HostId, ct)
            ?? throw new OperationFailedException("the host no longer exists");
        var log = context.Log;
        var fleetHosts = new Dictionary<string, FleetHost>();
        var runner = new BuildersRunner(connections.For(host), host.Name, builder => fleetHosts.TryGetValue(builder.Id, out var h) ? connections.For(h) : null,
            new BuildersRunner.Events(log.Info, line =>
            {
                log.Write(line.Stream == OutputStream.StdErr ? OperationLog.ErrStream : OperationLog.OutStream, line.Text);
                return ValueTask.CompletedTask;
            }));
        try
        {
            return kind == VerifyKind
                ? await VerifyAsync(context, db, host, runner, fleetHosts, ct)
                : await ConfigureAsync(context, db, host, runner, fleetHosts, ct);
        }
        catch (SshException e) when (kind == VerifyKind)
        {
            throw new OperationFailedException($"{host.Name}: {e.Message}. Nothing was verified; nothing is changed by a verification.");
        }
        catch (SshException e)
        {
            throw new OperationFailedException($"{host.Name}: {e.Message}. The connection was lost: the host's backups under {BuildersScript.BackupRoot} still hold its configuration from before NixFleet; run this again, or give it an empty list to restore it.");
        }
    }

    async Task<object> ConfigureAsync(OperationContext context, NixFleetDb db, FleetHost host, BuildersRunner runner, Dictionary<string, FleetHost> fleetHosts, CancellationToken ct)
    {
        var p = context.Parameters<ConfigureParameters>() ?? throw new OperationFailedException("no parameters");
        var wanted = await BuildersService.RemoteBuildersAsync(db, p.BuilderIds, ct) ?? throw new OperationFailedException("a builder asked for no longer exists; nothing was changed");
        var previousIds = await db.HostBuilders.AsNoTracking().Where(h => h.HostId == host.Id).Select(h => h.BuilderId).ToListAsync(ct);
        var dropped = await BuildersService.RemoteBuildersAsync(db, previousIds.Except(p.BuilderIds).ToList(), ct) ?? [];
        await LoadFleetBuildersAsync(db, [.. p.BuilderIds, .. previousIds], fleetHosts, ct);

        var lockOwner = context.Operation.Id.ToString("N");
        var ssh = connections.For(host);
        BuildersResult? result = null;
        try
        {
            await HostCommands.TakeHostLockAsync(ssh, db, lockOwner, context.Log, logger, ct);
            try
            {
                if (wanted.Count == 0)
                {
                    result = await runner.RemoveAsync(dropped, ct);
                }
                else
                {
                    result = await runner.ConfigureAsync(wanted, p.Options, ct);
                    if (result.Succeeded && dropped.Count > 0)
                    {
                        // The host is configured; a dropped builder that still holds its key is said, not hidden.
                        var unauthorized = await runner.UnauthorizeAsync(dropped, ct);
                        result = result with
                        {
                            Changes = [.. result.Changes, .. unauthorized.Changes],
                            Diffs = [.. result.Diffs, .. unauthorized.Diffs],
                            Message = unauthorized.Succeeded ? result.Message : $"{result.Message}; but {unauthorized.Message}",
                        };
                    }
                }
            }
            finally
            {
                await HostCommands.ReleaseHostLockAsync(ssh, lockOwner, logger, CancellationToken.None);
            }

            // The assignment says what the host's files hold: what was written, or, when a failure after
            // writing restored the files from before NixFleet, nothing. A failure before writing changes nothing.
            if (result.Succeeded || result.Outcome == BuildersResult.Kept)
                await SaveAssignmentAsync(db, host.Id, p with { BuilderIds = wanted.Count == 0 ? [] : p.BuilderIds }, result, ct);
            else if (result.Diffs.Any(d => d.Where == "client"))
                await SaveAssignmentAsync(db, host.Id, new ConfigureParameters([], new BuildersOptions()), result, ct);
            await RecordVerificationsAsync(db, result.Verifications, ct);
        }
        finally
        {
            await audit.RecordAsync(context.Operation.RequestedBy, "host.builders.configure", HostService.HostTarget(host), new
            {
                operationId = context.Operation.Id,
                p.BuilderIds,
                p.Options,
                outcome = result?.Outcome,
                result?.Changes,
                result?.Diffs,
                result?.Verifications,
            }, result?.Outcome ?? "failed", CancellationToken.None);
        }

        context.Log.Info(result.Message);
        if (!result.Succeeded) throw new OperationFailedException(result.Message, result);
        return result;
    }

    async Task<object> VerifyAsync(OperationContext context, NixFleetDb db, FleetHost host, BuildersRunner runner, Dictionary<string, FleetHost> fleetHosts, CancellationToken ct)
    {
        var ids = await db.HostBuilders.AsNoTracking().Where(h => h.HostId == host.Id).Select(h => h.BuilderId).ToListAsync(ct);
        if (ids.Count == 0) throw new OperationFailedException($"{host.Name} has no build machines to verify: give it some first");
        var builders = await BuildersService.RemoteBuildersAsync(db, ids, ct) ?? throw new OperationFailedException("a builder of this host no longer exists");
        await LoadFleetBuildersAsync(db, ids, fleetHosts, ct);
        var verified = await runner.VerifyAsync(builders, ct);
        await RecordVerificationsAsync(db, verified, ct);
        await audit.RecordAsync(context.Operation.RequestedBy, "host.builders.verify", HostService.HostTarget(host),
            new { operationId = context.Operation.Id, verified }, verified.All(v => v.Succeeded) ? "succeeded" : "failed", CancellationToken.None);
        var result = new VerifyResult(verified.Select(v => new VerifiedBuilder(Guid.ParseExact(v.BuilderId, "N"), v.Reachable, v.Trusted, v.BuildSucceeded,
            v.RanOn, v.Seconds, v.Error, v.ErrorKind, v.StoreUri)).ToList());
        var failed = result.Builders.Where(b => !b.BuildSucceeded).ToList();
        foreach (var b in result.Builders)
            context.Log.Info(b.BuildSucceeded ? $"{b.StoreUri}: the build ran on {b.RanOn} in {b.Seconds:0.#} s" : $"{b.StoreUri}: {b.Error}");
        if (failed.Count > 0) throw new OperationFailedException($"{failed.Count} of {result.Builders.Count} builder(s) failed: {string.Join("; ", failed.Select(f => f.Error))}", result);
        return result;
    }

    /// <summary>The fleet hosts among these builders, by the id the host side names them with: NixFleet can reach them to authorize the client.</summary>
    static async Task LoadFleetBuildersAsync(NixFleetDb db, IReadOnlyList<Guid> builderIds, Dictionary<string, FleetHost> into, CancellationToken ct)
    {
        var pairs = await (from b in db.Builders.AsNoTracking()
                           join h in db.Hosts.AsNoTracking() on b.HostId equals h.Id
                           where builderIds.Contains(b.Id) && h.HostKeyStatus == HostKeyStatus.Trusted
                           select new { b.Id, Host = h }).ToListAsync(ct);
        foreach (var pair in pairs) into[pair.Id.ToString("N")] = pair.Host;
    }

    static async Task SaveAssignmentAsync(NixFleetDb db, Guid hostId, ConfigureParameters p, BuildersResult result, CancellationToken ct)
    {
        await db.HostBuilders.Where(h => h.HostId == hostId).ExecuteDeleteAsync(ct);
        db.HostBuilders.AddRange(p.BuilderIds.Select(id => new HostBuilderAssignment { HostId = hostId, BuilderId = id }));
        var settings = await db.HostBuildSettings.FirstOrDefaultAsync(s => s.HostId == hostId, ct);
        if (settings is null) db.HostBuildSettings.Add(settings = new HostBuildSettings { HostId = hostId });
        settings.MaxJobs = p.Options.MaxJobs;
        settings.UseSubstitutes = p.Options.UseSubstitutes;
        settings.AppliedAt = DateTimeOffset.UtcNow;
        settings.LastResult = JsonSerializer.Serialize(result, JsonSerializerOptions.Web);
        await db.SaveChangesAsync(ct);
    }

    static async Task RecordVerificationsAsync(NixFleetDb db, IReadOnlyList<BuilderVerification> verified, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var v in verified)
        {
            if (!Guid.TryParseExact(v.BuilderId, "N", out var id)) continue;
            await db.Builders.Where(b => b.Id == id).ExecuteUpdateAsync(s => s
                .SetProperty(b => b.LastVerifiedAt, now)
                .SetProperty(b => b.LastReachable, v.Reachable)
                .SetProperty(b => b.LastTrusted, v.Trusted)
                .SetProperty(b => b.LastBuildSucceeded, v.BuildSucceeded)
                .SetProperty(b => b.LastError, v.Error), ct);
        }
    }
}
