using System.Globalization;
using System.Text.RegularExpressions;

namespace NixFleet.Shared.Nix;

/// <summary>One generation (NAME-N-link) of a profile, as <see cref="GenerationsProbe"/> saw it.</summary>
/// <param name="Date">The link's mtime: the date <c>nix-env --list-generations</c> shows (in the host's local time).</param>
/// <param name="StorePath">What the generation link points at.</param>
/// <param name="Current">What runs: for a system profile, <c>/run/current-system</c> is this store path; for any other profile, the same as <paramref name="BootDefault"/>.</param>
/// <param name="BootDefault">The profile points at this generation (for the system profile: what the next boot starts).</param>
/// <param name="NixosVersion">The generation's <c>nixos-version</c> file (system profiles only).</param>
/// <param name="KernelVersion">Its <c>kernel-version</c> file, else the version in the name of the store path <c>kernel</c> links into ("linux-6.6.30").</param>
/// <param name="HasSwitchToConfiguration">Its <c>bin/switch-to-configuration</c> is executable (system profiles only).</param>
public sealed record Generation(
    int Number,
    DateTimeOffset Date,
    string StorePath,
    bool Current,
    bool BootDefault,
    string? NixosVersion,
    string? KernelVersion,
    bool HasSwitchToConfiguration);

/// <summary>A profile and its generations, newest first.</summary>
/// <param name="Profile">The path to give <c>nix-env -p</c>.</param>
/// <param name="Owner">Owner of the profile link (who made it); empty when the host could not say.</param>
public sealed record ProfileGenerations(string Profile, string Owner, IReadOnlyList<Generation> Generations)
{
    /// <summary>A NixOS system profile: its generations are activated with <c>bin/switch-to-configuration</c>.</summary>
    public bool IsSystem { get; init; }

    /// <summary>The generation the profile points at, if it still exists.</summary>
    public Generation? BootDefault => Generations.FirstOrDefault(g => g.BootDefault);

    /// <summary>The generation that runs, if any does (see <see cref="Generation.Current"/>).</summary>
    public Generation? Current => Generations.FirstOrDefault(g => g.Current);

    public Generation? Find(int number) => Generations.FirstOrDefault(g => g.Number == number);

    /// <summary>
    /// What <c>nix-env --rollback</c> would switch to: the highest generation below the one the
    /// profile points at. Null when there is none (or the profile points at a missing generation).
    /// </summary>
    public Generation? Previous =>
        BootDefault is { } boot ? Generations.Where(g => g.Number < boot.Number).MaxBy(g => g.Number) : null;
}

/// <summary>Everything one run of <see cref="GenerationsProbe.Script"/> reports.</summary>
/// <param name="ProbeUser">Who ran the probe.</param>
/// <param name="CurrentSystem">Target of <c>/run/current-system</c>: what runs on a NixOS host.</param>
/// <param name="BootedSystem">Target of <c>/run/booted-system</c>: what the host last booted.</param>
public sealed record GenerationsReport(
    string? ProbeUser, string? CurrentSystem, string? BootedSystem, IReadOnlyList<ProfileGenerations> Profiles);

/// <summary>One line of <c>nix-env --list-generations</c>.</summary>
/// <param name="Date">As printed: the host's local time, with no zone.</param>
public sealed record ListedGeneration(int Number, DateTime Date, bool Current);

/// <summary>Reads the output of <see cref="GenerationsProbe.Script"/>. Pure: text in, generations out.</summary>
public static partial class GenerationsParser
{
    public static IReadOnlyList<ProfileGenerations> Parse(string output) => ParseReport(output).Profiles;

    public static GenerationsReport ParseReport(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var sections = FactsParser.ReadSections(output);
        var currentSystem = StorePathOrNull(First(sections, "current-system"));
        var bootedSystem = StorePathOrNull(First(sections, "booted-system"));

        var profiles = new List<ProfileGenerations>();
        foreach (var section in sections.Where(s => s.Name == "profile"))
        {
            if (ParseProfile(section, currentSystem) is { } profile && profiles.All(p => p.Profile != profile.Profile))
            {
                profiles.Add(profile);
            }
        }

        return new GenerationsReport(First(sections, "probe-user"), currentSystem, bootedSystem, profiles);
    }

    /// <summary><c>nix-env --list-generations</c>: "   3   2026-11-23 13:44:08   (current)" per line, oldest first.</summary>
    public static IReadOnlyList<ListedGeneration> ParseListGenerations(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var generations = new List<ListedGeneration>();
        foreach (var line in output.Split('\n'))
        {
            var match = ListedLine().Match(line.TrimEnd('\r'));
            if (match.Success &&
                int.TryParse(match.Groups["n"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var number) &&
                DateTime.TryParseExact(match.Groups["date"].Value, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture,
                    DateTimeStyles.None, out var date))
            {
                generations.Add(new ListedGeneration(number, date, match.Groups["current"].Success));
            }
        }

        return generations;
    }

    /// <summary>A store path: <c>/nix/store/</c>, a 32-character hash, a dash, a name of store path characters.</summary>
    public static bool IsStorePath(string? path) => path is not null && StorePathPattern().IsMatch(path);

    /// <summary>
    /// The kernel version in the name of the store path a system's <c>kernel</c> links into:
    /// "/nix/store/…-linux-6.6.30/bzImage" gives "6.6.30", "…-linux-rpi-6.1.63-stable_20231123/Image"
    /// gives "6.1.63-stable_20231123". Null when the name says no version.
    /// </summary>
    public static string? KernelVersionFromPath(string? kernelLink)
    {
        if (kernelLink is null)
        {
            return null;
        }

        var directory = kernelLink.TrimEnd('/');
        var slash = directory.LastIndexOf('/');
        if (slash > "/nix/store".Length)
        {
            directory = directory[..slash];
        }

        if (!IsStorePath(directory))
        {
            return null;
        }

        var name = directory["/nix/store/".Length..][33..];
        var match = KernelName().Match(name);
        return match.Success ? match.Groups[1].Value : null;
    }

    private static ProfileGenerations? ParseProfile(FactsParser.Section section, string? currentSystem)
    {
        // The first of each line wins.
        string? path = null, owner = null, points = null, systemFlag = null;
        var links = new SortedDictionary<int, (long Mtime, string Target)>();
        var nixosVersions = new Dictionary<int, string>();
        var kernelVersions = new Dictionary<int, string>();
        var kernels = new Dictionary<int, string>();
        var switchScripts = new HashSet<int>();

        foreach (var line in section.Lines)
        {
            var space = line.IndexOf(' ');
            var key = space < 0 ? line : line[..space];
            var value = space < 0 ? "" : line[(space + 1)..];
            switch (key)
            {
                case "path":
                    path ??= value;
                    break;
                case "owner":
                    owner ??= value.Trim();
                    break;
                case "points":
                    points ??= value.Trim();
                    break;
                case "system":
                    systemFlag ??= value.Trim();
                    break;
                case "generation":
                    var fields = value.Split(' ');
                    if (fields.Length == 3 && ParseNumber(fields[0]) is { } number &&
                        long.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var mtime) &&
                        mtime <= MaxUnixSeconds && IsStorePath(fields[2]))
                    {
                        links.TryAdd(number, (mtime, fields[2]));
                    }

                    break;
                case "nixos-version":
                    AddPerGeneration(nixosVersions, value);
                    break;
                case "kernel-version":
                    AddPerGeneration(kernelVersions, value);
                    break;
                case "kernel":
                    AddPerGeneration(kernels, value);
                    break;
                case "switch-to-configuration":
                    if (SplitPerGeneration(value) is ({ } n, "yes"))
                    {
                        switchScripts.Add(n);
                    }

                    break;
            }
        }

        if (path is null || !path.StartsWith('/') || path.EndsWith('/'))
        {
            return null;
        }

        var system = systemFlag == "yes";

        // The link the profile points at must be one of its own: "NAME-N-link".
        var name = path[(path.LastIndexOf('/') + 1)..];
        int? pointsAt = points is not null && points.Length > name.Length + "--link".Length &&
            points.StartsWith(name + "-", StringComparison.Ordinal) && points.EndsWith("-link", StringComparison.Ordinal)
            ? ParseNumber(points[(name.Length + 1)..^"-link".Length])
            : null;

        var generations = links.Reverse().Select(link =>
        {
            var (number, (mtime, target)) = (link.Key, link.Value);
            var bootDefault = number == pointsAt;
            return new Generation(
                number,
                DateTimeOffset.FromUnixTimeSeconds(mtime),
                target,
                Current: system ? target == currentSystem : bootDefault,
                BootDefault: bootDefault,
                NixosVersion: system ? NonEmpty(nixosVersions.GetValueOrDefault(number)) : null,
                KernelVersion: system
                    ? NonEmpty(kernelVersions.GetValueOrDefault(number)) ?? KernelVersionFromPath(kernels.GetValueOrDefault(number))
                    : null,
                HasSwitchToConfiguration: system && switchScripts.Contains(number));
        }).ToList();

        return new ProfileGenerations(path, owner ?? "", generations) { IsSystem = system };
    }

    private static void AddPerGeneration(Dictionary<int, string> values, string value)
    {
        if (SplitPerGeneration(value) is ({ } number, var rest))
        {
            values.TryAdd(number, rest);
        }
    }

    // "3 24.05.1234.abcdef0" → (3, "24.05.1234.abcdef0").
    private static (int? Number, string Value) SplitPerGeneration(string value)
    {
        var space = value.IndexOf(' ');
        return space < 0 ? (ParseNumber(value), "") : (ParseNumber(value[..space]), value[(space + 1)..].Trim());
    }

    private static int? ParseNumber(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static string? First(IReadOnlyList<FactsParser.Section> sections, string name) =>
        sections.FirstOrDefault(s => s.Name == name)?.FirstLine;

    private static string? StorePathOrNull(string? path) => IsStorePath(path) ? path : null;

    // DateTimeOffset's range ends in the year 9999.
    private const long MaxUnixSeconds = 253402300799;

    [GeneratedRegex(@"^/nix/store/[0-9a-z]{32}-[A-Za-z0-9+\-._?=]+\z")]
    private static partial Regex StorePathPattern();

    [GeneratedRegex(@"^(?:linux|kernel)[A-Za-z_-]*?-(\d+\.\d+[A-Za-z0-9+._-]*)$")]
    private static partial Regex KernelName();

    [GeneratedRegex(@"^\s*(?<n>\d+)\s+(?<date>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\s*(?<current>\(current\))?\s*$")]
    private static partial Regex ListedLine();
}
