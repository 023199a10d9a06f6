using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace NixFleet.EndToEnd;

/// <summary>
/// The on-call rollback, in a real browser against a real NixOS stand-in: open the host, pick a
/// generation, read what changes, confirm with a reason, watch the activation live, and see the
/// new generation running, on the page and on the host itself.
/// </summary>
/// <remarks>
/// A fleet, a NixFleet and a browser of its own: the rollback changes the host, and the fleet key
/// it imports is not the other browser tests' one. Its collection runs alone, after the others,
/// so that two browsers and two fleets do not share a small machine.
/// </remarks>
[Collection(Name)]
public sealed class RollbackBrowserTests(RollbackBrowserTests.RollbackFleet rb, ITestOutputHelper output) : IClassFixture<RollbackBrowserTests.RollbackFleet>
{
    public const string Name = "rollback-browser";
    const string SystemProfile = "/nix/var/nix/profiles/system";

    public sealed class RollbackFleet : IAsyncLifetime
    {
        public const string Nixos = "rb-nixos";

        IPlaywright? _driver;
        IBrowser? _browser;

        public TestFleet Fleet { get; private set; } = null!;
        public NixFleetApp App { get; private set; } = null!;
        public ApiClient Admin { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            SetDefaultExpectTimeout(20_000);
            var fleet = TestFleet.StartAsync("rb", ("nixos", Nixos, "127.0.0.46"));
            var app = NixFleetApp.StartAsync();
            try
            {
                await Task.WhenAll(fleet, app);
            }
            catch
            {
                if (fleet.IsCompletedSuccessfully) await (await fleet).DisposeAsync();
                if (app.IsCompletedSuccessfully) await (await app).DisposeAsync();
                throw;
            }
            Fleet = await fleet;
            App = await app;
            Admin = await App.ClientAsync();
            _driver = await Playwright.CreateAsync();
            _browser = await _driver.Chromium.LaunchAsync(new()
            {
                ExecutablePath = "/usr/bin/chromium",
                Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
            });
        }

        /// <summary>A fresh browser context and page on this NixFleet; a failed test leaves a screenshot.</summary>
        public async Task<Session> OpenAsync(ITestOutputHelper output, string name)
        {
            var context = await _browser!.NewContextAsync(new()
            {
                BaseURL = App.BaseUrl,
                ViewportSize = new() { Width = 1280, Height = 860 },
                Locale = "en-GB",
                TimezoneId = "UTC",
            });
            context.SetDefaultTimeout(20_000);
            return new Session(context, await context.NewPageAsync(), output, name);
        }

        public async Task DisposeAsync()
        {
            if (_browser is not null) await _browser.CloseAsync();
            _driver?.Dispose();
            Admin?.Dispose();
            if (App is not null) await App.DisposeAsync();
            if (Fleet is not null) await Fleet.DisposeAsync();
        }
    }

    Task<string> Sh(string script) => rb.Fleet.ShAsync(RollbackFleet.Nixos, script);

    [Fact]
    public async Task OnCall_RollsBackToGeneration2_SeesFromToAndDiff_WatchesLiveOutput_AndSeesItRunning()
    {
        var host = rb.Fleet.Named(RollbackFleet.Nixos);
        await rb.Admin.ImportKeyAsync(rb.Fleet.PrivateKey);
        var hostId = await rb.Admin.AddTrustedHostAsync(host.Name, host.Address);
        var two = await Sh($"readlink {SystemProfile}-2-link");
        var three = await Sh($"readlink {SystemProfile}-3-link");
        // The stand-in starts running and booting generation 3.
        Assert.Equal(three, await Sh("readlink /run/current-system"));
        Assert.Equal("system-3-link", await Sh($"readlink {SystemProfile}"));

        await using var session = await rb.OpenAsync(output, nameof(OnCall_RollsBackToGeneration2_SeesFromToAndDiff_WatchesLiveOutput_AndSeesItRunning));
        var page = session.Page;
        await Ui.SignInAsync(page, NixFleetApp.AdminEmail, NixFleetApp.AdminPassword);

        // Hosts → the host → Generations.
        await Ui.Nav(page, "Hosts").ClickAsync();
        await page.Locator($"#hosts-results tr[data-host='{host.Name}']").GetByRole(AriaRole.Link, new() { Name = host.Name }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($@"/hosts/{hostId}$"));
        await page.GetByRole(AriaRole.Link, new() { NameRegex = Ui.Named("Generations") }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($@"/hosts/{hostId}/generations$"));

        var system = page.Locator($".profile-generations[data-profile='{SystemProfile}']");
        await Expect(system.Locator("h3.card-title")).ToHaveTextAsync("NixOS system");
        await Expect(system.Locator("tr[data-current=true]")).ToHaveAttributeAsync("data-generation", "3");
        await Expect(system.Locator("tr[data-generation='3'] [data-badge]")).ToHaveTextAsync(["running now", "boot default"]);
        await Expect(system.Locator("tr[data-generation='2'] .generation-path")).ToHaveAttributeAsync("title", two);

        // Roll back to generation 2: the confirmation says from what, to what, and what changes.
        await system.Locator("tr[data-generation='2']").GetByRole(AriaRole.Link, new() { Name = "Roll back to this" }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($@"/hosts/{hostId}/generations/rollback\?profile=%2Fnix%2Fvar%2Fnix%2Fprofiles%2Fsystem&to=2$"));
        await Expect(page.Locator("[data-summary=host]")).ToHaveTextAsync(host.Name);
        await Expect(page.Locator("[data-summary=from]")).ToHaveAttributeAsync("data-generation", "3");
        await Expect(page.Locator("[data-summary=from] .store-path")).ToHaveTextAsync(three);
        await Expect(page.Locator("[data-summary=to]")).ToHaveAttributeAsync("data-generation", "2");
        await Expect(page.Locator("[data-summary=to] .store-path")).ToHaveTextAsync(two);
        await Expect(page.Locator(".rollback-modes .mode-description")).ToHaveTextAsync([
            "activate now and make it the boot default",
            "boot default only, takes effect at next reboot",
            "activate now, not the boot default; a reboot returns to the boot default",
        ]);
        // What diff-closures says on the host itself, package by package.
        var raw = await Sh($"nix --extra-experimental-features nix-command store diff-closures {three} {two}");
        var packages = Regex.Matches(raw, @"^([^\s:]+): ", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToArray();
        Assert.Contains("cowsay", packages);
        await Expect(page.Locator(".diff-table tbody tr")).ToHaveCountAsync(packages.Length);
        await Expect(page.Locator(".diff-table tbody tr").First).ToHaveAttributeAsync("data-package", packages[0]);
        await Expect(page.Locator(".diff-table tr[data-package='cowsay'] td").First).ToHaveTextAsync("cowsay");
        await Expect(page.GetByRole(AriaRole.Radio, new() { Name = "switch: activate now and make it the boot default" })).ToBeCheckedAsync();

        // Confirm with a reason. The activation is slowed down so that the operation page opens while it runs.
        await Sh("echo 3 > /etc/nixfleet-test/slow-activation");
        try
        {
            await page.GetByLabel("Reason").FillAsync("INC-42: nginx fails since generation 3");
            await page.GetByRole(AriaRole.Button, new() { NameRegex = new Regex("Confirm") }).ClickAsync();
            await Expect(page).ToHaveURLAsync(Ui.OperationUrl());
            await page.WaitForLoadStateAsync(LoadState.DOMContentLoaded);
            await Ui.MarkDocumentAsync(page);
            var log = page.Locator("#op-output");
            var renderedUpTo = int.Parse(await log.GetAttributeAsync("data-last-seq") ?? "0");
            await Expect(page.Locator("#op-status [data-status]")).ToHaveAttributeAsync("data-status", new Regex("^(queued|running)$"));

            // The activation's own output arrives live, then the outcome read back from the host.
            var activation = log.Locator(".op-line", new() { HasText = "setting up /etc..." });
            await Expect(activation).ToHaveCountAsync(1);
            Assert.True(int.Parse(await activation.GetAttributeAsync("data-seq") ?? "0") > renderedUpTo);
            try { await Expect(log).ToContainTextAsync($"activation succeeded; running {two}"); }
            catch
            {
                output.WriteLine(await Sh("cd /var/lib/nixfleet/activations && for f in *; do echo \"== $f\"; cat $f; done; echo; tail -n 30 /var/log/sshd.log; ps -ef"));
                output.WriteLine(rb.App.Output);
                throw;
            }
            await Expect(page.Locator("#op-status [data-status]")).ToHaveAttributeAsync("data-status", "succeeded");
            await Expect(page.Locator("#op-live")).ToHaveTextAsync("finished");
            await Ui.AssertSameDocumentAsync(page);
        }
        finally
        {
            await Sh("rm -f /etc/nixfleet-test/slow-activation");
        }

        // Back on the host: its facts were refreshed by the rollback, and its generations say 2 runs and boots.
        await page.Locator("#op-header a.op-host").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($@"/hosts/{hostId}$"));
        await Expect(page.Locator("[data-fact=system]")).ToHaveTextAsync(two);
        await page.GetByRole(AriaRole.Link, new() { NameRegex = Ui.Named("Generations") }).ClickAsync();
        await Expect(system.Locator("tr[data-current=true]")).ToHaveAttributeAsync("data-generation", "2");
        await Expect(system.Locator("tr[data-generation='2'] [data-badge]")).ToHaveTextAsync(["running now", "boot default"]);
        await Expect(system.Locator("tr[data-generation='3'] [data-badge]")).ToHaveCountAsync(0);

        // And the host really runs and boots generation 2.
        Assert.Equal(two, await Sh("readlink /run/current-system"));
        Assert.Equal("system-2-link", await Sh($"readlink {SystemProfile}"));
        Assert.EndsWith($" switch {two}", await Sh("tail -n 1 /var/lib/nixfleet-test/activations"));
        session.Passed();
    }
}

/// <summary>Not beside the other browser tests: xunit runs this collection alone, after the parallel ones.</summary>
[CollectionDefinition(RollbackBrowserTests.Name, DisableParallelization = true)]
public sealed class RollbackBrowserCollectionDefinition;
