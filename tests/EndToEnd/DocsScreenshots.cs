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
        foreach (var refresh in await Task.WhenAll(hosts.Values.Select(api.RefreshAsync)))
            Assert.Equal("succeeded", (await api.WaitForOperationAsync(refresh)).GetProperty("status").GetString());

        await using var session = await browser.OpenAsync(app.BaseUrl, output, nameof(Docs_Screenshots));
        var page = session.Page;

        await page.GotoAsync("/login");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Sign in to NixFleet" })).ToBeVisibleAsync();
        await ShootAsync(page, "login.png");
        await Ui.SignInAsync(page, NixFleetApp.AdminEmail, NixFleetApp.AdminPassword);

        await Ui.Nav(page, "Hosts").ClickAsync();
        await Expect(page.Locator("#hosts-results tbody tr[data-host]")).ToHaveCountAsync(3);
        foreach (var row in await page.Locator("#hosts-results tbody tr[data-host]").AllAsync())
            await Expect(row.Locator("[data-reachable]")).ToHaveAttributeAsync("data-reachable", "yes");
        await Expect(page.Locator("tr[data-host='nixos-01']")).ToContainTextAsync("NixOS 24.05");
        await ShootAsync(page, "hosts.png");

        // A fleet refresh caught while it runs: two hosts done, the third one's probe still going.
        await using (await e2e.SlowDownFactsAsync(EndToEndFixture.NixOS, 7))
        {
            await page.GetByRole(AriaRole.Button, new() { Name = "Refresh fleet" }).ClickAsync();
            await Expect(page).ToHaveURLAsync(Ui.OperationUrl());
            var log = page.Locator("#op-output");
            await Expect(log.Locator(".op-line", new() { HasText = "store owned by" })).ToHaveCountAsync(2);
            await Expect(page.Locator("#op-status [data-status]")).ToHaveAttributeAsync("data-status", "running");
            await Expect(page.Locator("#op-live")).ToHaveTextAsync("live");
            await Expect(log).ToContainTextAsync("nixos-01: collecting facts");
            await ShootAsync(page, "operation-live.png");
            await Expect(page.Locator("#op-status [data-status]")).ToHaveAttributeAsync("data-status", "succeeded", new() { Timeout = 30_000 });
            await Expect(log).ToContainTextAsync("done: 3 refreshed, 0 failed");
        }

        await page.GotoAsync($"/hosts/{hosts["nixos-01"]}");
        await Expect(page.Locator("[data-fact=install]")).ToHaveTextAsync("multi-user Nix (daemon)");
        await Expect(page.Locator("[data-fact=os]")).ToContainTextAsync("NixOS 24.05");
        await Expect(page.Locator(".facts-history tbody tr")).ToHaveCountAsync(2);
        await ShootAsync(page, "host.png");
        session.Passed();
    }

    async Task ShootAsync(IPage page, string name)
    {
        // The icon font loaded, so that no screenshot shows empty boxes for icons.
        await page.EvaluateAsync("() => document.fonts.ready");
        // As tall as the page's content (a full-page capture would cut the fixed sidebar at the window's height).
        var height = await page.EvaluateAsync<int>(
            "() => { const c = document.querySelector('.page-body > .container-xl'); return Math.ceil(c ? c.getBoundingClientRect().bottom + 32 : document.body.scrollHeight); }");
        var size = page.ViewportSize!;
        await page.SetViewportSizeAsync(size.Width, Math.Clamp(height, 600, 2400));
        var png = await page.ScreenshotAsync(new() { Animations = ScreenshotAnimations.Disabled, Caret = ScreenshotCaret.Hide });
        await page.SetViewportSizeAsync(size.Width, size.Height);
        Assert.True(png.Length > 10_000, $"{name}: a {png.Length}-byte screenshot is an empty page");
        if (!Write) return;
        Directory.CreateDirectory(Dir);
        await File.WriteAllBytesAsync(Path.Combine(Dir, name), png);
        output.WriteLine($"wrote docs/screenshots/{name}");
    }
}
