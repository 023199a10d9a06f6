using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace NixFleet.EndToEnd;

[Collection(FleetCollection.Name)]
public sealed class RoleTests(EndToEndFixture e2e, BrowserFixture browser, ITestOutputHelper output) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task Viewer_SeesHosts_ButNoAddOrRefreshButtons()
    {
        const string email = "viewer@example.test";
        const string password = "Viewer-pass-123";
        await e2e.Admin.CreateUserAsync(email, password, "Viewer");
        await e2e.EnsureFleetKeyAsync();
        var hostId = await e2e.Admin.AddTrustedHostAsync("viewer-sees-me", e2e.Address(EndToEndFixture.NixOS), "viewers");
        await e2e.Admin.WaitForOperationAsync(await e2e.Admin.RefreshAsync(hostId));

        // The same pages as an admin: the buttons looked for below are there for someone allowed to use them.
        await using (var admin = await browser.OpenAsync(e2e.App.BaseUrl, output, "Viewer_admin", await e2e.AdminStateAsync(browser)))
        {
            await admin.Page.GotoAsync("/hosts");
            await Expect(AddHost(admin.Page)).ToBeVisibleAsync();
            await Expect(RefreshFleet(admin.Page)).ToBeVisibleAsync();
            await admin.Page.GotoAsync($"/hosts/{hostId}");
            await Expect(RefreshHost(admin.Page)).ToBeEnabledAsync();
            await Expect(admin.Page.GetByText("Delete…")).ToBeVisibleAsync();
            admin.Passed();
        }

        await using var session = await browser.OpenAsync(e2e.App.BaseUrl, output, nameof(Viewer_SeesHosts_ButNoAddOrRefreshButtons));
        var page = session.Page;
        await Ui.SignInAsync(page, email, password);
        await Expect(page.Locator(".signed-in")).ToContainTextAsync("Viewer");
        await Expect(Ui.Nav(page, "Users")).ToHaveCountAsync(0);
        await Expect(Ui.Nav(page, "Audit")).ToHaveCountAsync(0);

        await Ui.Nav(page, "Hosts").ClickAsync();
        var row = page.Locator("#hosts-results tr[data-host='viewer-sees-me']");
        await Expect(row).ToBeVisibleAsync();
        await Expect(row).ToContainTextAsync("2.8.0");
        await Expect(AddHost(page)).ToHaveCountAsync(0);
        await Expect(RefreshFleet(page)).ToHaveCountAsync(0);

        await row.GetByRole(AriaRole.Link, new() { Name = "viewer-sees-me" }).ClickAsync();
        await Expect(page.Locator("h2.page-title")).ToContainTextAsync("viewer-sees-me");
        await Expect(page.Locator("[data-fact=os]")).ToContainTextAsync("NixOS");
        await Expect(RefreshHost(page)).ToHaveCountAsync(0);
        await Expect(page.GetByText("Delete…")).ToHaveCountAsync(0);
        await Expect(page.Locator("#host-key form")).ToHaveCountAsync(0);

        // Typing the address of the form does not help.
        await page.GotoAsync("/hosts/new");
        await Expect(page).ToHaveURLAsync(new Regex(@"/denied\?ReturnUrl=%2Fhosts%2Fnew$"));
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Not allowed" })).ToBeVisibleAsync();
        await Expect(page.Locator("form.add-host-form")).ToHaveCountAsync(0);
        session.Passed();
    }

    static ILocator AddHost(IPage page) => page.GetByRole(AriaRole.Link, new() { Name = "Add host" });
    static ILocator RefreshFleet(IPage page) => page.GetByRole(AriaRole.Button, new() { Name = "Refresh fleet" });
    static ILocator RefreshHost(IPage page) => page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named("Refresh") });
}
