using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace NixFleet.Shared.Nix;

/// <summary>Reads the output of <see cref="FactsProbe.Script"/>. Pure: text in, facts out.</summary>
public static partial class FactsParser
{
    /// <summary>One "@@name argument" section and its content, with the "|" prefixes removed.</summary>
    public sealed record Section(string Name, string Argument, IReadOnlyList<string> Lines)
    {
        public string Text => string.Join('\n', Lines);

        public string? FirstLine => Lines.FirstOrDefault(l => l.Trim().Length > 0)?.Trim();
    }

    public static HostFacts Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var sections = ReadSections(output);

        var osRelease = ParseOsRelease(Find(sections, "os-release")?.Text ?? "");
        var os = osRelease.GetValueOrDefault("NAME") ?? osRelease.GetValueOrDefault("ID") ?? "Linux";
        var osVersion = osRelease.GetValueOrDefault("VERSION_ID") ?? "";
        var isNixOS = osRelease.GetValueOrDefault("ID") == "nixos" ||
            Find(sections, "nixos-marker")?.FirstLine == "yes";

        // "root nixbld 1775"; stat prints UNKNOWN for a uid without a passwd entry.
        var storeFields = (Find(sections, "store")?.FirstLine ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var hasStore = storeFields.Length >= 1;
        var storeOwner = hasStore && storeFields[0] != "UNKNOWN" ? storeFields[0] : null;
        var daemonSocket = Find(sections, "daemon-socket")?.FirstLine == "yes";
        var buildUsersGroup = ParseNixConf(Find(sections, "nix-conf")?.Text ?? "").ContainsKey("build-users-group");

        var nixBin = Find(sections, "nix-bin")?.FirstLine;
        var nixVersion = NixOutput.ParseVersion(Find(sections, "nix-version")?.Text ?? "");

        var installType = ClassifyInstall(hasStore, nixBin is not null, storeOwner, daemonSocket, buildUsersGroup);

        // The profile whose generations NixFleet manages: the system on NixOS, root's default
        // profile on a multi-user install, the owner's profile on a single-user one.
        var profileSection = installType switch
        {
            _ when isNixOS => Find(sections, "generation", "system"),
            NixInstallType.MultiUser => Find(sections, "generation", "default"),
            NixInstallType.SingleUser => Find(sections, "generation", "owner"),
            _ => null,
        };
        var (generation, profile) = ParseGeneration(profileSection);

        var channels = new List<ChannelFact>();
        foreach (var section in sections.Where(s => s.Name == "channels" && s.Argument.Length > 0)
                     .DistinctBy(s => s.Argument))
        {
            channels.AddRange(NixOutput.ParseChannelList(section.Text)
                .Select(c => new ChannelFact(section.Argument, c.Name, c.Url)));
        }

        return new HostFacts(
            Os: os,
            OsVersion: osVersion,
            IsNixOS: isNixOS,
            NixVersion: nixVersion,
            InstallType: installType,
            StoreOwner: storeOwner,
            Channels: channels,
            CurrentGeneration: generation,
            CurrentGenerationProfile: profile,
            CurrentSystemPath: Find(sections, "current-system")?.FirstLine,
            StoreSizeBytes: FirstNumber(Find(sections, "store-size")?.FirstLine),
            DiskFreeBytes: LastNumber(Find(sections, "disk-free")),
            KernelVersion: Find(sections, "kernel")?.FirstLine,
            NixBinDirectory: nixBin,
            DiskSizeBytes: LastNumber(Find(sections, "disk-size")));
    }

    /// <summary>
    /// single-user: the store belongs to an ordinary user (even if a daemon socket lingers, say
    /// half-way through a conversion: Nix must still run as that user). multi-user: the store
    /// belongs to root. none: no store or no Nix binary.
    /// </summary>
    public static string ClassifyInstall(
        bool hasStore, bool hasNixBinary, string? storeOwner, bool daemonSocket, bool buildUsersGroup)
    {
        if (!hasStore || !hasNixBinary)
        {
            return NixInstallType.None;
        }

        if (storeOwner == "root")
        {
            return NixInstallType.MultiUser;
        }

        if (storeOwner is null)
        {
            // Owner has no passwd entry: go by the other signs of a multi-user install.
            return daemonSocket || buildUsersGroup ? NixInstallType.MultiUser : NixInstallType.SingleUser;
        }

        return NixInstallType.SingleUser;
    }

    /// <summary>Splits the probe output into its sections, in order. Lines outside any section are ignored.</summary>
    public static IReadOnlyList<Section> ReadSections(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var sections = new List<Section>();
        string? name = null;
        var argument = "";
        List<string> lines = [];

        foreach (var raw in output.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith("@@", StringComparison.Ordinal))
            {
                Flush();
                var header = line[2..].Trim();
                var space = header.IndexOf(' ');
                (name, argument) = space < 0 ? (header, "") : (header[..space], header[(space + 1)..].Trim());
                lines = [];
            }
            else if (name is not null && line.StartsWith('|'))
            {
                lines.Add(line[1..]);
            }
        }

        Flush();
        return sections;

        void Flush()
        {
            if (name is not null)
            {
                sections.Add(new Section(name, argument, lines));
            }
        }
    }

    /// <summary>os-release's KEY=value lines, with shell quoting removed.</summary>
    public static IReadOnlyDictionary<string, string> ParseOsRelease(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            var eq = line.IndexOf('=');
            if (line.StartsWith('#') || eq <= 0)
            {
                continue;
            }

            values[line[..eq]] = Unquote(line[(eq + 1)..]);
        }

        return values;
    }

    /// <summary>nix.conf's "name = value" settings (later lines win, as in Nix).</summary>
    public static IReadOnlyDictionary<string, string> ParseNixConf(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var hash = raw.IndexOf('#');
            var line = (hash >= 0 ? raw[..hash] : raw).Trim();
            var eq = line.IndexOf('=');
            if (eq <= 0)
            {
                continue;
            }

            values[line[..eq].Trim()] = line[(eq + 1)..].Trim();
        }

        return values;
    }

    private static Section? Find(IReadOnlyList<Section> sections, string name, string argument = "") =>
        sections.FirstOrDefault(s => s.Name == name && s.Argument == argument);

    // Two lines: the profile ("/nix/var/nix/profiles/system") and the generation link it points
    // at ("system-42-link").
    private static (int? Generation, string? Profile) ParseGeneration(Section? section)
    {
        if (section is null || section.Lines.Count < 2)
        {
            return (null, null);
        }

        var match = GenerationLink().Match(section.Lines[1].Trim());
        if (!match.Success ||
            !int.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var generation))
        {
            return (null, null);
        }

        return (generation, section.Lines[0].Trim());
    }

    private static long? FirstNumber(string? line)
    {
        var token = line?.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        return long.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;
    }

    // df prints a header ("Avail") and then the number.
    private static long? LastNumber(Section? section) =>
        section?.Lines.Select(l => FirstNumber(l)).LastOrDefault(n => n is not null);

    private static string Unquote(string value)
    {
        if (value.Length >= 2 && value[0] == '\'' && value[^1] == '\'')
        {
            return value[1..^1];
        }

        if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
        {
            var inner = value[1..^1];
            var result = new StringBuilder(inner.Length);
            for (var i = 0; i < inner.Length; i++)
            {
                if (inner[i] == '\\' && i + 1 < inner.Length && inner[i + 1] is '"' or '\\' or '$' or '`')
                {
                    i++;
                }

                result.Append(inner[i]);
            }

            return result.ToString();
        }

        return value;
    }

    [GeneratedRegex(@"^.+-(\d+)-link$")]
    private static partial Regex GenerationLink();
}
