using System.Globalization;
using System.Text.RegularExpressions;

namespace NixFleet.Shared.Nix;

public enum PackageChangeKind
{
    Added,
    Removed,

    /// <summary>Versions changed, or (with both version lists empty) only the size did.</summary>
    Changed,
}

/// <summary>One line of <c>nix store diff-closures</c>: "hello: 1.0 → 2.0, +12.3 KiB".</summary>
/// <param name="From">Versions only in the first closure; empty for ∅. A package without a version (Nix prints ε) is "".</param>
/// <param name="To">Versions only in the second closure.</param>
/// <param name="SizeDeltaBytes">Null when Nix printed no size: it does so only for changes of 8 KiB or more.</param>
public sealed record PackageChange(
    string Name, IReadOnlyList<string> From, IReadOnlyList<string> To, long? SizeDeltaBytes)
{
    public PackageChangeKind Kind => (From.Count, To.Count) switch
    {
        (0, > 0) => PackageChangeKind.Added,
        (> 0, 0) => PackageChangeKind.Removed,
        _ => PackageChangeKind.Changed,
    };
}

/// <param name="SizeDeltaBytes">The sum of the sizes Nix printed: changes under 8 KiB per package are not in it.</param>
/// <param name="Raw">The output as Nix printed it, without its colour codes.</param>
public sealed record ClosureDiff(IReadOnlyList<PackageChange> Changes, long SizeDeltaBytes, string Raw);

/// <summary>
/// Reads <c>nix --extra-experimental-features nix-command store diff-closures A B</c> (Nix 2.8 and
/// later). Nix colours the size (red grows, green shrinks) even when the output is not a terminal;
/// the colour codes are removed. Nix 2.8 prints sizes as "+12.3 KiB"; later versions as "12.3 KiB",
/// "-1.5 MiB": both are read. Lines that fit no form are left out of <see cref="ClosureDiff.Changes"/>
/// but stay in <see cref="ClosureDiff.Raw"/>.
/// </summary>
public static partial class DiffClosures
{
    public static ClosureDiff Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var raw = Ansi().Replace(output, "");
        var changes = new List<PackageChange>();
        foreach (var line in raw.Split('\n'))
        {
            if (ParseLine(line.TrimEnd('\r')) is { } change)
            {
                changes.Add(change);
            }
        }

        return new ClosureDiff(changes, changes.Sum(c => c.SizeDeltaBytes ?? 0), raw);
    }

    /// <summary>One line, colour codes already removed. Null when it is not a change line.</summary>
    public static PackageChange? ParseLine(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var colon = line.IndexOf(": ", StringComparison.Ordinal);
        if (colon <= 0)
        {
            return null;
        }

        var name = line[..colon].Trim();
        var items = line[(colon + 2)..].Trim();
        if (name.Length == 0 || name.Contains(' ') || items.Length == 0)
        {
            return null;
        }

        long? size = null;
        var lastComma = items.LastIndexOf(", ", StringComparison.Ordinal);
        var lastItem = lastComma < 0 ? items : items[(lastComma + 2)..];
        if (ParseSize(lastItem) is { } bytes)
        {
            size = bytes;
            items = lastComma < 0 ? "" : items[..lastComma];
        }

        if (items.Length == 0)
        {
            return size is null ? null : new PackageChange(name, [], [], size);
        }

        var arrow = items.IndexOf(" → ", StringComparison.Ordinal);
        if (arrow < 0)
        {
            return null;
        }

        return new PackageChange(name, Versions(items[..arrow]), Versions(items[(arrow + 3)..]), size);
    }

    /// <summary>"+12.3 KiB", "-1.5 MiB", "8.0 KiB" in bytes; null when it is not a size.</summary>
    public static long? ParseSize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var match = Size().Match(text.Trim());
        if (!match.Success ||
            !double.TryParse(match.Groups["value"].Value, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint,
                CultureInfo.InvariantCulture, out var value))
        {
            return null;
        }

        var power = "KMGTPE".IndexOf(match.Groups["unit"].Value[0]) + 1;
        return (long)Math.Round(value * Math.Pow(1024, power));
    }

    private static string[] Versions(string text)
    {
        var trimmed = text.Trim();
        if (trimmed is "∅" or "")
        {
            return [];
        }

        return trimmed.Split(", ").Select(v => v.Trim() == "ε" ? "" : v.Trim()).ToArray();
    }

    // CSI sequences ("\e[31;1m", "\e[0m") and the rare two-character escapes.
    [GeneratedRegex(@"\x1B(?:\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_])")]
    private static partial Regex Ansi();

    [GeneratedRegex(@"^(?<value>[+-]?\d+(?:\.\d+)?) (?<unit>[KMGTPE]iB)$")]
    private static partial Regex Size();
}
