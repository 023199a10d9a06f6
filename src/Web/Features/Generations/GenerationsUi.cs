using System.Globalization;
using NixFleet.Shared.Nix;
using NixFleet.Web.Components;

namespace NixFleet.Web.Features.Generations;

/// <summary>How the generations pages name things and link to each other, in one place.</summary>
public static class GenerationsUi
{
    public static string ListUrl(Guid hostId) => $"/hosts/{hostId}/generations";

    /// <summary>The confirmation page; without <paramref name="to"/>, the previous generation.</summary>
    public static string RollbackUrl(Guid hostId, string profile, int? to = null) =>
        Format.Url($"/hosts/{hostId}/generations/rollback", ("profile", profile), ("to", Number(to)));

    public static string CompareUrl(Guid hostId, string profile, int from, int to) =>
        Format.Url($"/hosts/{hostId}/generations/compare", ("profile", profile), ("from", Number(from)), ("to", Number(to)));

    /// <summary>The deletion preview's "by": keep the last N generations, or delete those older than N days.</summary>
    public const string KeepLast = "keepLast";
    public const string OlderThanDays = "olderThanDays";

    public static string DeleteUrl(Guid hostId) => $"/hosts/{hostId}/generations/delete";

    /// <summary>The system profile first, then the default profile, then the users' profiles by owner.</summary>
    public static IReadOnlyList<ProfileGenerations> Ordered(IEnumerable<ProfileGenerations> profiles) =>
        profiles.OrderBy(p => p.IsSystem ? 0 : p.Profile == NixLocator.DefaultProfile ? 1 : 2)
            .ThenBy(p => p.Owner, StringComparer.Ordinal)
            .ThenBy(p => p.Profile, StringComparer.Ordinal)
            .ToList();

    public static string Title(ProfileGenerations profile) =>
        profile.IsSystem ? "NixOS system"
        : profile.Profile == NixLocator.DefaultProfile ? "Default profile"
        : string.IsNullOrEmpty(profile.Owner) ? "Profile"
        : $"{profile.Owner}'s profile";

    /// <summary>What each activation mode does, in one sentence an on-call engineer can act on.</summary>
    public static string ModeDescription(string mode) => mode switch
    {
        ActivationMode.Switch => "activate now and make it the boot default",
        ActivationMode.Boot => "boot default only, takes effect at next reboot",
        ActivationMode.Test => "activate now, not the boot default; a reboot returns to the boot default",
        _ => mode,
    };

    /// <summary>"/nix/store/abcd1234…-nixos-system-web-24.05": the start of the hash and the whole name.</summary>
    public static string ShortStorePath(string storePath)
    {
        const string store = "/nix/store/";
        if (!GenerationsParser.IsStorePath(storePath)) return storePath;
        var rest = storePath[store.Length..];
        return $"{rest[..8]}…{rest[32..]}";
    }

    /// <summary>"+1.2 MiB", "−300 KiB", "±0 B".</summary>
    public static string SizeDelta(long? bytes) => bytes switch
    {
        null => "",
        0 => "±0 B",
        > 0 => "+" + Format.Bytes(bytes),
        _ => "−" + Format.Bytes(-bytes),
    };

    /// <summary>Versions as Nix prints them: "∅" for none, "ε" for a package without a version.</summary>
    public static string Versions(IReadOnlyList<string> versions) =>
        versions.Count == 0 ? "∅" : string.Join(", ", versions.Select(v => v.Length == 0 ? "ε" : v));

    static string? Number(int? n) => n?.ToString(CultureInfo.InvariantCulture);
}
