using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Components;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Accounts;

namespace NixFleet.Web.Features.Hosts;

/// <summary>The hosts page's fragment: the table that search, tag filter, sort and paging replace.</summary>
public static class HostsUi
{
    public static void MapHostsUi(this WebApplication app)
    {
        app.MapGet(HostsQuery.FragmentPath, async (string? q, string? tag, string? sort, int? page, HostService hosts, HttpContext http, CancellationToken ct) =>
        {
            var query = HostsQuery.From(q, tag, sort, page);
            // Opened directly (no htmx): the page itself shows the same thing.
            if (!Htmx.IsRequest(http.Request)) return Results.Redirect(query.PageUrl);
            var result = await hosts.ListAsync(query.ToListQuery(), ct);
            Htmx.PushUrl(http, query.PageUrl);
            return Htmx.Fragment<HostsTable>(http, new Dictionary<string, object?>
            {
                [nameof(HostsTable.Hosts)] = result.Items,
                [nameof(HostsTable.Total)] = result.Total,
                [nameof(HostsTable.Query)] = query,
                [nameof(HostsTable.OutOfBand)] = true,
            });
        }).RequireAuthorization(Policies.View).ExcludeFromDescription();
    }

    /// <summary>Every tag in use, for the filter (one pass over the tags array column).</summary>
    public static Task<List<string>> TagsAsync(NixFleetDb db, CancellationToken ct) =>
        db.Hosts.AsNoTracking().SelectMany(h => h.Tags).Distinct().OrderBy(t => t).Take(1000).ToListAsync(ct);
}
