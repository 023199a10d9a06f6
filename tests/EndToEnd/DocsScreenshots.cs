using System.Net;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace NixFleet.EndToEnd;

/// <summary>
/// The screenshots in docs/screenshots, taken from a NixFleet of their own (a fresh database, so
/// only these hosts show) managing the real test hosts. Written only with NIXFLEET_SCREENSHOTS=1;
/// without it the same pages are still visited and checked.
/// </summary>
/// <remarks>
/// Store maintenance and an upgrade change their hosts for good: they run on two hosts of their
/// own (a multi-user Nix host and a NixOS stand-in on 127.0.0.58-59, added once the fleet-wide
/// screenshots are taken) with a <see cref="ChannelServer"/> for the new release.
/// </remarks>
[Collection(FleetCollection.Name)]
public sealed class DocsScreenshots(EndToEndFixture e2e, BrowserFixture browser, ITestOutputHelper output) : IClassFixture<BrowserFixture>
{
    static readonly bool Write = Environment.GetEnvironmentVariable("NIXFLEET_SCREENSHOTS") == "1";
    static string Dir => Path.Combine(Repo.Root, "docs", "screenshots");

    /// <summary>
    /// The hosts of their own, named in the fleet as in NixFleet: the NixOS system's store path carries
    /// the name (with no "-digit" in it, which nix store diff-closures would read as a version).
    /// </summary>
    const string Ci = "ci-staging", Nixos = "web-staging", Staging = "staging";
    const string OperatorEmail = "operator@example.test", ApproverEmail = "approver@example.test", Password = "Role-pass-123";

    [Fact]
    public async Task Docs_Screenshots()
    {
        // Started meanwhile, awaited once the screenshots of the shared hosts are taken.
        var ownFleet = TestFleet.StartAsync("docs", ("multi", Ci, "127.0.0.58"), ("nixos", Nixos, "127.0.0.59"));
        var channels = ChannelServer.StartAsync();
        try
        {
            await ScreenshotsAsync(ownFleet, channels);
        }
        finally
        {
            try { await (await ownFleet).DisposeAsync(); }
            catch (Exception e) when (e is not OutOfMemoryException) { output.WriteLine($"the docs fleet: {e.Message}"); }
            try { await (await channels).DisposeAsync(); }
            catch (Exception e) when (e is not OutOfMemoryException) { output.WriteLine($"the channel server: {e.Message}"); }
        }
    }

    async Task ScreenshotsAsync(Task<TestFleet> ownFleet, Task<ChannelServer> channels)
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

        // The hosts of their own, from here on: the hosts page and the fleet refresh above show only the shared three.
        var fleet = await ownFleet;
        // They let in this NixFleet's key (the shared fleet's), as the README has an admin put it in authorized_keys.
        foreach (var h in new[] { Ci, Nixos })
            await fleet.ShAsync(h, $"echo '{e2e.Fleet.PublicKey.Trim()}' >> /root/.ssh/authorized_keys");
        hosts[Ci] = await api.AddTrustedHostAsync(Ci, fleet.Named(Ci).Address, "ci", Staging);
        hosts[Nixos] = await api.AddTrustedHostAsync(Nixos, fleet.Named(Nixos).Address, "web", Staging);
        foreach (var refresh in await Task.WhenAll(new[] { Ci, Nixos }.Select(h => api.RefreshAsync(hosts[h]))))
            Assert.Equal("succeeded", (await api.WaitForOperationAsync(refresh)).GetProperty("status").GetString());

        await MaintenanceAsync(page, api, fleet, hosts[Ci]);
        await UpgradeAsync(page, app, api, fleet, await channels, hosts[Nixos], hosts[Ci]);
        session.Passed();
    }

    /// <summary>
    /// Store maintenance on the multi-user host, which starts with 1 MiB of garbage: a dry run, then
    /// the plain collection it was for. Its operation page says what it freed; the host's
    /// maintenance page lists both runs and marks the collection on the store chart.
    /// </summary>
    async Task MaintenanceAsync(IPage page, ApiClient api, TestFleet fleet, Guid hostId)
    {
        const string garbageThere = "test -e $(cat /var/lib/nixfleet-test/garbage-path) && echo there || echo gone";
        Assert.Equal("there", await fleet.ShAsync(Ci, garbageThere));
        // A second facts collection, so the chart has a line before the collection's drop.
        Assert.Equal("succeeded", (await api.WaitForOperationAsync(await api.RefreshAsync(hostId))).GetProperty("status").GetString());

        var maintenanceUrl = $"/hosts/{hostId}/maintenance";
        await page.GotoAsync($"/hosts/{hostId}");
        await page.GetByRole(AriaRole.Link, new() { NameRegex = Ui.Named("Store maintenance") }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Store maintenance" })).ToBeVisibleAsync();
        await Expect(page.Locator(".store-chart path[data-series=store]")).ToHaveAttributeAsync("data-points", "2");
        await Expect(page.Locator("[data-mode=plain] input")).ToBeCheckedAsync();

        await page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named("Dry run") }).ClickAsync();
        await Expect(page).ToHaveURLAsync(Ui.OperationUrl());
        var wouldFree = await FigureAsync(page, "would-free");
        Assert.InRange(wouldFree, 1048576, long.MaxValue);

        await page.GotoAsync(maintenanceUrl);
        await page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named("Collect garbage…") }).ClickAsync();
        await Expect(page.Locator("[data-summary=dry-run] [data-result=would-free]")).ToHaveAttributeAsync("data-bytes", wouldFree.ToString());
        await page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named($"Confirm: collect garbage on {Ci}") }).ClickAsync();
        await Expect(page).ToHaveURLAsync(Ui.OperationUrl());
        Assert.InRange(await FigureAsync(page, "bytes-freed"), 1048576, long.MaxValue);
        await Expect(page.Locator("#op-header [data-result=paths-deleted]")).Not.ToHaveTextAsync("0");
        await Expect(page.Locator("#op-output")).ToContainTextAsync("freed");
        Assert.Equal("gone", await fleet.ShAsync(Ci, garbageThere));
        await ShootAsync(page, "gc-result.png");

        await page.GotoAsync(maintenanceUrl);
        await Expect(page.Locator(".maintenance-runs tbody tr")).ToHaveCountAsync(2);
        await Expect(page.Locator(".maintenance-runs tbody tr").First).ToHaveAttributeAsync("data-dry-run", "false");
        await Expect(page.Locator(".maintenance-runs tbody tr").Nth(1)).ToHaveAttributeAsync("data-dry-run", "true");
        await Expect(page.Locator(".store-chart [data-gc-run]")).ToHaveCountAsync(1);
        await Expect(page.Locator(".store-chart path[data-series=store]")).ToHaveAttributeAsync("data-points", "3");
        await ShootAsync(page, "maintenance.png");
    }

    /// <summary>The operation page's figure, once the operation has ended and the header with it came back.</summary>
    async Task<long> FigureAsync(IPage page, string name)
    {
        var figure = page.Locator($"#op-header [data-result={name}]");
        try
        {
            await Expect(figure).ToBeVisibleAsync(new() { Timeout = 120_000 });
        }
        catch (PlaywrightException)
        {
            output.WriteLine(await page.Locator("#op-output").InnerTextAsync());
            throw;
        }
        await Expect(page.Locator("#op-status [data-status]")).ToHaveAttributeAsync("data-status", "succeeded");
        return long.Parse(await figure.GetAttributeAsync("data-bytes") ?? "-1");
    }

    /// <summary>
    /// An upgrade of the staging hosts to the nixos-24.11 release, requested by an Operator (the
    /// NixOS host as the canary, then the other host as the first batch) and approved by an
    /// Approver over the API; its request page once the rollout has finished.
    /// </summary>
    async Task UpgradeAsync(IPage page, NixFleetApp app, ApiClient api, TestFleet fleet, ChannelServer channels, Guid canary, Guid batch)
    {
        Assert.StartsWith("24.05", await fleet.ShAsync(Nixos, "cat /run/current-system/nixos-version"));
        await api.CreateUserAsync(OperatorEmail, Password, "Operator");
        await api.CreateUserAsync(ApproverEmail, Password, "Approver");
        using var requester = await app.ClientAsync(OperatorEmail, Password);
        using var approver = await app.ClientAsync(ApproverEmail, Password);
        var created = await requester.PostJsonAsync("/api/v1/upgrades", new
        {
            tag = Staging, channel = new { name = "nixos", url = channels.Url("nixos-24.11") }, action = "switch",
            canary = new[] { canary }, batchSize = 1, parallelism = 1, autoRollback = true, reason = "CHG-2041: staging to NixOS 24.11",
        }, HttpStatusCode.Created);
        var id = created.GetProperty("id").GetGuid();
        var approved = await approver.PostJsonAsync($"/api/v1/upgrades/{id}/approve", null, HttpStatusCode.OK);
        Assert.Equal("running", approved.GetProperty("status").GetString());
        await api.WaitForOperationAsync(approved.GetProperty("operationId").GetGuid(), TimeSpan.FromMinutes(5));
        var upgrade = await api.GetJsonAsync($"/api/v1/upgrades/{id}");
        Assert.True(upgrade.GetProperty("status").GetString() == "succeeded", upgrade.ToString());
        Assert.StartsWith("24.11", await fleet.ShAsync(Nixos, "cat /run/current-system/nixos-version"));

        await page.GotoAsync($"/upgrades/{id}");
        var progress = page.Locator("#upgrade-progress");
        await Expect(progress).ToHaveAttributeAsync("data-upgrade-status", "succeeded");
        await Expect(progress.Locator(".upgrade-counts")).ToContainTextAsync("2 of 2 succeeded");
        await Expect(page.Locator(".upgrade-requester")).ToHaveTextAsync(OperatorEmail);
        await Expect(page.Locator($"tr[data-approver='{ApproverEmail}']")).ToHaveAttributeAsync("data-approval-state", "counts");
        foreach (var (name, wave) in new[] { (Nixos, 0), (Ci, 1) })
        {
            var row = page.Locator($"tr[data-host-name='{name}']");
            await Expect(row).ToHaveAttributeAsync("data-wave", wave.ToString());
            await Expect(row).ToHaveAttributeAsync("data-host-status", "succeeded");
            await Expect(row.Locator(".upgrade-to")).ToHaveAttributeAsync("data-generation", new Regex(@"^\d+$"));
        }
        await Expect(page.Locator($"tr[data-host-name='{Nixos}'] .upgrade-from")).ToHaveAttributeAsync("data-generation", "3");
        await Expect(page.Locator($"tr[data-host-name='{Nixos}'] .upgrade-to")).ToHaveAttributeAsync("data-generation", "4");
        await ShootAsync(page, "upgrade.png");
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
