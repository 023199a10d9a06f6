using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Nix;
using NixFleet.Web.Components;
using NixFleet.Web.Data;

namespace NixFleet.Web.Features.Maintenance;

/// <summary>
/// One host's store maintenance as the pages show it: where the page is, what a finished gc,
/// optimise, verify or gc-batch says it did (read from the stored result with the handlers' own
/// records), and that in one line for the table of recent runs.
/// </summary>
public static class HostMaintenanceUi
{
    public static string PageUrl(Guid hostId) => $"/hosts/{hostId}/maintenance";

    /// <summary>The operation kinds the host's maintenance page lists.</summary>
    public static readonly string[] Kinds = [GcHandler.KindName, OptimiseHandler.KindName, VerifyHandler.KindName];

    /// <summary>What gc-batch stores (an anonymous object there): the totals, without the per-host rows the page lists already.</summary>
    public sealed record GcBatchResult(int Total, int Succeeded, int Failed, long BytesFreed);

    /// <summary>A stored result or parameters as the handler's record; null when absent or not readable (written by another version).</summary>
    public static T? Read<T>(string? json) where T : class
    {
        if (string.IsNullOrWhiteSpace(json)) return null;
        try
        {
            return JsonSerializer.Deserialize<T>(json, JsonSerializerOptions.Web);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A gc that was asked to change nothing.</summary>
    public static bool IsDryRun(Operation op) =>
        op.Kind == GcHandler.KindName && Read<GcHandler.Parameters>(op.Parameters) is { DryRun: true };

    /// <summary>What the host's store chart draws: the last 200 facts collections and the finished real gc runs.</summary>
    public static async Task<(List<StoreSample> Samples, List<GcRunView> Runs)> ChartAsync(NixFleetDb db, Guid hostId, CancellationToken ct)
    {
        // The last 200 collections, oldest first, as the time axis runs.
        var samples = await db.HostFacts.AsNoTracking().Where(f => f.HostId == hostId)
            .OrderByDescending(f => f.CollectedAt).Take(200)
            .OrderBy(f => f.CollectedAt)
            .Select(f => new StoreSample(f.CollectedAt, f.StoreSizeBytes, f.DiskFreeBytes, f.DiskSizeBytes))
            .ToListAsync(ct);
        var runs = await GcRunView.Finished(db.Operations.AsNoTracking().Where(o => o.HostId == hostId))
            .OrderByDescending(o => o.CreatedAt).Take(50)
            .Select(o => new GcRunView(o.Id, o.HostId, null, o.Status, o.FinishedAt ?? o.CreatedAt, GcRunNumbers.Parse(o.Result)))
            .ToListAsync(ct);
        return (samples, runs);
    }

    /// <summary>The host's newest dry run that succeeded: what the confirmation quotes.</summary>
    public static Task<Operation?> LatestDryRunAsync(NixFleetDb db, Guid hostId, CancellationToken ct) =>
        db.Operations.AsNoTracking()
            .Where(o => o.HostId == hostId && o.Kind == GcHandler.KindName && o.Status == OperationStatus.Succeeded
                && o.Parameters != null && EF.Functions.JsonContains(o.Parameters, DryRunJson))
            .OrderByDescending(o => o.CreatedAt)
            .FirstOrDefaultAsync(ct);

    const string DryRunJson = """{"dryRun": true}""";

    /// <summary>The mode with its numbers, as the confirmation says it.</summary>
    public static string WhatItDoes(GcHandler.Parameters p) => p.Mode switch
    {
        GcMode.Plain => "Deletes only store paths that nothing uses any more. No generation is deleted: every rollback target stays.",
        GcMode.OlderThan => $"Deletes the generations older than {p.OlderThanDays} day{(p.OlderThanDays == 1 ? "" : "s")} of the profiles below " +
            "(the newest of those stays, as it was in use then; the one that runs and the boot default always stay), then the store paths only they used.",
        GcMode.KeepLast => $"Keeps the last {p.KeepLast} generation{(p.KeepLast == 1 ? "" : "s")} of each profile below, counted from the one it points at " +
            "(newer ones, the one that runs and the boot default stay too), deletes the older ones, then the store paths only they used.",
        GcMode.DeleteOld => "Deletes every old generation of the profiles below, then the store paths only they used. " +
            "This removes every rollback target: only what runs now and what boots next are left.",
        _ => p.Mode,
    };

    /// <summary>Whether two GC requests ask for the same thing (a dry run quoted for another is only a hint).</summary>
    public static bool SameRequest(GcHandler.Parameters a, GcHandler.Parameters b) =>
        a.Mode == b.Mode && a.OlderThanDays == b.OlderThanDays && a.KeepLast == b.KeepLast
        && (a.Profiles ?? []).Order(StringComparer.Ordinal).SequenceEqual((b.Profiles ?? []).Order(StringComparer.Ordinal));

    /// <summary>"1.0 MiB (1,048,576 bytes)": readable, and exact for whoever compares with du.</summary>
    public static string ExactBytes(long bytes) => $"{Format.Bytes(bytes)} ({bytes.ToString("N0", CultureInfo.InvariantCulture)} bytes)";

    /// <summary>A handler's "Seconds" as a duration.</summary>
    public static string Seconds(double seconds) => Format.Duration(DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddSeconds(seconds), DateTimeOffset.UnixEpoch);

    /// <summary>"generations 3, 4 and 7".</summary>
    public static string Numbers(IReadOnlyList<int> numbers)
    {
        var text = numbers.Order().Select(n => n.ToString(CultureInfo.InvariantCulture)).ToList();
        return text.Count switch
        {
            0 => "none",
            1 => $"generation {text[0]}",
            _ => $"generations {string.Join(", ", text[..^1])} and {text[^1]}",
        };
    }

    /// <summary>What a maintenance operation came to, in a few words for the table of recent runs; empty while it has no result.</summary>
    public static string Summary(Operation op)
    {
        switch (op.Kind)
        {
            case GcHandler.KindName when Read<GcHandler.Result>(op.Result) is { } gc:
                if (gc.Skipped) return $"skipped: {gc.SkipReason}";
                if (gc.DryRun) return $"would free {Format.Bytes(gc.WouldFree ?? 0)} ({Paths(gc.PathsWouldDelete ?? 0)})";
                if (op.Status != OperationStatus.Succeeded) return "did not finish: see the operation";
                return $"freed {Format.Bytes(gc.BytesFreed)} ({Paths(gc.PathsDeleted)})";
            case OptimiseHandler.KindName when Read<OptimiseHandler.Result>(op.Result) is { } optimise:
                return $"freed {Format.Bytes(optimise.BytesFreed)} ({optimise.FilesLinked.ToString(CultureInfo.InvariantCulture)} files linked)";
            case VerifyHandler.KindName when Read<VerifyHandler.Result>(op.Result) is { } verify:
                var repaired = verify.Findings.Count(f => f.Repaired == true);
                return verify.Findings.Count == 0 ? (verify.Healthy ? "healthy: no problems found" : $"not healthy: nix-store exited {verify.ExitCode}")
                    : verify.Healthy ? $"healthy again: {Findings(verify.Findings.Count)}, {repaired} repaired"
                    : $"not healthy: {Findings(verify.Findings.Count)}, {verify.Findings.Count - repaired} not repaired";
            default:
                return "";
        }
    }

    static string Paths(int n) => n == 1 ? "1 path" : $"{n.ToString(CultureInfo.InvariantCulture)} paths";
    static string Findings(int n) => n == 1 ? "1 finding" : $"{n.ToString(CultureInfo.InvariantCulture)} findings";
}
