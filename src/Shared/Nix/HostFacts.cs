namespace NixFleet.Shared.Nix;

/// <summary>The values of <see cref="HostFacts.InstallType"/>.</summary>
public static class NixInstallType
{
    /// <summary>The store belongs to an ordinary user and Nix runs as that user; there is no daemon.</summary>
    public const string SingleUser = "single-user";

    /// <summary>The store belongs to root; users go through nix-daemon and builds run as nixbld users.</summary>
    public const string MultiUser = "multi-user";

    /// <summary>No /nix/store or no Nix binary was found.</summary>
    public const string None = "none";
}

/// <summary>What one refresh learns about a host, from a single run of <see cref="FactsProbe.Script"/>.</summary>
/// <param name="Os">NAME from os-release ("Debian GNU/Linux", "NixOS").</param>
/// <param name="OsVersion">VERSION_ID from os-release; empty when the distribution has none.</param>
/// <param name="NixVersion">"2.8.0", from <c>nix-env --version</c>.</param>
/// <param name="InstallType">One of <see cref="NixInstallType"/>.</param>
/// <param name="StoreOwner">Owner of /nix/store: the user Nix must run as on a single-user install.</param>
/// <param name="CurrentGeneration">Generation number of the profile that matters for the install type.</param>
/// <param name="CurrentGenerationProfile">That profile: /nix/var/nix/profiles/system on NixOS, .../default on multi-user, the owner's profile on single-user.</param>
/// <param name="CurrentSystemPath">Where /run/current-system points (NixOS).</param>
/// <param name="NixBinDirectory">Directory holding nix-env and friends on the host; see <see cref="NixLocator"/>.</param>
/// <param name="DiskSizeBytes">Size of the file system holding /nix (df's 1B-blocks).</param>
public sealed record HostFacts(
    string Os,
    string OsVersion,
    bool IsNixOS,
    string? NixVersion,
    string InstallType,
    string? StoreOwner,
    IReadOnlyList<ChannelFact> Channels,
    int? CurrentGeneration,
    string? CurrentGenerationProfile,
    string? CurrentSystemPath,
    long? StoreSizeBytes,
    long? DiskFreeBytes,
    string? KernelVersion,
    string? NixBinDirectory,
    long? DiskSizeBytes = null)
{
    /// <summary>Free space on the store's file system in percent, when both numbers are known.</summary>
    public double? DiskFreePercent => DiskFreeBytes is { } free && DiskSizeBytes is > 0 and { } size ? 100.0 * free / size : null;
}

/// <summary>One subscribed channel of one user on a host.</summary>
public sealed record ChannelFact(string User, string Name, string Url);
