using System.Globalization;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Components;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Accounts;
using NixFleet.Web.Features.Audit;

namespace NixFleet.Web.Features.Operations;

/// <summary>The operations pages' fragments: the polled list, an operation's header, its live output.</summary>
public static class OperationsUi
{
    public const int PageSize = 50;
    static readonly string[] Statuses =
        [OperationStatus.Queued, OperationStatus.Running, OperationStatus.Succeeded, OperationStatus.Failed, OperationStatus.Cancelled];

    public sealed record ListPage(IReadOnlyList<Operation> Items, IReadOnlyDictionary<Guid, string> HostNames, string? Status, int Page, int Total);

    public static string? NormalStatus(string? status) => Statuses.Contains(status) ? status : null;

    public static string PageUrl(string? status, int page) =>
        Format.Url("/operations", ("status", status), ("page", page > 1 ? page.ToString(CultureInfo.InvariantCulture) : null));

    public static string FragmentUrl(string? status, int page) =>
        Format.Url("/operations/table", ("status", status), ("page", page > 1 ? page.ToString(CultureInfo.InvariantCulture) : null));

    public static async Task<ListPage> LoadAsync(NixFleetDb db, string? status, int page, CancellationToken ct)
    {
        status = NormalStatus(status);
        page = Math.Max(1, page);
        var q = db.Operations.AsNoTracking();
        if (status is not null) q = q.Where(o => o.Status == status);
        var total = await q.CountAsync(ct);
        var items = await q.OrderByDescending(o => o.CreatedAt).Skip((page - 1) * PageSize).Take(PageSize).ToListAsync(ct);
        return new ListPage(items, await HostNamesAsync(db, items, ct), status, page, total);
    }

    public static async Task<IReadOnlyDictionary<Guid, string>> HostNamesAsync(NixFleetDb db, IEnumerable<Operation> operations, CancellationToken ct)
    {
        var ids = operations.Where(o => o.HostId is not null).Select(o => o.HostId!.Value).Distinct().ToList();
        if (ids.Count == 0) return new Dictionary<Guid, string>();
        return await db.Hosts.AsNoTracking().Where(h => ids.Contains(h.Id)).ToDictionaryAsync(h => h.Id, h => h.Name, ct);
    }

    public static async Task<string?> HostNameAsync(NixFleetDb db, Guid? hostId, CancellationToken ct) =>
        hostId is { } id ? await db.Hosts.AsNoTracking().Where(h => h.Id == id).Select(h => h.Name).FirstOrDefaultAsync(ct) : null;

    public static void MapOperationsUi(this WebApplication app)
    {
        app.MapGet("/operations/table", async (string? status, int? page, NixFleetDb db, HttpContext http, CancellationToken ct) =>
        {
            if (!Htmx.IsRequest(http.Request)) return Results.Redirect(PageUrl(NormalStatus(status), page ?? 1));
            var list = await LoadAsync(db, status, page ?? 1, ct);
            return Htmx.Fragment<OperationsResults>(http, new Dictionary<string, object?> { [nameof(OperationsResults.Page)] = list });
        }).RequireAuthorization(Policies.View).ExcludeFromDescription();

        app.MapGet("/operations/{id:guid}/header", async (Guid id, NixFleetDb db, HttpContext http, IAuthorizationService auth, CancellationToken ct) =>
        {
            if (!Htmx.IsRequest(http.Request)) return Results.Redirect($"/operations/{id}");
            var op = await db.Operations.AsNoTracking().FirstOrDefaultAsync(o => o.Id == id, ct);
            if (op is null) return Results.NotFound();
            return Htmx.Fragment<OperationHeader>(http, new Dictionary<string, object?>
            {
                [nameof(OperationHeader.Operation)] = op,
                [nameof(OperationHeader.HostName)] = await HostNameAsync(db, op.HostId, ct),
                [nameof(OperationHeader.CanCancel)] = (await auth.AuthorizeAsync(http.User, Policies.Operate)).Succeeded,
            });
        }).RequireAuthorization(Policies.View).ExcludeFromDescription();

        // The page's live output: the same tail as the API's, authenticated by the session cookie.
        // The page passes ?after=<last seq it rendered>; a reconnecting browser sends Last-Event-ID.
        app.MapGet("/operations/{id:guid}/stream", (Guid id, HttpContext http, IServiceScopeFactory scopes, CancellationToken ct) =>
            TypedResults.ServerSentEvents(OperationsApi.Tail(id, OperationsApi.LastEventId(http), scopes, ct)))
            .RequireAuthorization(Policies.View).ExcludeFromDescription();
    }

    /// <summary>Cancel from the page: the same queue call and audit entry as the API's.</summary>
    public static async Task<bool> CancelAsync(OperationQueue queue, Auditor audit, Guid id, string actor, CancellationToken ct)
    {
        var ok = await queue.CancelAsync(id, actor, ct);
        await audit.RecordAsync(actor, "operation.cancel", $"operation:{id}", null, ok ? "ok" : "refused: not queued or running", ct);
        return ok;
    }
}
