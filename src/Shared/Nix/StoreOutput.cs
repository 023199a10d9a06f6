using System.Globalization;
using System.Text.RegularExpressions;

namespace NixFleet.Shared.Nix;

/// <summary>The summary line of a garbage collection: "N store paths deleted, X MiB freed".</summary>
public sealed record GcSummary(int PathsDeleted, long BytesFreed);

/// <summary>The summary of <c>nix-store --optimise</c>: "X MiB freed by hard-linking N files".</summary>
public sealed record OptimiseSummary(long BytesFreed, int FilesLinked);

/// <summary>A store path whose contents no longer match the hash in the database.</summary>
public sealed record CorruptPath(string Path, string? ExpectedHash, string? ActualHash);

/// <summary>What <c>nix-store --verify</c> reported.</summary>
/// <param name="Corrupted">Paths whose contents changed (only found with --check-contents).</param>
/// <param name="Missing">Valid paths that are gone from disk while other valid paths still refer to them.
/// A gone path nothing refers to is only dropped from the database, which Nix does not count as an error.</param>
/// <param name="RepairAttempted">--repair was given and Nix started repairing (rebuilding or substituting).</param>
/// <param name="NotAllFixed">Nix said "not all store errors were fixed".</param>
/// <param name="Errors">Lines starting with "error:", and "warning: cannot repair path": why a repair failed, for example.</param>
public sealed record VerifyReport(
    IReadOnlyList<CorruptPath> Corrupted,
    IReadOnlyList<string> Missing,
    bool RepairAttempted,
    bool NotAllFixed,
    IReadOnlyList<string> Errors);

/// <summary>
/// Reads the output of the store maintenance commands (<see cref="StoreCommands"/>). Tested on
/// Nix 2.8's real output (Fixtures/nix-2.8) and on the lines newer versions print (Fixtures/nix-newer).
/// </summary>
public static partial class StoreOutput
{
    /// <summary>
    /// "1.00 MiB", "1.2 GiB", "512 bytes", "12.3 KiB" in bytes: Nix 2.8 prints MiB with two decimals
    /// (<c>showBytes</c>), newer versions pick the unit (<c>renderSize</c>). Null when not a size.
    /// The result is as exact as the text: "1.00 MiB" is 1048576 ± 5243 bytes.
    /// </summary>
    public static long? ParseSize(string text)
    {
        var m = SizePattern().Match(text.Trim());
        if (!m.Success || !decimal.TryParse(m.Groups["n"].Value, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
        {
            return null;
        }

        if (UnitFactor(m.Groups["u"].Value) is not { } factor || Math.Abs(n) > long.MaxValue / factor)
        {
            return null;
        }

        var bytes = Math.Round(n * factor);
        return bytes < long.MinValue || bytes > long.MaxValue ? null : (long)bytes;
    }

    /// <summary>How much <see cref="ParseSize"/> may be off: half of the last printed digit.</summary>
    public static long Rounding(string text)
    {
        var m = SizePattern().Match(text.Trim());
        if (!m.Success || UnitFactor(m.Groups["u"].Value) is not { } factor)
        {
            return 0;
        }

        var decimals = m.Groups["n"].Value.Split('.') is [_, var fraction] ? fraction.Length : 0;
        var half = factor / 2m;
        for (var i = 0; i < decimals && half > 0; i++)
        {
            half /= 10;
        }

        return (long)Math.Ceiling(half);
    }

    /// <summary>The GC summary line anywhere in the output (stdout for nix-store --gc and nix-collect-garbage).</summary>
    public static GcSummary? ParseGcSummary(string output) =>
        GcSummaryMatch(output) is { } m && ParseCount(m.Groups["n"].Value) is { } n && ParseSize(m.Groups["size"].Value) is { } bytes
            ? new GcSummary(n, bytes)
            : null;

    /// <summary>The size text of the GC summary line ("1.00 MiB"), for <see cref="Rounding"/>.</summary>
    public static string? GcSummarySize(string output) => GcSummaryMatch(output)?.Groups["size"].Value;

    /// <summary>The store paths a GC reported deleting ("deleting '/nix/store/...'" on stderr), in order.</summary>
    public static IReadOnlyList<string> DeletedPaths(string stderr) =>
        Lines(stderr).Select(l => DeletingLine().Match(l)).Where(m => m.Success).Select(m => m.Groups["p"].Value).ToList();

    /// <summary>"X freed by hard-linking N files" (stderr of nix-store --optimise).</summary>
    public static OptimiseSummary? ParseOptimise(string output)
    {
        foreach (var line in Lines(output))
        {
            var m = OptimiseLine().Match(line);
            if (m.Success && ParseSize(m.Groups["size"].Value) is { } bytes && ParseCount(m.Groups["n"].Value) is { } n)
            {
                return new OptimiseSummary(bytes, n);
            }
        }

        return null;
    }

    /// <summary>The findings of <c>nix-store --verify</c> (stderr).</summary>
    public static VerifyReport ParseVerify(string stderr)
    {
        var corrupted = new List<CorruptPath>();
        var missing = new List<string>();
        var errors = new List<string>();
        var repair = false;
        var notAllFixed = false;
        foreach (var line in Lines(stderr))
        {
            if (ModifiedLine().Match(line) is { Success: true } modified)
            {
                var path = modified.Groups["p"].Value;
                if (corrupted.All(c => c.Path != path))
                {
                    corrupted.Add(new CorruptPath(path, modified.Groups["want"].Value, modified.Groups["got"].Value));
                }
            }
            else if (DisappearedLine().Match(line) is { Success: true } gone)
            {
                if (!missing.Contains(gone.Groups["p"].Value))
                {
                    missing.Add(gone.Groups["p"].Value);
                }
            }
            else if (line.StartsWith("repairing ", StringComparison.Ordinal) || line.StartsWith("checking path '", StringComparison.Ordinal))
            {
                repair = true;
            }
            else if (line.Contains("not all store errors were fixed", StringComparison.Ordinal) || line.Contains("not all errors were fixed", StringComparison.Ordinal))
            {
                notAllFixed = true;
            }
            // A failed repair of a modified path is logged as an error, of a missing one as a warning.
            else if (line.StartsWith("error:", StringComparison.Ordinal) || line.StartsWith("warning: cannot repair path ", StringComparison.Ordinal))
            {
                errors.Add(line);
            }
        }

        return new VerifyReport(corrupted, missing, repair, notAllFixed, errors);
    }

    /// <summary>Store paths, one per line (print-dead, --requisites); anything else is skipped.</summary>
    public static IReadOnlyList<string> StorePaths(string stdout) =>
        Lines(stdout).Where(GenerationsParser.IsStorePath).ToList();

    /// <summary>The store paths <c>--print-roots</c> lists ("LINK -> PATH"), except those of the given links.</summary>
    public static IReadOnlyList<string> RootTargets(string stdout, IEnumerable<string> exceptLinks)
    {
        var skip = new HashSet<string>(exceptLinks, StringComparer.Ordinal);
        var targets = new List<string>();
        foreach (var line in Lines(stdout))
        {
            var arrow = line.LastIndexOf(" -> ", StringComparison.Ordinal);
            if (arrow < 0)
            {
                continue;
            }

            var link = line[..arrow];
            var target = line[(arrow + 4)..];
            if (!skip.Contains(link) && GenerationsParser.IsStorePath(target))
            {
                targets.Add(target);
            }
        }

        return targets.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>One number per line (<c>nix-store -q --size</c>).</summary>
    public static IReadOnlyList<long> Numbers(string stdout) =>
        Lines(stdout).Select(l => long.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : (long?)null)
            .Where(n => n is not null).Select(n => n!.Value).ToList();

    /// <summary>The byte count of <c>du -sb PATH</c> ("123456\t/nix/store").</summary>
    public static long? DuBytes(string stdout) =>
        Lines(stdout).Select(l => l.Split('\t', ' ')[0]).Select(n => long.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : (long?)null)
            .FirstOrDefault(v => v is not null);

    /// <summary>Size and free bytes from <c>df -B1 --output=size,avail</c> (a header line, then "SIZE AVAIL").</summary>
    public static (long Size, long Free)? DiskSpace(string stdout)
    {
        foreach (var line in Lines(stdout))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 &&
                long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var size) &&
                long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var free))
            {
                return (size, free);
            }
        }

        return null;
    }

    // The first summary line whose numbers read; the same one for the summary and its size text.
    private static Match? GcSummaryMatch(string output) =>
        Lines(output).Select(l => GcSummaryLine().Match(l))
            .FirstOrDefault(m => m.Success && ParseCount(m.Groups["n"].Value) is not null && ParseSize(m.Groups["size"].Value) is not null);

    // Regex \d also matches non-ASCII digits, which int.Parse refuses: text from a host must not throw.
    private static int? ParseCount(string digits) =>
        int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;

    private static decimal? UnitFactor(string unit) => unit switch
    {
        "" or "B" or "bytes" or "byte" => 1m,
        "KiB" => 1024m,
        "MiB" => 1024m * 1024,
        "GiB" => 1024m * 1024 * 1024,
        "TiB" => 1024m * 1024 * 1024 * 1024,
        "PiB" => 1024m * 1024 * 1024 * 1024 * 1024,
        "EiB" => 1024m * 1024 * 1024 * 1024 * 1024 * 1024,
        _ => null,
    };

    private static IEnumerable<string> Lines(string text) =>
        (text ?? "").Split('\n').Select(l => l.TrimEnd('\r').Trim()).Where(l => l.Length > 0);

    [GeneratedRegex(@"^(?<n>-?\d+(\.\d+)?)\s*(?<u>[KMGTPE]iB|B|bytes?)?$")]
    private static partial Regex SizePattern();

    [GeneratedRegex(@"^(?<n>\d+) store paths? deleted, (?<size>-?\d+(\.\d+)?\s*([KMGTPE]iB|B|bytes?)) freed\b")]
    private static partial Regex GcSummaryLine();

    [GeneratedRegex(@"^deleting '(?<p>/nix/store/[^']+)'$")]
    private static partial Regex DeletingLine();

    [GeneratedRegex(@"^(?<size>-?\d+(\.\d+)?\s*([KMGTPE]iB|B|bytes?)) freed by hard-linking (?<n>\d+) files?\b")]
    private static partial Regex OptimiseLine();

    [GeneratedRegex(@"^path '(?<p>/nix/store/[^']+)' was modified! expected hash '(?<want>[^']*)', got '(?<got>[^']*)'")]
    private static partial Regex ModifiedLine();

    // Not "disappeared, removing from database...": nothing refers to that path, Nix drops it and exits 0.
    [GeneratedRegex(@"^path '(?<p>/nix/store/[^']+)' disappeared, but it still has valid referrers")]
    private static partial Regex DisappearedLine();
}
