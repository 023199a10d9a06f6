using System.Globalization;

namespace NixFleet.Shared.Nix;

/// <summary>The garbage collection modes NixFleet offers (the API's "mode" values).</summary>
public static class GcMode
{
    /// <summary><c>nix-collect-garbage</c>: only unreachable paths; every generation stays.</summary>
    public const string Plain = "plain";

    /// <summary><c>--delete-older-than Nd</c>, then collect.</summary>
    public const string OlderThan = "olderThan";

    /// <summary><c>nix-env -p P --delete-generations +K</c> on chosen profiles, then collect.</summary>
    public const string KeepLast = "keepLast";

    /// <summary>
    /// Like <c>nix-collect-garbage -d</c>: every old generation goes, so no rollback is left. Unlike
    /// it, the generation that runs and generations newer than the current one stay.
    /// </summary>
    public const string DeleteOld = "deleteOld";

    public static readonly IReadOnlyList<string> All = [Plain, OlderThan, KeepLast, DeleteOld];
}

/// <summary>What to collect: a <see cref="GcMode"/> and its parameters, already validated.</summary>
/// <param name="Profiles">Profiles whose generations may be deleted; empty for every profile of the host.</param>
public sealed record GcOptions(string Mode, int? OlderThanDays, int? KeepLast, IReadOnlyList<string> Profiles)
{
    /// <summary>The deletion policy for generations, or null when the mode deletes none.</summary>
    public DeletionPolicy? Policy => Mode switch
    {
        GcMode.OlderThan => GenerationPolicy.OlderThanDays(OlderThanDays ?? 0),
        GcMode.KeepLast => GenerationPolicy.KeepLast(KeepLast ?? 0),
        // -d keeps only the generation the profile points at; NixFleet also keeps the one that runs.
        GcMode.DeleteOld => GenerationPolicy.KeepLast(1),
        _ => null,
    };
}

/// <summary>Generations of one profile a GC deletes first.</summary>
public sealed record ProfileDeletion(string Profile, string Owner, IReadOnlyList<int> Generations)
{
    /// <summary>The generation links (<c>PROFILE-N-link</c>), which are GC roots until deleted.</summary>
    public IEnumerable<string> Links => Generations.Select(n => Profile + "-" + n.ToString(CultureInfo.InvariantCulture) + "-link");
}

/// <summary>
/// Which generations a GC deletes before collecting. NixFleet deletes them by number with
/// <c>nix-env -p P --delete-generations N M ...</c> (so what goes is exactly what the dry run
/// showed) rather than letting <c>nix-collect-garbage -d / --delete-older-than</c> choose: those
/// keep only the generation each profile points at, and a NixOS host may run another one
/// (after a "boot" or "test" activation). <see cref="GenerationPolicy.Preview"/> keeps both.
/// </summary>
public static class GcPlanner
{
    /// <param name="profiles">The host's profiles as <see cref="GenerationsProbe"/> lists them.</param>
    /// <param name="now">The host's clock.</param>
    public static IReadOnlyList<ProfileDeletion> GenerationsToDelete(
        IReadOnlyList<ProfileGenerations> profiles, GcOptions options, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(profiles);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Policy is not { } policy)
        {
            return [];
        }

        var chosen = options.Profiles.Count == 0
            ? profiles
            : profiles.Where(p => options.Profiles.Contains(p.Profile)).ToList();
        return chosen
            .Select(p => new ProfileDeletion(p.Profile, p.Owner, GenerationPolicy.Preview(p, policy, now).Select(g => g.Number).ToList()))
            .Where(d => d.Generations.Count > 0)
            .ToList();
    }

    /// <summary>Requested profiles the host does not have.</summary>
    public static IReadOnlyList<string> MissingProfiles(IReadOnlyList<ProfileGenerations> profiles, GcOptions options)
    {
        ArgumentNullException.ThrowIfNull(profiles);
        ArgumentNullException.ThrowIfNull(options);
        return options.Profiles.Where(wanted => profiles.All(p => p.Profile != wanted)).ToList();
    }

    /// <summary>
    /// What a GC after deleting those generations would delete: the dead paths now, plus the paths
    /// only the deleted generations keep alive (their closure less the closure of every other root).
    /// </summary>
    public static IReadOnlyList<string> WouldDie(
        IEnumerable<string> deadNow, IEnumerable<string> closureOfDoomed, IEnumerable<string> closureOfRemainingRoots)
    {
        var kept = new HashSet<string>(closureOfRemainingRoots, StringComparer.Ordinal);
        return deadNow.Concat(closureOfDoomed.Where(p => !kept.Contains(p)))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
    }
}

/// <summary>
/// The store maintenance commands as argument lists; run them through
/// <see cref="NixLocator.Command"/> (the host's binary, as the store's owner on a single-user install).
/// </summary>
public static class StoreCommands
{
    /// <summary>At most this many store paths per command line.</summary>
    public const int PathsPerCommand = 500;

    /// <summary><c>nix-store --gc</c>: deletes every unreachable path; prints the summary line on stdout.</summary>
    public static IReadOnlyList<string> CollectGarbage() => ["nix-store", "--gc"];

    /// <summary><c>nix-store --gc --print-dead</c>: what <see cref="CollectGarbage"/> would delete now, changing nothing.</summary>
    public static IReadOnlyList<string> PrintDead() => ["nix-store", "--gc", "--print-dead"];

    /// <summary><c>nix-store --gc --print-roots</c>: "LINK -> STORE_PATH" per root.</summary>
    public static IReadOnlyList<string> PrintRoots() => ["nix-store", "--gc", "--print-roots"];

    /// <summary><c>nix-store -q --requisites PATH...</c>: the closure (paths or links to them).</summary>
    public static IReadOnlyList<string> Requisites(IReadOnlyCollection<string> paths) =>
        ["nix-store", "--query", "--requisites", .. CheckPaths(paths, allowLinks: true)];

    /// <summary><c>nix-store -q --size PATH...</c>: NAR size of each, one per line, in order.</summary>
    public static IReadOnlyList<string> Sizes(IReadOnlyCollection<string> storePaths) =>
        ["nix-store", "--query", "--size", .. CheckPaths(storePaths, allowLinks: false)];

    /// <summary><c>nix-store --optimise</c>: hard-links identical files; the summary goes to stderr.</summary>
    public static IReadOnlyList<string> Optimise() => ["nix-store", "--optimise"];

    /// <summary><c>nix-store --verify [--check-contents] [--repair]</c>: findings on stderr; exit 1 when some remain.</summary>
    public static IReadOnlyList<string> Verify(bool checkContents, bool repair) =>
        ["nix-store", "--verify", .. checkContents ? ["--check-contents"] : Array.Empty<string>(), .. repair ? ["--repair"] : Array.Empty<string>()];

    /// <summary><c>nix-store --verify-path PATH</c>: exit 0 when the path's contents match its hash.</summary>
    public static IReadOnlyList<string> VerifyPath(string storePath) =>
        ["nix-store", "--verify-path", .. CheckPaths([storePath], allowLinks: false)];

    /// <summary>
    /// <c>du -sb /nix/store</c>, the same measure as the facts probe; not a Nix tool, so run as is
    /// (reading needs no particular user). Five minutes at most on a huge store.
    /// </summary>
    public static IReadOnlyList<string> StoreSize() => ["timeout", "300", "du", "-sb", NixLocator.StoreDirectory];

    /// <summary><c>df -B1 --output=size,avail /nix</c>: the file system's size and free bytes.</summary>
    public static IReadOnlyList<string> DiskSpace() => ["df", "-B1", "--output=size,avail", "/nix"];

    private static IEnumerable<string> CheckPaths(IReadOnlyCollection<string> paths, bool allowLinks)
    {
        ArgumentNullException.ThrowIfNull(paths);
        if (paths.Count is 0 or > PathsPerCommand)
        {
            throw new ArgumentException($"Give 1 to {PathsPerCommand} paths.", nameof(paths));
        }

        foreach (var path in paths)
        {
            var ok = GenerationsParser.IsStorePath(path) ||
                (allowLinks && path.StartsWith('/') && !path.Contains('\n') && !path.Contains('\0') &&
                 !path.Split('/').Any(part => part is "." or "..") && path.EndsWith("-link", StringComparison.Ordinal));
            if (!ok)
            {
                throw new ArgumentException($"'{path}' is not a store path{(allowLinks ? " or a generation link" : "")}.", nameof(paths));
            }
        }

        return paths;
    }
}
