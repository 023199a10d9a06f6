using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Maintenance;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Conversion;

/// <summary>
/// "convert-batch": a conversion (or its dry run) on many hosts with a parallelism limit. Each
/// host's part is a "convert" operation of its own (its own lock, output, receipt and audit), so
/// the result has a row per host: how its part ended and with what outcome.
/// </summary>
public sealed class ConvertBatchHandler(ILogger<ConvertBatchHandler> logger) : IOperationHandler
{
    public const string KindName = "convert-batch";
    public string Kind => KindName;

    /// <param name="HostIds">These hosts; else the hosts with <paramref name="Tag"/>.</param>
    public sealed record Parameters(IReadOnlyList<Guid>? HostIds, string? Tag, bool DryRun, ConversionOptions Options, int Parallelism);

    /// <summary>The hosts chosen when the run started: a recovered run works on the same ones.</summary>
    public sealed record Checkpoint(IReadOnlyList<Guid> HostIds);

    /// <param name="Outcome">The part's own outcome (converted, already-converted, refused...); null when it has none.</param>
    public sealed record HostRow(Guid HostId, string Host, Guid? OperationId, string Status, string? Outcome, string? Error);

    public sealed record Result(int Total, int Succeeded, int Failed, IReadOnlyList<HostRow> Hosts);

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var p = context.Parameters<Parameters>() ?? throw new OperationFailedException("no parameters");
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var chosen = context.Checkpoint<Checkpoint>()?.HostIds;
        if (chosen is null)
        {
            chosen = await Scope(db, p).Select(h => h.Id).ToListAsync(ct);
            await context.SaveCheckpointAsync(new Checkpoint(chosen), ct);
        }
        var hosts = await db.Hosts.AsNoTracking().Where(h => chosen.Contains(h.Id)).OrderBy(h => h.Name).ToListAsync(ct);
        var children = new ChildOperations(context);
        await children.LoadAsync(ct);
        var parts = new ConcurrentBag<ChildOperations.HostResult>();
        context.Log.Info($"{(p.DryRun ? "dry run of the conversion" : "conversion")} to multi-user on {hosts.Count} host(s), {p.Parallelism} at a time");

        await Parallel.ForEachAsync(hosts, new ParallelOptions { MaxDegreeOfParallelism = p.Parallelism, CancellationToken = ct }, async (host, token) =>
        {
            if (host.HostKeyStatus != HostKeyStatus.Trusted)
            {
                parts.Add(new ChildOperations.HostResult(host.Id, host.Name, null, ConvertHandler.KindName, "skipped", $"host key is {host.HostKeyStatus}"));
                return;
            }
            parts.Add(await children.RunAsync(host, ConvertHandler.KindName, new ConvertHandler.Parameters(p.DryRun, p.Options), token));
        });

        var rows = await RowsAsync(db, parts.OrderBy(r => r.Host).ToList(), p.DryRun, ct);
        var failed = rows.Count(r => r.Status != OperationStatus.Succeeded);
        context.Log.Info($"done: {rows.Count - failed} succeeded, {failed} failed or skipped");
        logger.LogInformation("Conversion batch {Id}: {Ok}/{All} hosts succeeded", context.Operation.Id, rows.Count - failed, rows.Count);
        var result = new Result(rows.Count, rows.Count - failed, failed, rows);
        if (failed > 0) throw new OperationFailedException($"{failed} of {rows.Count} host(s) did not succeed", result);
        return result;
    }

    public static IQueryable<FleetHost> Scope(NixFleetDb db, Parameters p) =>
        p.HostIds is { Count: > 0 } ids ? db.Hosts.AsNoTracking().Where(h => ids.Contains(h.Id))
        : db.Hosts.AsNoTracking().Where(h => h.Tags.Contains(p.Tag!));

    /// <summary>Each part with the outcome its own result names.</summary>
    static async Task<List<HostRow>> RowsAsync(NixFleetDb db, IReadOnlyList<ChildOperations.HostResult> parts, bool dryRun, CancellationToken ct)
    {
        var ids = parts.Where(r => r.OperationId is not null).Select(r => r.OperationId!.Value).ToList();
        var results = await db.Operations.AsNoTracking().Where(o => ids.Contains(o.Id)).ToDictionaryAsync(o => o.Id, o => o.Result, ct);
        return parts.Select(r => new HostRow(r.HostId, r.Host, r.OperationId, r.Status,
            r.OperationId is { } id ? Outcome(results.GetValueOrDefault(id), dryRun) : null, r.Error)).ToList();
    }

    static string? Outcome(string? json, bool dryRun) => dryRun
        ? HostMaintenanceUi.Read<ConvertHandler.PlanResult>(json) is { } plan ? PlanOutcome(plan) : null
        : HostMaintenanceUi.Read<ConvertHandler.Result>(json)?.Outcome;

    /// <summary>What a dry run found: nothing to do, a host that can be converted, or one whose preflight refuses.</summary>
    public static string PlanOutcome(ConvertHandler.PlanResult plan) =>
        plan.Plan.NoOp is not null ? ConversionResult.AlreadyConverted : plan.Preflight.CanConvert ? CanConvert : ConversionResult.Refused;

    public const string CanConvert = "can-convert";
}
