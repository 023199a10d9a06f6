using System.Web;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Hosts;

namespace NixFleet.Web.Tests.Components;

public sealed class HostsTableTests
{
    static Task<AngleSharp.Dom.IDocument> Render(IReadOnlyList<FleetHost> hosts, HostsQuery query, int? total = null, bool oob = false) =>
        Html.RenderAsync<HostsTable>(new()
        {
            [nameof(HostsTable.Hosts)] = hosts,
            [nameof(HostsTable.Total)] = total ?? hosts.Count,
            [nameof(HostsTable.Query)] = query,
            [nameof(HostsTable.OutOfBand)] = oob,
            [nameof(HostsTable.Now)] = Fakes.Now,
        });

    [Fact]
    public async Task Table_RendersARowPerHost_AndAChangedKeyAsARedAlarm()
    {
        var hosts = new[]
        {
            Fakes.Host("alpha", tags: "web"),
            Fakes.Host("bravo", HostKeyStatus.Changed),
            Fakes.Host("charlie", HostKeyStatus.Unverified, reachable: false),
        };
        var doc = await Render(hosts, new HostsQuery());

        var rows = doc.QuerySelectorAll("table.hosts-table tbody tr");
        Assert.Equal(["alpha", "bravo", "charlie"], rows.Select(r => r.GetAttribute("data-host")));

        var changed = rows[1];
        Assert.Contains("table-danger", changed.ClassList);
        var badge = changed.QuerySelector(".hostkey-badge");
        Assert.Equal("CHANGED", badge.Text());
        Assert.Contains("bg-red", badge!.ClassList);

        Assert.Equal("Trusted", rows[0].QuerySelector(".hostkey-badge").Text());
        Assert.Equal("Not verified", rows[2].QuerySelector(".hostkey-badge").Text());
        Assert.Equal("Unreachable", rows[2].QuerySelector(".reachable-badge").Text());
        Assert.DoesNotContain(rows, r => r != changed && r.ClassList.Contains("table-danger"));
    }

    [Fact]
    public async Task Row_ShowsAddressPortFactsAndALinkToTheHost()
    {
        var host = Fakes.Host("alpha", tags: "web");
        var doc = await Render([host], new HostsQuery());
        var cells = doc.QuerySelectorAll("tbody tr td").Select(c => c.Text()).ToList();

        Assert.Equal($"/hosts/{host.Id}", doc.QuerySelector("tbody tr td a")!.GetAttribute("href"));
        Assert.Contains("alpha.example.test:22", cells);
        Assert.Contains("multi-user", cells);
        Assert.Contains("2.18.1", cells);
        Assert.Contains("NixOS 24.05", cells);
        Assert.Contains("42", cells);
    }

    [Fact]
    public async Task SortLinks_KeepSearchAndTag_AndReverseTheActiveColumn()
    {
        var doc = await Render([Fakes.Host("alpha")], new HostsQuery("web 01", "prod", "address"));

        var address = doc.QuerySelector("a.sort-link[data-sort=address]")!;
        var q = HttpUtility.ParseQueryString(new Uri("http://x" + address.GetAttribute("href")).Query);
        Assert.Equal("web 01", q["q"]);
        Assert.Equal("prod", q["tag"]);
        Assert.Equal("-address", q["sort"]);
        Assert.StartsWith("/hosts/table?", address.GetAttribute("hx-get"));
        Assert.Equal("#hosts-results", address.GetAttribute("hx-target"));
        Assert.Equal("ascending", address.ParentElement!.GetAttribute("aria-sort"));

        var name = doc.QuerySelector("a.sort-link[data-sort=name]")!;
        Assert.Equal("/hosts?q=web%2001&tag=prod", name.GetAttribute("href"));
    }

    [Fact]
    public async Task PagerLinks_KeepSearchTagAndSort_ForThePageAndTheFragment()
    {
        var doc = await Render([Fakes.Host("alpha")], new HostsQuery("db", "prod", "-lastSeen", 2), total: 230);

        var links = doc.QuerySelectorAll(".pager a.page-link").ToList();
        Assert.NotEmpty(links);
        foreach (var link in links)
        {
            foreach (var attr in new[] { "href", "hx-get" })
            {
                var q = HttpUtility.ParseQueryString(new Uri("http://x" + link.GetAttribute(attr)).Query);
                Assert.Equal("db", q["q"]);
                Assert.Equal("prod", q["tag"]);
                Assert.Equal("-lastSeen", q["sort"]);
            }
        }
        var next = doc.QuerySelector(".pager a[rel=next]")!;
        Assert.Equal("/hosts?q=db&tag=prod&sort=-lastSeen&page=3", next.GetAttribute("href"));
        Assert.Equal("/hosts/table?q=db&tag=prod&sort=-lastSeen&page=3", next.GetAttribute("hx-get"));
        Assert.Equal("2", doc.QuerySelector(".pager .page-item.active")!.Text());
        Assert.Contains("51–100 of 230", doc.QuerySelector(".pager")!.TextContent);
    }

    [Fact]
    public async Task TagChips_FilterByThatTag_FromPageOne()
    {
        var doc = await Render([Fakes.Host("alpha", tags: "db")], new HostsQuery("a", null, "status", 3), total: 500);
        var chip = doc.QuerySelector("a.tag-chip")!;
        Assert.Equal("/hosts?q=a&tag=db&sort=status", chip.GetAttribute("href"));
    }

    [Fact]
    public async Task AsFragment_UpdatesTheSearchFormsSortOutOfBand()
    {
        var page = await Render([Fakes.Host("alpha")], new HostsQuery(Sort: "-name"));
        Assert.Null(page.QuerySelector("#hosts-sort"));

        var fragment = await Render([Fakes.Host("alpha")], new HostsQuery(Sort: "-name"), oob: true);
        var sort = fragment.QuerySelector("#hosts-sort")!;
        Assert.Equal("true", sort.GetAttribute("hx-swap-oob"));
        Assert.Equal("-name", sort.GetAttribute("value"));
    }

    [Fact]
    public async Task NoMatch_SaysSoAndOffersAllHosts()
    {
        var doc = await Render([], new HostsQuery("nothing"));
        Assert.Empty(doc.QuerySelectorAll("tbody tr"));
        Assert.Contains("No host matches", doc.QuerySelector(".empty-hosts").Text());
    }
}
