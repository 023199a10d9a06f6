using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using Quartz;

namespace NixFleet.Web.Features.Maintenance;

/// <summary>How the maintenance pages name things, read forms and link to each other, in one place.</summary>
public static class MaintenanceUi
{
    public const string PagePath = "/maintenance";
    public const string NewPolicyPath = "/maintenance/policies/new";
    public static string PolicyUrl(Guid id) => $"/maintenance/policies/{id}";

    /// <summary>What an operator types before a real deleteOld GC on many hosts.</summary>
    public const string DeleteOldPhrase = "delete all old generations";

    /// <summary>How many fire times the schedule hints show.</summary>
    public const int FireTimesShown = 3;

    public static string ModeTitle(string mode) => mode switch
    {
        GcMode.Plain => "Unused paths only",
        GcMode.OlderThan => "Generations older than D days",
        GcMode.KeepLast => "Keep the last K generations",
        GcMode.DeleteOld => "Every old generation",
        _ => mode,
    };

    /// <summary>What each mode does, in words an on-call engineer can act on.</summary>
    public static string ModeDescription(string mode) => mode switch
    {
        GcMode.Plain => "Deletes only store paths that nothing uses any more. Every generation stays, so every rollback target stays.",
        GcMode.OlderThan => "Deletes the generations older than D days (never the one that runs, nor the boot default), then the paths only they used. Newer rollback targets stay.",
        GcMode.KeepLast => "Keeps the newest K generations of each profile (and always the one that runs), deletes the older ones, then the paths only they used.",
        GcMode.DeleteOld => "Deletes every old generation of every profile, then the paths only they used. It removes every rollback target: only what runs now and what boots next are left.",
        _ => mode,
    };

    /// <summary>"plain", "older than 14 days", "keep last 3".</summary>
    public static string ModeSummary(string mode, int? olderThanDays, int? keepLast) => mode switch
    {
        GcMode.Plain => "plain (unused paths only)",
        GcMode.OlderThan => $"older than {olderThanDays?.ToString(CultureInfo.InvariantCulture) ?? "?"} days",
        GcMode.KeepLast => $"keep last {keepLast?.ToString(CultureInfo.InvariantCulture) ?? "?"}",
        GcMode.DeleteOld => "delete every old generation",
        _ => mode,
    };

    /// <summary>How much of /nix's file system is free, from a host's facts; null when the facts do not say.</summary>
    public static double? FreePercent(HostFactsRecord? facts) => FreePercent(facts?.DiskFreeBytes, facts?.DiskSizeBytes);

    /// <summary>Free bytes as a percentage of the file system's size; null unless both are known.</summary>
    public static double? FreePercent(long? freeBytes, long? sizeBytes) =>
        freeBytes is { } free && sizeBytes is > 0 and { } size ? free * 100.0 / size : null;

    /// <summary>"7.5%", or "—" when unknown.</summary>
    public static string Percent(double? percent) =>
        percent is { } p ? p.ToString("0.#", CultureInfo.InvariantCulture) + "%" : "—";

    /// <summary>The next fire times of a Quartz cron expression in UTC; empty when it is not valid or never fires.</summary>
    public static IReadOnlyList<DateTimeOffset> NextFireTimes(string? cron, DateTimeOffset after, int count = FireTimesShown)
    {
        if (string.IsNullOrWhiteSpace(cron) || MaintenanceInput.CronError(cron) is not null) return [];
        var expression = new CronExpression(cron.Trim(), TimeZoneInfo.Utc);
        var times = new List<DateTimeOffset>();
        var at = after;
        while (times.Count < count && expression.GetNextValidTimeAfter(at) is { } next)
        {
            times.Add(next);
            at = next;
        }
        return times;
    }

    /// <summary>"Sun 2026-11-22 03:00": a fire time in UTC, with the weekday (schedules are often weekly).</summary>
    public static string FireTime(DateTimeOffset at)
    {
        var utc = at.UtcDateTime;
        return utc.ToString(utc.Second == 0 ? "ddd yyyy-MM-dd HH:mm" : "ddd yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
    }

    /// <summary>"in 5 min", "in 3 h", "in 2 days"; for a time that has come, "now".</summary>
    public static string Until(DateTimeOffset at, DateTimeOffset now)
    {
        var d = at - now;
        return d <= TimeSpan.Zero ? "now"
            : d.TotalSeconds < 60 ? "in under a minute"
            : d.TotalMinutes < 60 ? $"in {(int)d.TotalMinutes} min"
            : d.TotalHours < 48 ? $"in {(int)d.TotalHours} h"
            : $"in {(int)d.TotalDays} days";
    }

    /// <summary>
    /// A number typed in a form, as the API would receive it: empty is absent, a whole number is a
    /// JSON number, anything else goes as text so the service refuses it with the field's own message.
    /// </summary>
    public static JsonElement? Number(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        return int.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
            ? JsonSerializer.SerializeToElement(n)
            : JsonSerializer.SerializeToElement(text.Trim());
    }

    /// <summary>One value per non-empty line (profile paths); null when there are none.</summary>
    public static IReadOnlyList<string?>? Lines(string? text)
    {
        var lines = (text ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? null : lines;
    }

    public static string? Text(int? n) => n?.ToString(CultureInfo.InvariantCulture);

    /// <summary>The fleet summary card's data: each host's latest numbers and the last real garbage collections.</summary>
    public static async Task<FleetStoreSummary.Input> StoreSummaryAsync(NixFleetDb db, CancellationToken ct)
    {
        var usage = await db.Hosts.AsNoTracking().Where(h => h.LatestFacts != null)
            .Select(h => new HostStoreUsage(h.Id, h.Name, h.LatestFacts!.StoreSizeBytes, h.LatestFacts.DiskFreeBytes, h.LatestFacts.DiskSizeBytes))
            .ToListAsync(ct);
        var runs = await GcRunView.Finished(db.Operations.AsNoTracking())
            .OrderByDescending(o => o.CreatedAt).Take(FleetStoreSummary.MaxRuns)
            .Select(o => new GcRunView(o.Id, o.HostId, db.Hosts.Where(h => h.Id == o.HostId).Select(h => h.Name).FirstOrDefault(),
                o.Status, o.FinishedAt ?? o.CreatedAt, GcRunNumbers.Parse(o.Result)))
            .ToListAsync(ct);
        return new(usage, runs);
    }
}
