using System.Net;
using Xunit.Abstractions;

namespace NixFleet.EndToEnd;

/// <summary>
/// The screenshots in docs/screenshots, taken from a NixFleet of their own (a fresh database, so
/// only these hosts show) managing the real test hosts. Written only with NIXFLEET_SCREENSHOTS=1;
/// without it the same pages are still visited and checked.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class DocsScreenshots(EndToEndFixture e2e, BrowserFixture browser, ITestOutputHelper output) : IClassFixture<BrowserFixture>
{
    static readonly bool Write = Environment.GetEnvironmentVariable("NIXFLEET_SCREENSHOTS") == "1";
    static string Dir => Path.Combine(Repo.Root, "docs", "screenshots");

    [Fact]
    public async Task Docs_Screenshots()
    {
        var app = await e2e.DocsAppAsync();
        using var api = await app.ClientAsync();
        await api.ImportKeyAsync(e2e.Fleet.PrivateKey);
        var hosts = new Dictionary<string, Guid>
        {
            ["dev-01"] = await api.AddTrustedHostAsync("dev-01", e2e.Address(EndToEndFixture.Single), "dev"),
            ["nixos-01"] = await api.AddTrustedHostAsync("nixos-01", e2e.Address(EndToEndFixture.NixOS), "nixos", "production"),
            ["web-01"] = await api.AddTrustedHostAsync("web-01", e2e.Address(EndToEndFixture.Multi), "web", "production"),
        };
        var first = await api.PostJsonAsync("/api/v1/fleet/refresh", new { }, HttpStatusCode.Accepted);
        Assert.Equal("succeeded", (await api.WaitForOperationAsync(first.GetProperty("operationId").GetGuid())).GetProperty("status").GetString());

        await using var session = await browser.OpenAsync(app.BaseUrl, output, nameof(Docs_Screenshots));
        var page = session.Page;

        await page.GotoAsync("/login");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Sign in to NixFleet" })).ToBeVisibleAsync();
        await ShootAsync(page, "login.png", fullPage: false);
        await Ui.SignInAsync(page, NixFleetApp.AdminEmail, NixFleetApp.AdminPassword);

        await Ui.Nav(page, "Hosts").ClickAsync();
        await Expect(page.Locator("#hosts-results tbody tr[data-host]")).ToHaveCountAsync(3);
        foreach (var row in await page.Locator("#hosts-results tbody tr[data-host]").AllAsync())
            await Expect(row.Locator("[data-reachable]")).ToHaveAttributeAsync("data-reachable", "yes");
        await Expect(page.Locator("tr[data-host='nixos-01']")).ToContainTextAsync("NixOS 24.05");
        await ShootAsync(page, "hosts.png", fullPage: false);

        // A fleet refresh caught while it runs: two hosts done, the third one's probe still going.
        await using (await e2e.SlowDownFactsAsync(EndToEndFixture.NixOS, 6))
        {
            await page.GetByRole(AriaRole.Button, new() { Name = "Refresh fleet" }).ClickAsync();
            await Expect(page).ToHaveURLAsync(Ui.OperationUrl());
            var log = page.Locator("#op-output");
            await Expect(log.Locator(".op-line", new() { HasText = "store owned by" })).ToHaveCountAsync(2);
            await Expect(page.Locator("#op-status [data-status]")).ToHaveAttributeAsync("data-status", "running");
            await Expect(page.Locator("#op-live")).ToHaveTextAsync("live");
            await Expect(log).ToContainTextAsync("nixos-01: collecting facts");
            await ShootAsync(page, "operation-live.png", fullPage: false);
            await Expect(page.Locator("#op-status [data-status]")).ToHaveAttributeAsync("data-status", "succeeded", new() { Timeout = 30_000 });
            await Expect(log).ToContainTextAsync("done: 3 refreshed, 0 failed");
        }

        await page.GotoAsync($"/hosts/{hosts["nixos-01"]}");
        await Expect(page.Locator("[data-fact=install]")).ToHaveTextAsync("multi-user Nix (daemon)");
        await Expect(page.Locator("[data-fact=os]")).ToContainTextAsync("NixOS 24.05");
        await Expect(page.Locator(".facts-history tbody tr")).ToHaveCountAsync(2);
        await ShootAsync(page, "host.png", fullPage: true);
        session.Passed();
    }

    async Task ShootAsync(IPage page, string name, bool fullPage)
    {
        // The icon font loaded, so that no screenshot shows empty boxes for icons.
        await page.EvaluateAsync("() => document.fonts.ready");
        var png = await page.ScreenshotAsync(new() { FullPage = fullPage, Animations = ScreenshotAnimations.Disabled, Caret = ScreenshotCaret.Hide });
        Assert.True(png.Length > 10_000, $"{name}: a {png.Length}-byte screenshot is an empty page");
        if (!Write) return;
        Directory.CreateDirectory(Dir);
        await File.WriteAllBytesAsync(Path.Combine(Dir, name), png);
        output.WriteLine($"wrote docs/screenshots/{name}");
    }
}
