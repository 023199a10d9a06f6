using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Hosts;

/// <summary>Collects a host's facts over SSH (one round trip) and keeps them as history.</summary>
public sealed class HostRefresher(SshConnections connections, IServiceScopeFactory scopes, ILogger<HostRefresher> logger)
{
    public sealed record Outcome(bool Ok, string? Error, long? FactsId, HostFacts? Facts = null);

    public async Task<Outcome> RefreshAsync(Guid hostId, OperationLog? log, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<NixFleetDb>();
        var host = await db.Hosts.FirstOrDefaultAsync(h => h.Id == hostId, ct)
            ?? throw new OperationFailedException("the host no longer exists");

        string output;
        Dictionary<(string User, string Name), (string? Version, DateTimeOffset? UpdatedAt)> channelVersions;
        try
        {
            var ssh = connections.For(host);
            log?.Info($"{host.Name}: collecting facts from {host.User}@{host.Address}:{host.Port}");
            var result = await ssh.RunScriptAsync(FactsProbe.Script, null, null, ct);
            if (result.ExitCode != 0)
                throw new OperationFailedException($"{host.Name}: the facts probe exited {result.ExitCode}: {result.StdErr.Trim()}");
            output = result.StdOut;
            channelVersions = await ChannelVersionsAsync(ssh, host, FactsParser.Parse(output), log, ct);
        }
        catch (HostNotTrustedException e)
        {
            return await FailAsync(db, host, e.Message, reachable: host.Reachable, log, ct);
        }
        catch (SshException e)
        {
            if (e.Failure == SshFailure.HostKeyChanged) await RecordChangedKeyAsync(db, host, log, ct);
            return await FailAsync(db, host, $"{host.Name}: {e.Message}", reachable: e.Failure == SshFailure.HostKeyChanged ? true : false, log, ct);
        }

        var facts = FactsParser.Parse(output);
        var record = new HostFactsRecord
        {
            HostId = host.Id,
            Os = facts.Os,
            OsVersion = facts.OsVersion,
            IsNixOS = facts.IsNixOS,
            NixVersion = facts.NixVersion,
            InstallType = facts.InstallType,
            StoreOwner = facts.StoreOwner,
            Channels = facts.Channels.Select(c => channelVersions.TryGetValue((c.User, c.Name), out var v)
                ? new ChannelRecord(c.User, c.Name, c.Url, v.Version, v.UpdatedAt)
                : new ChannelRecord(c.User, c.Name, c.Url)).ToList(),
            CurrentGeneration = facts.CurrentGeneration,
            CurrentGenerationProfile = facts.CurrentGenerationProfile,
            CurrentSystemPath = facts.CurrentSystemPath,
            KernelVersion = facts.KernelVersion,
            NixBinDirectory = facts.NixBinDirectory,
            StoreSizeBytes = facts.StoreSizeBytes,
            DiskFreeBytes = facts.DiskFreeBytes,
            DiskSizeBytes = facts.DiskSizeBytes,
        };
        db.HostFacts.Add(record);
        await db.SaveChangesAsync(ct);
        host.LatestFactsId = record.Id;
        host.Reachable = true;
        host.LastError = null;
        host.LastSeenAt = record.CollectedAt;
        await db.SaveChangesAsync(ct);
        log?.Info($"{host.Name}: {Describe(record)}");
        return new Outcome(true, null, record.Id, facts);
    }

    /// <summary>
    /// The version each channel of root (or the single-user store's owner) points to, read from the
    /// channels profile; the drift view compares them. A host whose channels cannot be read still
    /// gets its other facts.
    /// </summary>
    static async Task<Dictionary<(string User, string Name), (string? Version, DateTimeOffset? UpdatedAt)>> ChannelVersionsAsync(
        IRemoteShell ssh, FleetHost host, HostFacts facts, OperationLog? log, CancellationToken ct)
    {
        var versions = new Dictionary<(string User, string Name), (string? Version, DateTimeOffset? UpdatedAt)>();
        if (facts.InstallType == NixInstallType.None) return versions;
        foreach (var user in Upgrades.ChannelService.ChannelUsers(facts))
        {
            var r = await ssh.RunAsync(ChannelCommands.AsUser(host.User, user, ChannelsProbe.Script), null, null, ct);
            if (r.ExitCode != 0)
            {
                log?.Info($"{host.Name}: {user}'s channel versions could not be read (exit {r.ExitCode})");
                continue;
            }
            var report = ChannelsParser.Parse(r.StdOut);
            foreach (var c in report.Channels) versions[(user, c.Name)] = (c.Version, report.UpdatedAt);
        }
        return versions;
    }

    /// <summary>
    /// What commands need to know (where Nix is, who owns the store): the last facts when they say
    /// so, else a refresh. Saves a full probe (with its `du` of the store) before every command.
    /// </summary>
    public async Task<HostFacts> KnownOrFreshFactsAsync(FleetHost host, OperationLog? log, CancellationToken ct)
    {
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<NixFleetDb>();
            var latest = await db.HostFacts.AsNoTracking().FirstOrDefaultAsync(f => f.Id == host.LatestFactsId, ct);
            if (ToHostFacts(latest) is { } known) return known;
        }
        var outcome = await RefreshAsync(host.Id, log, ct);
        return outcome.Facts ?? throw new OperationFailedException(outcome.Error ?? "could not read the host's facts; nothing was changed");
    }

    /// <summary>The stored facts as the Nix command builders take them (null when too old to say where Nix is).</summary>
    public static HostFacts? ToHostFacts(HostFactsRecord? f) => f?.NixBinDirectory is null ? null : new HostFacts(
        f.Os, f.OsVersion, f.IsNixOS, f.NixVersion, f.InstallType, f.StoreOwner,
        f.Channels.Select(c => new ChannelFact(c.User, c.Name, c.Url)).ToList(), f.CurrentGeneration, f.CurrentGenerationProfile,
        f.CurrentSystemPath, f.StoreSizeBytes, f.DiskFreeBytes, f.KernelVersion, f.NixBinDirectory, f.DiskSizeBytes);

    static string Describe(HostFactsRecord f) =>
        $"{f.Os} {f.OsVersion}; Nix {f.NixVersion ?? "not found"} ({f.InstallType}{(f.StoreOwner is null ? "" : $", store owned by {f.StoreOwner}")}); " +
        $"generation {f.CurrentGeneration?.ToString() ?? "-"}; store {Bytes(f.StoreSizeBytes)}, free {Bytes(f.DiskFreeBytes)}; {f.Channels.Count} channel(s)";

    public static string Bytes(long? b) => b switch
    {
        null => "?",
        >= 1L << 30 => $"{b / (double)(1L << 30):0.0} GiB",
        >= 1L << 20 => $"{b / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{b / 1024.0:0.0} KiB",
        _ => $"{b} B",
    };

    async Task RecordChangedKeyAsync(NixFleetDb db, FleetHost host, OperationLog? log, CancellationToken ct)
    {
        host.HostKeyStatus = HostKeyStatus.Changed;
        try
        {
            var keys = await SshHostKeys.ScanAsync(host.Address, host.Port, ct);
            if (SshHostKeys.PickPreferred(keys) is { } key)
            {
                host.ScannedKeyType = key.Type;
                host.ScannedKey = key.Base64Blob;
                host.ScannedFingerprint = SshHostKeys.Fingerprint(key.Base64Blob);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("Could not rescan the changed key of {Host}: {Error}", host.Name, e.Message);
        }
        log?.Write(OperationLog.ErrStream, $"{host.Name}: HOST KEY CHANGED: pinned {host.TrustedFingerprint}, host now offers {host.ScannedFingerprint ?? "?"}. All work on this host is stopped until an admin re-pins it.");
    }

    static async Task<Outcome> FailAsync(NixFleetDb db, FleetHost host, string error, bool? reachable, OperationLog? log, CancellationToken ct)
    {
        host.Reachable = reachable;
        host.LastError = error;
        await db.SaveChangesAsync(ct);
        log?.Write(OperationLog.ErrStream, error);
        return new Outcome(false, error, null);
    }
}

/// <summary>"refresh": one host's facts.</summary>
public sealed class RefreshHandler(HostRefresher refresher) : IOperationHandler
{
    public const string KindName = "refresh";
    public string Kind => KindName;

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var outcome = await refresher.RefreshAsync(context.Operation.HostId!.Value, context.Log, ct);
        if (!outcome.Ok) throw new OperationFailedException(outcome.Error!);
        return new { factsId = outcome.FactsId };
    }
}
