using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Maintenance;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Conversion;

/// <summary>Queues conversions to multi-user, their dry runs and reverts, after the edge checks (<see cref="ReadOptions"/>).</summary>
public sealed class ConversionService(NixFleetDb db, OperationQueue queue, Auditor audit)
{
    public const string BadNumber = "A whole number.";
    public const string NeedDryRun = "Say dryRun: true to read the plan (nothing changes), or false to convert.";

    /// <summary>
    /// A dry run only reads, so it does not need the host; a conversion takes the host's lock and is
    /// refused while another change (a GC, a rollback) holds it.
    /// </summary>
    public async Task<QueueOutcome> RequestConvertAsync(FleetHost host, ConvertHandler.Parameters p, string actor, CancellationToken ct)
    {
        if (QueueOutcome.UnlessTrusted(host) is { } refusal) return refusal;
        if (p.DryRun) return new QueueOutcome.Queued(await queue.EnqueueAsync(ConvertHandler.KindName, host.Id, p, actor, ct));
        return await ChangeAsync(host, ConvertHandler.KindName, p, "host.convert.request", actor, ct);
    }

    public async Task<QueueOutcome> RequestRevertAsync(FleetHost host, string actor, CancellationToken ct) =>
        QueueOutcome.UnlessTrusted(host) ?? await ChangeAsync(host, ConvertHandler.RevertKindName, new { }, "host.convert.revert.request", actor, ct);

    /// <summary>Many hosts as one operation; the hosts are chosen when it starts.</summary>
    public async Task<Operation> RequestBatchAsync(ConvertBatchHandler.Parameters p, string actor, CancellationToken ct)
    {
        var op = await queue.EnqueueAsync(ConvertBatchHandler.KindName, null, p, actor, ct);
        if (!p.DryRun)
            await audit.RecordAsync(actor, "host.convert.batch.request", "fleet", new { operationId = op.Id, p.HostIds, p.Tag, p.Options, p.Parallelism }, "queued", ct);
        return op;
    }

    /// <summary>The host's newest receipt as the database holds it, or null when it was never converted.</summary>
    public async Task<(HostConversion Row, ConversionReceipt Receipt)?> ReceiptAsync(Guid hostId, CancellationToken ct) =>
        await db.HostConversions.AsNoTracking().FirstOrDefaultAsync(c => c.HostId == hostId, ct) is { } row
            && ConversionPreflightParser.ReadReceipt(row.Receipt) is { } receipt
            ? (row, receipt)
            : null;

    /// <summary>The options asked for (JSON numbers only; absent ones take the defaults), or null with the errors.</summary>
    public static ConversionOptions? ReadOptions(JsonElement? buildUsers, JsonElement? groupId, JsonElement? firstUserId, Dictionary<string, string[]> errors)
    {
        var defaults = new ConversionOptions();
        var options = new ConversionOptions(
            MaintenanceInput.ReadInt(buildUsers, "buildUsers", BadNumber, errors) ?? defaults.BuildUsers,
            MaintenanceInput.ReadInt(groupId, "groupId", BadNumber, errors) ?? defaults.GroupId,
            MaintenanceInput.ReadInt(firstUserId, "firstUserId", BadNumber, errors) ?? defaults.FirstUserId);
        foreach (var (field, messages) in options.Errors()) errors.TryAdd(field, messages);
        return errors.Count == 0 ? options : null;
    }

    async Task<QueueOutcome> ChangeAsync(FleetHost host, string kind, object parameters, string action, string actor, CancellationToken ct)
    {
        try
        {
            var op = await queue.EnqueueChangeAsync(kind, host, parameters, actor, ct);
            await audit.RecordAsync(actor, action, HostService.HostTarget(host), new { operationId = op.Id, parameters }, "queued", ct);
            return new QueueOutcome.Queued(op);
        }
        catch (HostBusyException e)
        {
            await audit.RecordAsync(actor, action, HostService.HostTarget(host), new { parameters }, $"refused: {e.Message}", ct);
            return new QueueOutcome.Busy(e.Message);
        }
    }

}
