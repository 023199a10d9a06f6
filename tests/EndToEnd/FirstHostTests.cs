using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace NixFleet.EndToEnd;

/// <summary>An operator's first host, from the login page to its facts, in a real browser against real hosts.</summary>
[Collection(FleetCollection.Name)]
public sealed class FirstHostTests(EndToEndFixture e2e, BrowserFixture browser, ITestOutputHelper output) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task SignIn_AddHost_AcceptKey_Refresh_WatchLiveOutput_SeeFacts()
    {
        await using var session = await browser.OpenAsync(e2e.App.BaseUrl, output, nameof(SignIn_AddHost_AcceptKey_Refresh_WatchLiveOutput_SeeFacts));
        var page = session.Page;
        var host = e2e.Fleet.Named(EndToEndFixture.Single);

        // Signed out, the hosts page sends to the login page, and back after signing in.
        await page.GotoAsync("/hosts");
        await Expect(page).ToHaveURLAsync(new Regex(@"/login\?ReturnUrl=%2Fhosts$"));
        await Ui.SubmitLoginAsync(page, NixFleetApp.AdminEmail, NixFleetApp.AdminPassword);
        await Expect(page).ToHaveURLAsync(new Regex(@"/hosts$"));
        await Expect(page.Locator(".signed-in")).ToContainTextAsync(NixFleetApp.AdminEmail);

        // The fleet's own key, imported on the SSH key page, as an admin would.
        await Ui.Nav(page, "SSH key").ClickAsync();
        await page.GetByText("Replace the fleet key…").ClickAsync();
        await page.GetByLabel("Private key").FillAsync(e2e.Fleet.PrivateKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Import and use this key" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex(@"/ssh-key\?done=imported$"));
        await Expect(page.Locator(".alert-success")).ToContainTextAsync("The imported key is now the fleet key");
        await Expect(page.Locator("#fleet-public-key")).ToHaveValueAsync(e2e.Fleet.PublicKey);

        // Hosts → Add host.
        await Ui.Nav(page, "Hosts").ClickAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "Add host" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex(@"/hosts/new$"));
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync("web-01");
        await page.GetByLabel("Address", new() { Exact = true }).FillAsync(host.Address);
        await page.GetByLabel("Tags", new() { Exact = true }).FillAsync("web, first-host");
        await page.Locator("form.add-host-form").GetByRole(AriaRole.Button, new() { Name = "Add host" }).ClickAsync();

        // The host page shows the key the host offered: it must be the host's real one.
        await Expect(page).ToHaveURLAsync(new Regex(@"/hosts/[0-9a-f-]{36}\?done=added$"));
        var hostId = Ui.HostId(page);
        await Expect(page.Locator("h2.page-title")).ToContainTextAsync("web-01");
        await Expect(page.Locator(".alert-info")).ToContainTextAsync("Check the fingerprint of its SSH key");
        await Expect(page.Locator("h2.page-title [data-hostkey]")).ToHaveAttributeAsync("data-hostkey", "unverified");
        await Expect(page.Locator("button.refresh-host")).ToBeDisabledAsync();
        var shown = Regex.Match(await page.Locator("[data-fingerprint=scanned]").InnerTextAsync(), "SHA256:[A-Za-z0-9+/]+").Value;
        var real = await e2e.RealFingerprintAsync(host.Name);
        Assert.StartsWith("SHA256:", real);
        Assert.Equal(real, shown);

        await page.GetByRole(AriaRole.Button, new() { Name = "Accept this key" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($@"/hosts/{hostId}\?done=accepted$"));
        await Expect(page.Locator("h2.page-title [data-hostkey]")).ToHaveAttributeAsync("data-hostkey", "trusted");
        await Expect(page.Locator("[data-fingerprint=trusted]")).ToHaveTextAsync(real);

        // Refresh, with the probe slowed down so that the page opens while the operation runs.
        await using (await e2e.SlowDownFactsAsync(host.Name, 4))
        {
            await page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named("Refresh") }).ClickAsync();
            await Expect(page).ToHaveURLAsync(Ui.OperationUrl());
            await page.WaitForLoadStateAsync(LoadState.DOMContentLoaded);
            await Ui.MarkDocumentAsync(page);
            var output = page.Locator("#op-output");
            var renderedUpTo = int.Parse(await output.GetAttributeAsync("data-last-seq") ?? "0");
            Assert.DoesNotContain("store owned by", await output.InnerTextAsync());
            await Expect(page.Locator("#op-status [data-status]")).ToHaveAttributeAsync("data-status", new Regex("^(queued|running)$"));
            await Expect(page.Locator("#op-live")).ToBeVisibleAsync();

            await Expect(output).ToContainTextAsync($"web-01: collecting facts from root@{host.Address}:22");
            var summary = output.Locator(".op-line", new() { HasText = "store owned by" });
            await Expect(summary).ToContainTextAsync("Nix 2.8.0 (single-user, store owned by alice)");
            // The line came after the page was rendered: through the stream, into this same document.
            Assert.True(int.Parse(await summary.GetAttributeAsync("data-seq") ?? "0") > renderedUpTo);
            await Expect(page.Locator("#op-status [data-status]")).ToHaveAttributeAsync("data-status", "succeeded");
            await Expect(page.Locator("#op-live")).ToHaveTextAsync("finished");
            await Ui.AssertSameDocumentAsync(page);
        }

        // Back on the host: the facts the host reported.
        await page.Locator("#op-header a.op-host").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($@"/hosts/{hostId}$"));
        await Expect(page.Locator("h2.page-title [data-reachable]")).ToHaveAttributeAsync("data-reachable", "yes");
        await Expect(page.Locator("[data-fact=install]")).ToHaveTextAsync("single-user Nix");
        await Expect(page.Locator("[data-fact=nix]")).ToHaveTextAsync("2.8.0");
        await Expect(page.Locator("[data-fact=owner]")).ToHaveTextAsync("alice");
        Assert.Equal("nix-env (Nix) 2.8.0", await e2e.Fleet.ShAsync(host.Name, "nix-env --version"));
        Assert.Equal("alice", await e2e.Fleet.ShAsync(host.Name, "stat -c %U /nix/store"));
        var channel = (await e2e.Fleet.ShAsync(host.Name, "runuser -u alice -- nix-channel --list")).Split(' ');
        Assert.Equal(["nixpkgs", "file:///etc/nixfleet-test/channels/nixpkgs.tar.xz"], channel);
        var rows = page.Locator(".channels-table tbody tr");
        await Expect(rows).ToHaveCountAsync(1);
        await Expect(rows.Locator("td")).ToHaveTextAsync(["alice", channel[0], channel[1]]);
        await Expect(page.Locator(".operations-table tbody tr").First).ToHaveAttributeAsync("data-status", "succeeded");

        // And in the hosts list.
        await Ui.Nav(page, "Hosts").ClickAsync();
        var row = page.Locator("#hosts-results tr[data-host='web-01']");
        await Expect(row.Locator("td")).ToContainTextAsync([host.Address, "Reachable", "Trusted", "web", "2.8.0", "single-user"]);
        session.Passed();
    }
}
