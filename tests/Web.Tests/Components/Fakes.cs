using NixFleet.Web.Data;

namespace NixFleet.Web.Tests.Components;

/// <summary>Entities as the pages receive them, built in memory.</summary>
public static class Fakes
{
    public static readonly DateTimeOffset Now = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);

    public static FleetHost Host(string name, string status = HostKeyStatus.Trusted, bool? reachable = true, params string[] tags) => new()
    {
        Name = name,
        Address = $"{name}.example.test",
        Port = 22,
        Tags = [.. tags],
        HostKeyStatus = status,
        Reachable = reachable,
        TrustedFingerprint = status == HostKeyStatus.Unverified ? null : "SHA256:trustedtrustedtrustedtrustedtrustedtrusted0",
        ScannedFingerprint = status == HostKeyStatus.Changed ? "SHA256:newkeynewkeynewkeynewkeynewkeynewkeynewkey0" : "SHA256:trustedtrustedtrustedtrustedtrustedtrusted0",
        ScannedKeyType = "ssh-ed25519",
        LastSeenAt = Now.AddMinutes(-5),
        LatestFacts = Facts(),
    };

    public static HostFactsRecord Facts() => new()
    {
        CollectedAt = Now.AddMinutes(-5),
        Os = "NixOS",
        OsVersion = "24.05",
        IsNixOS = true,
        NixVersion = "2.18.1",
        InstallType = "multi-user",
        StoreOwner = "root",
        Channels = [new("root", "nixos", "https://nixos.org/channels/nixos-24.05"), new("alice", "home-manager", "https://example.test/hm.tar.gz")],
        CurrentGeneration = 42,
        CurrentGenerationProfile = "/nix/var/nix/profiles/system",
        CurrentSystemPath = "/nix/store/abc-nixos-system-web-24.05",
        KernelVersion = "6.6.30",
        StoreSizeBytes = 5L << 30,
        DiskFreeBytes = 300L << 20,
    };

    public static Operation Operation(string status, string kind = "refresh", Guid? hostId = null) => new()
    {
        Kind = kind,
        HostId = hostId,
        Status = status,
        RequestedBy = "ops@example.test",
        CreatedAt = Now.AddMinutes(-2),
        StartedAt = status == OperationStatus.Queued ? null : Now.AddMinutes(-2),
        FinishedAt = OperationStatus.IsFinished(status) ? Now.AddMinutes(-1) : null,
    };
}
