using NixFleet.Web.Data;

namespace NixFleet.Web.Features.Hosts;

/// <summary>The API's view of a host. Field names are a contract: add, never rename.</summary>
public sealed record HostDto(
    Guid Id, string Name, string Address, int Port, string User, IReadOnlyList<string> Tags,
    HostKeyDto HostKey, bool? Reachable, string? LastError, DateTimeOffset? LastSeenAt, DateTimeOffset CreatedAt,
    FactsDto? Facts)
{
    public static HostDto From(FleetHost h) => new(
        h.Id, h.Name, h.Address, h.Port, h.User, h.Tags,
        new HostKeyDto(h.HostKeyStatus, h.ScannedFingerprint ?? h.TrustedFingerprint, h.TrustedFingerprint, h.ScannedKeyType),
        h.Reachable, h.LastError, h.LastSeenAt, h.CreatedAt,
        h.LatestFacts is null ? null : FactsDto.From(h.LatestFacts));
}

/// <summary><c>fingerprint</c> is what the host offers now (what an accept must match); <c>trustedFingerprint</c> what is pinned.</summary>
public sealed record HostKeyDto(string Status, string? Fingerprint, string? TrustedFingerprint, string? Type);

public sealed record FactsDto(
    string Os, string OsVersion, bool IsNixOS, string? NixVersion, string InstallType, string? StoreOwner,
    IReadOnlyList<ChannelRecord> Channels, int? CurrentGeneration, string? CurrentGenerationProfile,
    string? CurrentSystemPath, string? KernelVersion, long? StoreSizeBytes, long? DiskFreeBytes, long? DiskSizeBytes, DateTimeOffset CollectedAt)
{
    public static FactsDto From(HostFactsRecord f) => new(
        f.Os, f.OsVersion, f.IsNixOS, f.NixVersion, f.InstallType, f.StoreOwner, f.Channels, f.CurrentGeneration,
        f.CurrentGenerationProfile, f.CurrentSystemPath, f.KernelVersion, f.StoreSizeBytes, f.DiskFreeBytes, f.DiskSizeBytes, f.CollectedAt);
}
