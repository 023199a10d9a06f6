using System.Globalization;
using NixFleet.Web.Components;

namespace NixFleet.Web.Features.Hosts;

/// <summary>
/// What the hosts list shows (search, tag, sort, page), and the two URLs for it: the page, which
/// works without JavaScript, and the fragment htmx swaps in. Both keep every parameter.
/// </summary>
public sealed record HostsQuery(string? Q = null, string? Tag = null, string? Sort = null, int Page = 1)
{
    public const int PageSize = 50;
    public const string PagePath = "/hosts";
    public const string FragmentPath = "/hosts/table";

    /// <summary>The columns that sort (HostService.ListAsync); a leading '-' is descending.</summary>
    public static readonly string[] SortColumns = ["name", "address", "lastSeen", "status"];

    public static HostsQuery From(string? q, string? tag, string? sort, int? page) => new(
        string.IsNullOrWhiteSpace(q) ? null : q.Trim(),
        string.IsNullOrWhiteSpace(tag) ? null : tag.Trim(),
        sort is not null && SortColumns.Contains(sort.TrimStart('-')) && sort != "name" ? sort : null,
        Math.Max(1, page ?? 1));

    public string SortColumn => (Sort ?? "name").TrimStart('-');
    public bool Descending => Sort?.StartsWith('-') == true;

    /// <summary>Click on a column: sort by it, or reverse it when it is already the sort.</summary>
    public HostsQuery SortBy(string column)
    {
        var next = SortColumn == column && !Descending ? "-" + column : column;
        return this with { Sort = next == "name" ? null : next, Page = 1 };
    }

    public HostsQuery WithPage(int page) => this with { Page = page };
    public HostsQuery WithTag(string? tag) => this with { Tag = tag, Page = 1 };

    public string PageUrl => Url(PagePath);
    public string FragmentUrl => Url(FragmentPath);

    string Url(string path) => Format.Url(path,
        ("q", Q), ("tag", Tag), ("sort", Sort), ("page", Page > 1 ? Page.ToString(CultureInfo.InvariantCulture) : null));

    public HostService.ListQuery ToListQuery() => new(Q, Tag, Sort, Page, PageSize);
}
