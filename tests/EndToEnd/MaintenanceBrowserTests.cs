using System.Net;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace NixFleet.EndToEnd;

/// <summary>
/// Store maintenance from a host's page, in a real browser against a real multi-user Nix host
/// that starts with 1 MiB of garbage: a dry run says what a collection would free and frees
/// nothing; the confirmation says what will happen; the collection frees it, and the host's
/// store chart marks the run and has the size after it.
/// </summary>
/// <remarks>
/// A fleet, a NixFleet and a browser of its own (127.0.0.47): a garbage collection changes the
/// host for good. Its collection runs alone, after the parallel ones, like the rollback tests.
/// </remarks>
[Collection(Name)]
public sealed class MaintenanceBrowserTests(MaintenanceBrowserTests.MaintenanceFleet mt, ITestOutputHelper output) : IClassFixture<MaintenanceBrowserTests.MaintenanceFleet>
{
    public const string Name = "maintenance-browser";
    public sealed class MaintenanceFleet() : OwnFleet("mt", ("multi", Multi, "127.0.0.47"))
    {
        public const string Multi = "mt-multi";

        public Guid HostId => Ids[Multi];
    }

    Task<string> Sh(string script) => mt.Fleet.ShAsync(MaintenanceFleet.Multi, script);

    string MaintenanceUrl => $"/hosts/{mt.HostId}/maintenance";

    async Task<int> OperationCountAsync() =>
        (await mt.Admin.GetJsonAsync($"/api/v1/operations?hostId={mt.HostId}&limit=500")).GetArrayLength();

    static async Task<int> StorePointsAsync(IPage page) =>
        int.Parse(await page.Locator("path[data-series=store]").GetAttributeAsync("data-points") ?? "0");

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

    [Fact]
    public async Task DryRun_ThenPlainCollection_FromTheHostPage_FreesTheGarbage_AndTheChartMarksIt()
    {
        const string garbageThere = "test -e $(cat /var/lib/nixfleet-test/garbage-path) && echo there || echo gone";
        Assert.Equal("there", await Sh(garbageThere));
        // Read the generations now, so the page's last listing is this one. "Keep the last 1" deletes what is older than the current one.
        var olderThanCurrent = (await mt.Admin.GetJsonAsync($"/api/v1/hosts/{mt.HostId}/generations")).EnumerateArray()
            .GroupBy(g => g.GetProperty("profile").GetString()!)
            .ToDictionary(p => p.Key, p =>
            {
                var current = p.Where(g => g.GetProperty("current").GetBoolean()).Select(g => g.GetProperty("number").GetInt32()).DefaultIfEmpty(0).First();
                return string.Join(',', p.Select(g => g.GetProperty("number").GetInt32()).Where(n => n < current).Order());
            });

        await using var session = await mt.OpenAsync(output, nameof(DryRun_ThenPlainCollection_FromTheHostPage_FreesTheGarbage_AndTheChartMarksIt));
        var page = session.Page;
        await Ui.SignInAsync(page, NixFleetApp.AdminEmail, NixFleetApp.AdminPassword);

        // The host page: its chart before anything ran.
        await page.GotoAsync($"/hosts/{mt.HostId}");
        await Expect(page.Locator("path[data-series=store]")).ToHaveCountAsync(1);
        var markersBefore = await page.Locator("[data-gc-run]").CountAsync();
        var pointsBefore = await StorePointsAsync(page);
        await page.GetByRole(AriaRole.Link, new() { NameRegex = Ui.Named("Store maintenance") }).ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($"{Regex.Escape(MaintenanceUrl)}$"));
        await Expect(page.Locator(".store-chart path[data-series=store]")).ToHaveAttributeAsync("data-points", pointsBefore.ToString());
        await Expect(page.Locator(".gc-modes .mode-description")).ToHaveCountAsync(4);
        await Expect(page.Locator("[data-mode=plain] input")).ToBeCheckedAsync();

        // What "keep the last 1" of one profile alone (not the first listed) would delete, by the listing: asked, shown, not done.
        var listed = await page.Locator(".gc-profiles [data-profile]").EvaluateAllAsync<string[]>("labels => labels.map(l => l.dataset.profile)");
        var chosen = listed.Last(p => olderThanCurrent.GetValueOrDefault(p, "") != "");
        Assert.NotEqual(listed[0], chosen);
        await page.Locator("[data-mode=keepLast] input").CheckAsync();
        await page.Locator("#gc-keep").FillAsync("1");
        foreach (var profile in listed.Where(p => p != chosen))
            await page.Locator($".gc-profiles [data-profile='{profile}'] input").UncheckAsync();
        await page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named("Collect garbage…") }).ClickAsync();
        await Expect(page.Locator("[data-summary=host]")).ToHaveTextAsync(MaintenanceFleet.Multi);
        await Expect(page.Locator("[data-summary=mode]")).ToHaveAttributeAsync("data-mode", "keepLast");
        await Expect(page.Locator(".gc-plan li")).ToHaveCountAsync(1);
        await Expect(page.Locator(".gc-plan li")).ToHaveAttributeAsync("data-profile", chosen);
        await Expect(page.Locator(".gc-plan li")).ToHaveAttributeAsync("data-delete", olderThanCurrent[chosen]);
        await Expect(page.Locator("[data-summary=dry-run]")).ToContainTextAsync("None yet");
        // Change: back to the form as it was.
        await page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named("Change") }).ClickAsync();
        await Expect(page.Locator("[data-mode=keepLast] input")).ToBeCheckedAsync();
        await Expect(page.Locator("#gc-keep")).ToHaveValueAsync("1");
        await Expect(page.Locator($".gc-profiles [data-profile='{chosen}'] input")).ToBeCheckedAsync();
        Assert.Equal(1, await page.Locator(".gc-profiles input:checked").CountAsync());

        // A plain dry run: the operation page says what it would free, and nothing goes.
        await page.Locator("[data-mode=plain] input").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named("Dry run") }).ClickAsync();
        await Expect(page).ToHaveURLAsync(Ui.OperationUrl());
        var wouldFree = await FigureAsync(page, "would-free");
        Assert.InRange(wouldFree, 1048576, long.MaxValue);
        Assert.Equal("there", await Sh(garbageThere));

        // Back on the maintenance page: the dry run is listed, and the confirmation quotes it.
        await page.GotoAsync(MaintenanceUrl);
        await Expect(page.Locator(".maintenance-runs tbody tr").First).ToHaveAttributeAsync("data-dry-run", "true");
        await Expect(page.Locator(".maintenance-runs tbody tr").First.Locator(".maintenance-summary")).ToContainTextAsync("would free");
        await page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named("Collect garbage…") }).ClickAsync();
        await Expect(page.Locator("[data-summary=mode]")).ToHaveAttributeAsync("data-mode", "plain");
        await Expect(page.Locator("[data-summary=generations]")).ToContainTextAsync("a plain collection deletes no generation");
        await Expect(page.Locator("[data-summary=dry-run] [data-result=would-free]")).ToHaveAttributeAsync("data-bytes", wouldFree.ToString());
        await Expect(page.Locator(".gc-warnings")).ToHaveCountAsync(0);
        await Expect(page.Locator("#gc-confirm-name")).ToHaveCountAsync(0);
        Assert.Equal("there", await Sh(garbageThere));

        // Confirm: the operation page says what it freed.
        await page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named($"Confirm: collect garbage on {MaintenanceFleet.Multi}") }).ClickAsync();
        await Expect(page).ToHaveURLAsync(Ui.OperationUrl());
        var freed = await FigureAsync(page, "bytes-freed");
        Assert.InRange(freed, 1048576, long.MaxValue);
        await Expect(page.Locator("#op-header [data-result=paths-deleted]")).Not.ToHaveTextAsync("0");
        Assert.Equal("gone", await Sh(garbageThere));

        // The host page: one more collection marked on the chart, and one more store size (read after the run).
        await page.Locator("#op-header a.op-host").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($@"/hosts/{mt.HostId}$"));
        await Expect(page.Locator("[data-gc-run]")).ToHaveCountAsync(markersBefore + 1);
        Assert.Equal(pointsBefore + 1, await StorePointsAsync(page));
        session.Passed();
    }

    [Fact]
    public async Task DeleteOld_WithoutTheHostsNameTyped_IsRefusedOnThePage_AndNothingIsQueued()
    {
        var before = await OperationCountAsync();
        var generations = await Sh("find /nix/var/nix/profiles /home -name '*-link' 2>/dev/null | sort");
        await using var session = await mt.OpenAsync(output, nameof(DeleteOld_WithoutTheHostsNameTyped_IsRefusedOnThePage_AndNothingIsQueued));
        var page = session.Page;
        await Ui.SignInAsync(page, NixFleetApp.AdminEmail, NixFleetApp.AdminPassword);
        await page.GotoAsync(MaintenanceUrl);

        // Days that are no number of days: said under the field, nothing queued.
        await page.Locator("[data-mode=olderThan] input").CheckAsync();
        await page.Locator("#gc-days").FillAsync("0");
        await page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named("Dry run") }).ClickAsync();
        await Expect(page.Locator("[data-field-error=olderThanDays]")).ToContainTextAsync("D from 1 to");
        await Expect(page).ToHaveURLAsync(new Regex($"{Regex.Escape(MaintenanceUrl)}$"));

        await page.Locator("[data-mode=deleteOld] input").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named("Collect garbage…") }).ClickAsync();
        await Expect(page.Locator(".gc-warnings")).ToContainTextAsync("no rollback target is left");
        var confirm = page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named($"Confirm: collect garbage on {MaintenanceFleet.Multi}") });

        await page.GetByLabel($"Type {MaintenanceFleet.Multi} to confirm").FillAsync("mt-multi2");
        await confirm.ClickAsync();
        await Expect(page.Locator("[data-field-error=confirmName]")).ToContainTextAsync($"Type the host's name, {MaintenanceFleet.Multi}, exactly");
        // Still the confirmation, for deleteOld.
        await Expect(page.Locator("[data-summary=mode]")).ToHaveAttributeAsync("data-mode", "deleteOld");
        await Expect(confirm).ToBeVisibleAsync();

        Assert.Equal(before, await OperationCountAsync());
        Assert.Equal(generations, await Sh("find /nix/var/nix/profiles /home -name '*-link' 2>/dev/null | sort"));
        session.Passed();
    }

    [Fact]
    public async Task Optimise_WhileAnotherOperationHoldsTheHost_SaysWhichOne_ThenRuns_AndVerifyFindsTheStoreHealthy()
    {
        await using var session = await mt.OpenAsync(output, nameof(Optimise_WhileAnotherOperationHoldsTheHost_SaysWhichOne_ThenRuns_AndVerifyFindsTheStoreHealthy));
        var page = session.Page;
        await Ui.SignInAsync(page, NixFleetApp.AdminEmail, NixFleetApp.AdminPassword);
        var optimise = page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named($"Optimise {MaintenanceFleet.Multi}'s store") });

        // Another optimise holds the host (its du, found through PATH, is slowed down so it stays a while).
        await Sh("printf '#!/bin/sh\\nsleep 4\\nexec /usr/bin/du \"$@\"\\n' > /usr/local/bin/du && chmod 755 /usr/local/bin/du");
        try
        {
            var holder = (await mt.Admin.PostJsonAsync($"/api/v1/hosts/{mt.HostId}/optimise", null, HttpStatusCode.Accepted)).GetProperty("operationId").GetGuid();
            var before = await OperationCountAsync();
            await page.GotoAsync(MaintenanceUrl);
            await page.Locator("details.optimise summary").ClickAsync();
            await optimise.ClickAsync();
            await Expect(page.Locator(".maintenance-busy")).ToContainTextAsync($"Host '{MaintenanceFleet.Multi}' is busy: a optimise operation ({holder})");
            await Expect(page).ToHaveURLAsync(new Regex($"{Regex.Escape(MaintenanceUrl)}$"));
            Assert.Equal(before, await OperationCountAsync());
            Assert.Equal("succeeded", (await mt.Admin.WaitForOperationAsync(holder)).GetProperty("status").GetString());
        }
        finally
        {
            await Sh("rm -f /usr/local/bin/du");
        }

        // Free again: the same click runs it, and the operation page says what it did.
        await page.Locator("details.optimise summary").ClickAsync();
        await optimise.ClickAsync();
        await Expect(page).ToHaveURLAsync(Ui.OperationUrl());
        Assert.InRange(await FigureAsync(page, "bytes-freed"), 0, long.MaxValue);
        await Expect(page.Locator("#op-header [data-result=files-linked]")).ToHaveTextAsync(new Regex(@"^\d+$"));

        // Verify, contents checked: a healthy store says so.
        await page.GotoAsync(MaintenanceUrl);
        await Expect(page.GetByLabel("Check contents", new() { Exact = false })).ToBeCheckedAsync();
        await page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named("Verify store") }).ClickAsync();
        await Expect(page).ToHaveURLAsync(Ui.OperationUrl());
        await Expect(page.Locator("#op-header [data-result=healthy]")).ToHaveAttributeAsync("data-healthy", "true", new() { Timeout = 120_000 });
        await Expect(page.Locator("#op-header .maintenance-result .card-actions")).ToContainTextAsync("contents checked against their hashes");
        session.Passed();
    }
}

/// <summary>Not beside the other browser tests: xunit runs this collection alone, after the parallel ones.</summary>
[CollectionDefinition(MaintenanceBrowserTests.Name, DisableParallelization = true)]
public sealed class MaintenanceBrowserCollectionDefinition;
