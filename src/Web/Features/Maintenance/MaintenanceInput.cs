using System.Text.Json;
using System.Text.RegularExpressions;
using NixFleet.Shared.Nix;
using NixFleet.Web.Features.Generations;
using NixFleet.Web.Features.Hosts;
using Quartz;

namespace NixFleet.Web.Features.Maintenance;

/// <summary>
/// The edge: every maintenance request (API or form) is checked here before anything is queued.
/// Errors are per field, in words an operator can act on.
/// </summary>
public static partial class MaintenanceInput
{
    public const int MaxProfiles = 20;
    public const int MaxParallelism = 64;
    public static readonly string BadDays = $"Older than D days: D from 1 to {GenerationPolicy.MaxDays}.";
    public const string BadKeepLast = GenerationsService.BadKeepLast;
    public const string BadPercent = "A percentage from 1 to 99.";
    public static readonly string BadParallelism = $"How many hosts at once: 1 to {MaxParallelism}.";

    /// <summary>The GC asked for; what was wrong goes into <paramref name="errors"/>.</summary>
    public sealed record GcRequest(string? Mode, JsonElement? OlderThanDays, JsonElement? KeepLast, IReadOnlyList<string?>? Profiles, bool? DryRun);

    public static GcHandler.Parameters? ReadGc(GcRequest body, Dictionary<string, string[]> errors, bool forPolicy = false)
    {
        var mode = body.Mode;
        if (string.IsNullOrWhiteSpace(mode) || !GcMode.All.Contains(mode))
            errors["mode"] = [$"The mode must be one of {string.Join(", ", GcMode.All)}."];
        else if (forPolicy && mode == GcMode.DeleteOld)
            errors["mode"] = ["deleteOld removes every rollback target; a policy runs unattended, so it cannot do that. Use keepLast or olderThan."];

        var days = ReadInt(body.OlderThanDays, "olderThanDays", BadDays, errors);
        var keep = ReadInt(body.KeepLast, "keepLast", BadKeepLast, errors);
        if (mode == GcMode.OlderThan && days is null && !errors.ContainsKey("olderThanDays")) errors["olderThanDays"] = ["olderThan needs olderThanDays. " + BadDays];
        if (days is { } d && (d < 1 || d > GenerationPolicy.MaxDays)) errors["olderThanDays"] = [BadDays];
        if (days is not null && mode is not null && mode != GcMode.OlderThan) errors["olderThanDays"] = ["olderThanDays goes only with mode olderThan."];
        if (mode == GcMode.KeepLast && keep is null && !errors.ContainsKey("keepLast")) errors["keepLast"] = ["keepLast needs keepLast. " + BadKeepLast];
        if (keep is { } k && (k < 1 || k > GenerationsService.MaxKeepLast)) errors["keepLast"] = [BadKeepLast];
        if (keep is not null && mode is not null && mode != GcMode.KeepLast) errors["keepLast"] = ["keepLast goes only with mode keepLast."];

        var profiles = new List<string>();
        if (body.Profiles is { Count: > 0 } given)
        {
            if (mode == GcMode.Plain) errors["profiles"] = ["A plain GC deletes no generations: profiles go with keepLast, olderThan or deleteOld."];
            else if (given.Count > MaxProfiles) errors["profiles"] = [$"At most {MaxProfiles} profiles."];
            else if (given.FirstOrDefault(p => !IsProfilePath(p)) is var bad && given.Any(p => !IsProfilePath(p)))
                errors["profiles"] = [$"'{Shown(bad)}' is not a profile path: an absolute path such as /nix/var/nix/profiles/system, of letters, digits and . _ - + @ /, with no '..'."];
            else profiles.AddRange(given.Distinct()!);
        }

        return errors.Count > 0 ? null : new GcHandler.Parameters(mode!, days, keep, profiles, body.DryRun ?? false);
    }

    /// <summary>Warnings a person must see before confirming (the API returns them with the policy).</summary>
    public static IReadOnlyList<string> Warnings(string mode, int? keepLast) => mode switch
    {
        GcMode.DeleteOld => ["Deletes every old generation of every profile: no rollback target is left, only what runs now and what boots next."],
        GcMode.KeepLast when keepLast < 2 => ["Keeps only the current generation: nothing is left to roll back to."],
        _ => [],
    };

    public static int? ReadPercent(JsonElement? value, string field, Dictionary<string, string[]> errors)
    {
        var n = ReadInt(value, field, BadPercent, errors);
        if (n is < 1 or > 99) errors[field] = [BadPercent];
        return n;
    }

    public static int ReadParallelism(JsonElement? value, int fallback, Dictionary<string, string[]> errors)
    {
        var n = ReadInt(value, "parallelism", BadParallelism, errors) ?? fallback;
        if (n is < 1 or > MaxParallelism) errors["parallelism"] = [BadParallelism];
        return n;
    }

    /// <summary>A Quartz cron expression (seconds first), e.g. "0 0 3 * * ?" for 03:00 UTC every day.</summary>
    public static string? CronError(string? cron)
    {
        if (string.IsNullOrWhiteSpace(cron)) return "Give a schedule: a Quartz cron expression such as 0 0 3 * * ? (03:00 UTC daily).";
        if (cron.Length > 200 || cron.Any(char.IsControl)) return "At most 200 characters, one line.";
        if (cron.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length is < 6 or > 7)
            return "A Quartz cron expression has 6 or 7 fields, seconds first: '0 0 3 * * ?' is 03:00 UTC daily ('0 3 * * *' in crontab terms).";
        try
        {
            var expression = new CronExpression(cron, TimeZoneInfo.Utc);
            if (expression.GetNextValidTimeAfter(DateTimeOffset.UtcNow) is null) return "This schedule never fires again.";
            return null;
        }
        catch (FormatException e)
        {
            return $"Not a valid cron expression: {e.Message}";
        }
    }

    public static string? NameError(string? name) =>
        string.IsNullOrWhiteSpace(name) ? "Give the policy a name."
        : name.Length > 100 ? "At most 100 characters."
        : !GenerationsService.IsPlainReason(name) ? "A name is one line of plain text."
        : null;

    public static string? TagError(string? tag) =>
        tag is null || HostRules.Tag().IsMatch(tag) ? null
        : "Tags are 1-32 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.";

    public static bool IsProfilePath(string? path) =>
        path is { Length: > 1 and <= 255 } && ProfilePath().IsMatch(path) &&
        !path.Split('/').Any(part => part is "." or "..") && !path.Contains("//", StringComparison.Ordinal) && !path.EndsWith('/');

    /// <summary>A whole number, or null when absent; anything else is an error on the field.</summary>
    public static int? ReadInt(JsonElement? value, string field, string message, Dictionary<string, string[]> errors)
    {
        if (value is not { ValueKind: not JsonValueKind.Null } v) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n)) return n;
        errors[field] = [message];
        return null;
    }

    /// <summary>A refused value as it can be shown back: printable, and not too long.</summary>
    static string Shown(string? value)
    {
        var printable = new string((value ?? "").Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return printable.Length > 80 ? printable[..80] + "…" : printable;
    }

    [GeneratedRegex(@"^/[A-Za-z0-9._+@/-]+\z")]
    private static partial Regex ProfilePath();
}
