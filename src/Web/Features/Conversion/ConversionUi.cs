using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Nix;
using NixFleet.Web.Components;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Accounts;
using NixFleet.Web.Features.Maintenance;

namespace NixFleet.Web.Features.Conversion;

/// <summary>How the conversion pages link to each other, colour statuses and read stored results, in one place.</summary>
public static class ConversionUi
{
    public static string PageUrl(Guid hostId) => $"/hosts/{hostId}/convert";
    public static string PlanUrl(Guid hostId, Guid planId) => $"/hosts/{hostId}/convert?plan={planId}";
    public static string ReceiptUrl(Guid hostId) => $"/hosts/{hostId}/convert/receipt";
    public static string PlanStatusUrl(Guid hostId, Guid planId) => $"/hosts/{hostId}/convert/plans/{planId}/status";

    /// <summary>What an admin types before converting many hosts at once.</summary>
    public const string BatchPhrase = "convert to multi-user";

    /// <summary>A stored dry run's plan; null for anything else (a real run, no result yet).</summary>
    public static ConvertHandler.PlanResult? ReadPlan(Operation op) =>
        op.Kind == ConvertHandler.KindName && IsDryRun(op) ? HostMaintenanceUi.Read<ConvertHandler.PlanResult>(op.Result) : null;

    /// <summary>A stored conversion's or revert's result; null for a dry run or no result yet.</summary>
    public static ConvertHandler.Result? ReadResult(Operation op) =>
        op.Kind is ConvertHandler.KindName or ConvertHandler.RevertKindName && !IsDryRun(op) ? HostMaintenanceUi.Read<ConvertHandler.Result>(op.Result) : null;

    public static bool IsDryRun(Operation op) =>
        op.Kind == ConvertHandler.KindName && HostMaintenanceUi.Read<ConvertHandler.Parameters>(op.Parameters) is { DryRun: true };

    /// <summary>The host's dry run <paramref name="id"/>; null when it is not one.</summary>
    public static Task<Operation?> PlanOperationAsync(NixFleetDb db, Guid hostId, Guid id, CancellationToken ct) =>
        db.Operations.AsNoTracking()
            .Where(o => o.Id == id && o.HostId == hostId && o.Kind == ConvertHandler.KindName && o.Parameters != null && EF.Functions.JsonContains(o.Parameters, DryRunJson))
            .FirstOrDefaultAsync(ct);

    const string DryRunJson = """{"dryRun": true}""";

    /// <summary>
    /// What a revert does for the conversion a receipt records: the plan's "how it is undone" of
    /// each step that ran, newest first (the order the revert takes).
    /// </summary>
    public static bool CanRevert(ConversionReceipt r) => r.Status != ConversionReceipt.Reverted;

    public static string CheckCss(string status) => status switch
    {
        PreflightCheck.Ok => "bg-green-lt",
        PreflightCheck.Warning => "bg-yellow-lt",
        _ => "bg-red text-red-fg",
    };

    public static string StepCss(string status) => status switch
    {
        ReceiptStep.Done => "bg-green-lt",
        ReceiptStep.Running => "bg-blue text-blue-fg",
        ReceiptStep.Failed or ReceiptStep.RevertFailed => "bg-red text-red-fg",
        ReceiptStep.Reverted => "bg-purple-lt",
        _ => "bg-secondary-lt",
    };

    public static string ReceiptCss(string status) => status switch
    {
        ConversionReceipt.Converted => "bg-green text-green-fg",
        ConversionReceipt.Converting or ConversionReceipt.Reverting => "bg-blue text-blue-fg",
        ConversionReceipt.Reverted => "bg-purple-lt",
        _ => "bg-red text-red-fg",
    };

    /// <summary>The receipt's status in words, saying what the host is.</summary>
    public static string ReceiptLabel(string status) => status switch
    {
        ConversionReceipt.Converted => "Converted: multi-user",
        ConversionReceipt.Converting => "Conversion did not finish",
        ConversionReceipt.Reverting => "Revert did not finish",
        ConversionReceipt.Reverted => "Reverted: single-user",
        ConversionReceipt.RevertFailed => "Revert failed",
        _ => status,
    };

    /// <summary>The operation that made a receipt (its id is the operation's, formatted "N").</summary>
    public static Guid? OperationOf(ConversionReceipt r) => Guid.TryParseExact(r.Id, "N", out var id) ? id : null;

    /// <summary>The convert page's waiting card asks here until the dry run ends, then reloads the page to show the plan.</summary>
    public static void MapConversionUi(this WebApplication app)
    {
        app.MapGet("/hosts/{hostId:guid}/convert/plans/{id:guid}/status", async (Guid hostId, Guid id, NixFleetDb db, HttpContext http, CancellationToken ct) =>
        {
            if (!Htmx.IsRequest(http.Request)) return Results.Redirect(PlanUrl(hostId, id));
            if (await PlanOperationAsync(db, hostId, id, ct) is not { } op) return Results.NotFound();
            if (OperationStatus.IsFinished(op.Status)) http.Response.Headers["HX-Refresh"] = "true";
            return Htmx.Fragment<PlanWaiting>(http, new Dictionary<string, object?>
            {
                [nameof(PlanWaiting.Operation)] = op,
            });
        }).RequireAuthorization(Policies.Admin).ExcludeFromDescription();
    }
}
