using System.Net;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace NixFleet.EndToEnd;

[Collection(FleetCollection.Name)]
public sealed class HostsPageTests(EndToEndFixture e2e, BrowserFixture browser, ITestOutputHelper output) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task HostsPage_SearchAndTagFilter_UpdateTheTableWithoutAFullReload()
    {
        var api = e2e.Admin;
        await api.AddHostAsync("srch-web-1", e2e.Address(EndToEndFixture.Single), tags: ["srch-web", "srch-prod"]);
        await api.AddHostAsync("srch-web-2", e2e.Address(EndToEndFixture.NixOS), tags: ["srch-web", "srch-staging"]);
        await api.AddHostAsync("srch-db-1", e2e.Address(EndToEndFixture.Multi), tags: ["srch-db", "srch-prod"]);
        await using var session = await browser.OpenAsync(e2e.App.BaseUrl, output, nameof(HostsPage_SearchAndTagFilter_UpdateTheTableWithoutAFullReload), await e2e.AdminStateAsync(browser));
        var page = session.Page;

        await page.GotoAsync("/hosts");
        Assert.Superset(new HashSet<string> { "srch-db-1", "srch-web-1", "srch-web-2" }, (await Ui.HostRowsAsync(page)).ToHashSet());
        await Ui.MarkDocumentAsync(page);
        var search = page.GetByRole(AriaRole.Searchbox, new() { Name = "Search by name or address" });
        var tag = page.GetByRole(AriaRole.Combobox, new() { Name = "Tag" });

        // Typing searches, as the user types (no button press).
        await search.PressSequentiallyAsync("srch-web");
        await Expect(page).ToHaveURLAsync(new Regex(@"/hosts\?q=srch-web$"));
        await ExpectRowsAsync(page, "srch-web-1", "srch-web-2");

        // The tag filter narrows the search.
        await tag.SelectOptionAsync("srch-prod");
        await Expect(page).ToHaveURLAsync(new Regex(@"/hosts\?q=srch-web&tag=srch-prod$"));
        await ExpectRowsAsync(page, "srch-web-1");

        // Clearing the search keeps the tag.
        await search.FillAsync("");
        await Expect(page).ToHaveURLAsync(new Regex(@"/hosts\?tag=srch-prod$"));
        await ExpectRowsAsync(page, "srch-db-1", "srch-web-1");

        // An address is searched too.
        await search.FillAsync(e2e.Address(EndToEndFixture.Multi));
        await ExpectRowsAsync(page, "srch-db-1");

        // Nothing matches: the table says so.
        await search.FillAsync("srch-nothing-like-this");
        await ExpectRowsAsync(page);
        await Expect(page.Locator(".empty-hosts")).ToContainTextAsync("No host matches");

        // A tag in a row filters by that tag.
        await search.FillAsync("srch");
        await tag.SelectOptionAsync("");
        await Expect(page).ToHaveURLAsync(new Regex(@"/hosts\?q=srch$"));
        await ExpectRowsAsync(page, "srch-db-1", "srch-web-1", "srch-web-2");
        await page.Locator("tr[data-host='srch-web-2']").GetByRole(AriaRole.Link, new() { Name = "srch-staging" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex(@"/hosts\?q=srch&tag=srch-staging$"));
        await ExpectRowsAsync(page, "srch-web-2");

        // All of it without loading the page again.
        await Ui.AssertSameDocumentAsync(page);

        // The address bar holds a real page: loaded by itself, it shows the same list and filters.
        await page.ReloadAsync();
        await ExpectRowsAsync(page, "srch-web-2");
        await Expect(search).ToHaveValueAsync("srch");
        await Expect(tag).ToHaveValueAsync("srch-staging");

        // Back goes to the list before the tag was clicked.
        await page.GoBackAsync();
        await Expect(page).ToHaveURLAsync(new Regex(@"/hosts\?q=srch$"));
        await ExpectRowsAsync(page, "srch-db-1", "srch-web-1", "srch-web-2");
        session.Passed();
    }

    [Fact]
    public async Task ChangedHostKey_ShowsARedAlarm()
    {
        await e2e.EnsureFleetKeyAsync();
        // Trust another host's key for this address: to NixFleet, the host's key has changed.
        var wrongKey = await e2e.PublicHostKeyAsync(EndToEndFixture.NixOS);
        var added = await e2e.Admin.PostJsonAsync("/api/v1/hosts",
            new { name = "key-changed", address = e2e.Address(EndToEndFixture.Single), hostKey = wrongKey, tags = new[] { "alarm" } }, HttpStatusCode.Created);
        var hostId = added.GetProperty("id").GetGuid();
        var op = await e2e.Admin.WaitForOperationAsync(await e2e.Admin.RefreshAsync(hostId));
        Assert.Equal("failed", op.GetProperty("status").GetString());

        await using var session = await browser.OpenAsync(e2e.App.BaseUrl, output, nameof(ChangedHostKey_ShowsARedAlarm), await e2e.AdminStateAsync(browser));
        var page = session.Page;

        // The overview leads with it.
        await page.GotoAsync("/");
        var overviewAlarm = page.Locator(".alert-danger.alert-important", new() { HasText = "CHANGED" });
        await Expect(overviewAlarm).ToBeVisibleAsync();
        await Expect(overviewAlarm.GetByRole(AriaRole.Link, new() { Name = "key-changed" })).ToBeVisibleAsync();
        await AssertRedAsync(overviewAlarm);

        // In the list, its row is marked.
        await Ui.Nav(page, "Hosts").ClickAsync();
        var row = page.Locator("tr[data-host='key-changed']");
        await Expect(row).ToHaveClassAsync(new Regex(@"\bhost-key-alarm\b"));
        await Expect(row.Locator("[data-hostkey]")).ToHaveTextAsync("CHANGED");
        await AssertRedAsync(row.Locator("[data-hostkey]"));

        // On the host: the alarm, both fingerprints, and no way to run anything.
        await row.GetByRole(AriaRole.Link, new() { Name = "key-changed" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($@"/hosts/{hostId}$"));
        var alarm = page.Locator("#host-key").GetByRole(AriaRole.Alert).Filter(new() { HasText = "Host key CHANGED: all work on this host is stopped" });
        await Expect(alarm).ToBeVisibleAsync();
        await AssertRedAsync(alarm);
        await Expect(page.Locator("h2.page-title [data-hostkey]")).ToHaveTextAsync("CHANGED");
        await Expect(page.Locator("[data-fingerprint=trusted]")).ToHaveTextAsync(await e2e.RealFingerprintAsync(EndToEndFixture.NixOS));
        await Expect(page.Locator("[data-fingerprint=scanned]")).ToContainTextAsync(await e2e.RealFingerprintAsync(EndToEndFixture.Single));
        await Expect(page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named("Refresh") })).ToBeDisabledAsync();
        // An admin is offered the re-pin, behind a confirmation.
        await Expect(page.GetByText("Re-pin the new key…")).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Button, new() { Name = "Re-pin: trust the new key" })).ToBeHiddenAsync();
        session.Passed();
    }

    static async Task ExpectRowsAsync(IPage page, params string[] names)
    {
        // Only the hosts this test added: other tests share the NixFleet instance.
        var rows = page.Locator("#hosts-results tbody tr[data-host]");
        if (names.Length == 0) await Expect(rows).ToHaveCountAsync(0);
        else await Expect(rows.Locator("td:first-child")).ToHaveTextAsync(names);
    }

    /// <summary>Shown in red: the background is a saturated red, as Tabler's danger colour is.</summary>
    static async Task AssertRedAsync(ILocator element)
    {
        // Painted on a canvas: computed colours can come as color(srgb ...) or oklch(...), the canvas gives RGB.
        var rgb = await element.EvaluateAsync<int[]>("""
            e => {
                const c = document.createElement('canvas').getContext('2d');
                c.fillStyle = getComputedStyle(e).backgroundColor;
                c.fillRect(0, 0, 1, 1);
                return Array.from(c.getImageData(0, 0, 1, 1).data.slice(0, 3));
            }
            """);
        Assert.True(rgb[0] > 180 && rgb[1] < 110 && rgb[2] < 110, $"not red: rgb({string.Join(", ", rgb)})");
    }
}
