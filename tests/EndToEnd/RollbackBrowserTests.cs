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

    public sealed class RollbackFleet() : OwnFleet("rb", ("nixos", Nixos, "127.0.0.46"))
    {
        public const string Nixos = "rb-nixos";

        public Guid HostId => Ids[Nixos];
    }

    Task<string> Sh(string script) => rb.Fleet.ShAsync(RollbackFleet.Nixos, script);

    [Fact]
    public async Task FleetRollback_ByTag_ReviewsTheHostsFirst_ThenShowsEachHostsPart()
    {
        var before = await Sh($"readlink {SystemProfile}");
        var n = int.Parse(Regex.Match(before, @"-(\d+)-link$").Groups[1].Value);
        var previous = await Sh($"readlink {SystemProfile}-{n - 1}-link");
        using var tagged = await rb.App.ClientAsync();
        await tagged.AddTrustedHostAsync("rb-tagged", rb.Fleet.Named(RollbackFleet.Nixos).Address, "canary");
        try
        {
            await using var session = await rb.OpenAsync(output, nameof(FleetRollback_ByTag_ReviewsTheHostsFirst_ThenShowsEachHostsPart));
            var page = session.Page;
            await Ui.SignInAsync(page, NixFleetApp.AdminEmail, NixFleetApp.AdminPassword);
            await page.GotoAsync("/hosts");
            await page.GetByRole(AriaRole.Link, new() { NameRegex = Ui.Named("Roll back many") }).ClickAsync();
            await page.Locator("#tag").SelectOptionAsync("canary");
            await page.Locator("#reason").FillAsync("canary went bad");
            await page.GetByRole(AriaRole.Button, new() { Name = "Review" }).ClickAsync();

            // Nothing has run yet: the page names the hosts and asks again.
            await Expect(page.Locator(".fleet-rollback-review .badge")).ToHaveTextAsync(["rb-tagged"]);
            Assert.Equal(before, await Sh($"readlink {SystemProfile}"));
            await page.GetByRole(AriaRole.Button, new() { Name = "Roll back 1 host(s)" }).ClickAsync();

            await Expect(page).ToHaveURLAsync(new Regex(@"/operations/[0-9a-f-]{36}$"));
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (!await page.Locator(".operation-parts").IsVisibleAsync() || await page.Locator(".operation-parts h3").TextContentAsync() is not { } t || !t.Contains("1 of 1 succeeded"))
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException(await page.ContentAsync());
                await Task.Delay(1000);
                await page.ReloadAsync();
            }
            Assert.Equal(previous, await Sh("readlink /run/current-system"));
            Assert.Equal($"system-{n - 1}-link", await Sh($"readlink {SystemProfile}"));
        }
        finally
        {
            // Leave the stand-in as the other tests expect it: running and booting generation 3.
            if (await Sh("readlink /run/current-system") != await Sh($"readlink {SystemProfile}-3-link") || await Sh($"readlink {SystemProfile}") != "system-3-link")
            {
                var back = await tagged.PostJsonAsync($"/api/v1/hosts/{rb.HostId}/rollback",
                    new { profile = SystemProfile, generation = 3, mode = "switch", reason = "restore after test" }, System.Net.HttpStatusCode.Accepted);
                await tagged.WaitForOperationAsync(back.GetProperty("operationId").GetGuid());
            }
        }
    }

    [Fact]
    public async Task OnCall_RollsBackToGeneration2_SeesFromToAndDiff_WatchesLiveOutput_AndSeesItRunning()
    {
        var host = rb.Fleet.Named(RollbackFleet.Nixos);
        var hostId = rb.HostId;
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
            try
            {
                await Expect(log).ToContainTextAsync($"activation succeeded; running {two}");
            }
            catch (PlaywrightException)
            {
                // What the host recorded of the activation says whether the page or the rollback went wrong.
                output.WriteLine(await Sh("cd /var/lib/nixfleet/activations && for f in *; do echo \"== $f\"; cat \"$f\"; done"));
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

    /// <summary>The host's generations of a profile as the API lists them: (number, current).</summary>
    async Task<List<(int Number, bool Current)>> GenerationsAsync(string profile) =>
        [.. (await rb.Admin.GetJsonAsync($"/api/v1/hosts/{rb.HostId}/generations")).EnumerateArray()
            .Where(g => g.GetProperty("profile").GetString() == profile)
            .Select(g => (g.GetProperty("number").GetInt32(), g.GetProperty("current").GetBoolean()))];

    async Task<int> OperationCountAsync() =>
        (await rb.Admin.GetJsonAsync($"/api/v1/operations?hostId={rb.HostId}&limit=500")).GetArrayLength();

    [Fact]
    public async Task Confirm_WithoutAPlainReason_OrWhileTheHostIsBusy_SaysWhyOnThePage_AndChangesNothing()
    {
        var generations = await GenerationsAsync(SystemProfile);
        var running = generations.Single(g => g.Current).Number;
        var other = generations.First(g => !g.Current).Number;
        var runningBefore = await Sh("readlink /run/current-system");
        var bootBefore = await Sh($"readlink {SystemProfile}");
        var operationsBefore = await OperationCountAsync();
        await using var session = await rb.OpenAsync(output, nameof(Confirm_WithoutAPlainReason_OrWhileTheHostIsBusy_SaysWhyOnThePage_AndChangesNothing));
        var page = session.Page;
        await Ui.SignInAsync(page, NixFleetApp.AdminEmail, NixFleetApp.AdminPassword);
        var confirmUrl = $"/hosts/{rb.HostId}/generations/rollback?profile=%2Fnix%2Fvar%2Fnix%2Fprofiles%2Fsystem&to={other}";
        await page.GotoAsync(confirmUrl);
        var confirm = page.GetByRole(AriaRole.Button, new() { NameRegex = new Regex("Confirm") });
        var reasonError = page.Locator("[data-field-error=reason]");

        // No reason: the page says so under the field, and nothing is queued.
        await confirm.ClickAsync();
        await Expect(reasonError).ToHaveTextAsync("Say why: the reason goes into the audit trail.");
        await Expect(page).ToHaveURLAsync(new Regex(Regex.Escape(confirmUrl) + "$"));
        await Expect(page.Locator("[data-summary=to]")).ToHaveAttributeAsync("data-generation", other.ToString());

        // What only an injection would contain is refused, as the API refuses it.
        await page.GetByLabel("Reason").FillAsync("$(reboot)");
        await confirm.ClickAsync();
        await Expect(reasonError).ToContainTextAsync("one line of plain text");
        Assert.Equal(operationsBefore, await OperationCountAsync());

        // Another change holds the host (a slow re-activation of what runs, in test mode: it changes nothing).
        await Sh("echo 4 > /etc/nixfleet-test/slow-activation");
        try
        {
            var busy = (await rb.Admin.PostJsonAsync($"/api/v1/hosts/{rb.HostId}/rollback",
                new { profile = SystemProfile, generation = running, mode = "test", reason = "holds the host" }, System.Net.HttpStatusCode.Accepted))
                .GetProperty("operationId").GetGuid();
            await page.GetByLabel("Reason").FillAsync("INC-43: second engineer");
            await confirm.ClickAsync();
            await Expect(page.Locator(".rollback-busy")).ToContainTextAsync($"Host '{RollbackFleet.Nixos}' is busy: a rollback operation ({busy})");
            // The confirmation stays, ready for when the host is free.
            await Expect(page.GetByLabel("Reason")).ToHaveValueAsync("INC-43: second engineer");
            await Expect(confirm).ToBeVisibleAsync();
            Assert.Equal("succeeded", (await rb.Admin.WaitForOperationAsync(busy)).GetProperty("status").GetString());
        }
        finally
        {
            await Sh("rm -f /etc/nixfleet-test/slow-activation");
        }
        Assert.Equal(operationsBefore + 1, await OperationCountAsync());
        Assert.Equal(runningBefore, await Sh("readlink /run/current-system"));
        Assert.Equal(bootBefore, await Sh($"readlink {SystemProfile}"));
        session.Passed();
    }

    [Fact]
    public async Task DeleteOldGenerations_PreviewListsExactlyWhatGoes_AndOnlyThatIsDeleted()
    {
        const string profile = "/nix/var/nix/profiles/default";
        var generations = await GenerationsAsync(profile);
        var current = generations.Single(g => g.Current).Number;
        // "Keep the last 1": the one the profile points at and any newer one stay.
        var doomed = generations.Where(g => g.Number < current).Select(g => g.Number.ToString()).Order().ToArray();
        var kept = generations.Where(g => g.Number >= current).Select(g => g.Number.ToString()).OrderDescending().ToArray();
        Assert.NotEmpty(doomed);
        await using var session = await rb.OpenAsync(output, nameof(DeleteOldGenerations_PreviewListsExactlyWhatGoes_AndOnlyThatIsDeleted));
        var page = session.Page;
        await Ui.SignInAsync(page, NixFleetApp.AdminEmail, NixFleetApp.AdminPassword);
        await page.GotoAsync($"/hosts/{rb.HostId}/generations");

        var card = page.Locator($".profile-generations[data-profile='{profile}']");
        await card.GetByLabel("Which generations to delete").SelectOptionAsync("keepLast");
        await card.GetByLabel("How many generations, or days").FillAsync("1");
        await card.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named("Preview deletion…") }).ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex($@"/hosts/{rb.HostId}/generations/delete\?profile=%2Fnix%2Fvar%2Fnix%2Fprofiles%2Fdefault&by=keepLast&n=1$"));
        await Expect(page.Locator(".delete-doomed tbody tr")).ToHaveCountAsync(doomed.Length);
        Assert.Equal(doomed, await page.Locator(".delete-doomed tbody tr").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.generation)"));
        Assert.Equal(kept, await page.Locator(".delete-kept tbody tr").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.generation)"));
        // Looking changed nothing.
        Assert.Equal(generations.Count.ToString(), await Sh($"ls -d {profile}-*-link | wc -l"));

        var label = $"Delete {doomed.Length} generation{(doomed.Length == 1 ? "" : "s")} of {RollbackFleet.Nixos}";
        await page.GetByRole(AriaRole.Button, new() { NameRegex = Ui.Named(label) }).ClickAsync();
        await Expect(page).ToHaveURLAsync(Ui.OperationUrl());
        await Expect(page.Locator("#op-status [data-status]")).ToHaveAttributeAsync("data-status", "succeeded");

        var left = (await Sh($"ls -d {profile}-*-link | sed 's/.*-\\([0-9]*\\)-link/\\1/' | sort -rn")).Split('\n');
        Assert.Equal(kept, left);
        Assert.Equal($"default-{current}-link", await Sh($"readlink {profile}"));
        session.Passed();
    }
}

/// <summary>Not beside the other browser tests: xunit runs this collection alone, after the parallel ones.</summary>
[CollectionDefinition(RollbackBrowserTests.Name, DisableParallelization = true)]
public sealed class RollbackBrowserCollectionDefinition;
