using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace NixFleet.EndToEnd;

/// <summary>
/// Remote builders from the browser, on real hosts: an admin adds the builder host as a build
/// machine, gives it to a multi-user host, presses Verify, and sees the build that could only run
/// on the builder succeed there.
/// </summary>
/// <remarks>A fleet, a NixFleet and a browser of its own (127.0.0.220-221): builders change both hosts for good.</remarks>
[Collection(Name)]
public sealed class BuildersBrowserTests(BuildersBrowserTests.BuildersFleet bf, ITestOutputHelper output) : IClassFixture<BuildersBrowserTests.BuildersFleet>
{
    public const string Name = "builders-browser";

    public sealed class BuildersFleet() : OwnFleet("bfb", ("multi", Client, "127.0.0.220"), ("builder", Builder, "127.0.0.221"))
    {
        public const string Client = "bfb-client", Builder = "bfb-builder";
    }

    async Task FinishedAsync(IPage page)
    {
        try
        {
            await Expect(page.Locator("#op-status [data-status]")).ToHaveAttributeAsync("data-status", "succeeded", new() { Timeout = 120_000 });
        }
        catch (PlaywrightException)
        {
            output.WriteLine(await page.Locator("#op-output").InnerTextAsync());
            throw;
        }
    }

    [Fact]
    public async Task Admin_AddsABuilder_GivesItToAHost_Verifies_AndSeesTheBuildRunThere()
    {
        await using var session = await bf.OpenAsync(output, nameof(Admin_AddsABuilder_GivesItToAHost_Verifies_AndSeesTheBuildRunThere));
        var page = session.Page;
        await Ui.SignInAsync(page, NixFleetApp.AdminEmail, NixFleetApp.AdminPassword);

        // Add the builder host as a build machine.
        await page.GotoAsync("/builders");
        await page.Locator("#builder-host").SelectOptionAsync(bf.Ids[BuildersFleet.Builder].ToString());
        await page.Locator("#builder-user").FillAsync("builder");
        await page.Locator("#builder-systems").FillAsync("x86_64-linux");
        await page.Locator("#builder-add").ClickAsync();
        var row = page.Locator("#builders-table tbody tr[data-builder]");
        await Expect(row).ToHaveCountAsync(1);
        var address = bf.Fleet.Named(BuildersFleet.Builder).Address;
        await Expect(row).ToContainTextAsync($"ssh://builder@{address} x86_64-linux /root/.ssh/nixfleet-builder_ed25519 1 1 - -");
        await Expect(row.Locator(".builder-state")).ToContainTextAsync("not verified yet");

        // Give it to the client: the page says what will be written; saving runs and verifies.
        await page.GotoAsync($"/hosts/{bf.Ids[BuildersFleet.Client]}");
        await page.Locator("a.host-builders").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($"/hosts/{bf.Ids[BuildersFleet.Client]}/builders$"));
        await page.Locator("input.host-builder").CheckAsync();
        await page.Locator("#host-max-jobs").FillAsync("0");
        await page.Locator("#builders-save").ClickAsync();
        await Expect(page).ToHaveURLAsync(Ui.OperationUrl());
        await FinishedAsync(page);
        await Expect(page.Locator(".builders-result")).ToHaveAttributeAsync("data-outcome", "configured");
        Assert.Contains("builders = @/etc/nix/machines", await bf.Fleet.ShAsync(BuildersFleet.Client, "cat /etc/nix/nix.conf"));

        // Verify from the host's page: the build ran on the builder.
        await page.GotoAsync($"/hosts/{bf.Ids[BuildersFleet.Client]}/builders");
        await page.Locator("#builders-verify").ClickAsync();
        await Expect(page).ToHaveURLAsync(Ui.OperationUrl());
        await FinishedAsync(page);
        var verified = page.Locator("#verify-results tbody tr");
        await Expect(verified).ToHaveCountAsync(1);
        await Expect(verified).ToHaveAttributeAsync("data-build-succeeded", "true");
        await Expect(verified).ToHaveAttributeAsync("data-ran-on", BuildersFleet.Builder);

        // The builders page now shows it verified, and used by the client.
        await page.GotoAsync("/builders");
        await Expect(row.Locator(".builder-state")).ToContainTextAsync("builds");
        await Expect(row).ToContainTextAsync(BuildersFleet.Client);
        session.Passed();
    }
}

/// <summary>Not beside the other browser tests: xunit runs this collection alone, after the parallel ones.</summary>
[CollectionDefinition(BuildersBrowserTests.Name, DisableParallelization = true)]
public sealed class BuildersBrowserCollectionDefinition;
