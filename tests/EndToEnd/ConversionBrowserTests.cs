using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace NixFleet.EndToEnd;

/// <summary>
/// Converting a single-user install to multi-user from the browser, on a real single-user host:
/// the admin opens the host, reads the plan and the preflight, confirms with the host's name,
/// watches the steps arrive live, and sees the host reported as multi-user, on the page and on the
/// host itself.
/// </summary>
/// <remarks>A fleet, a NixFleet and a browser of its own (127.0.0.190): the conversion changes the host for good.</remarks>
[Collection(Name)]
public sealed class ConversionBrowserTests(ConversionBrowserTests.ConversionFleet cv, ITestOutputHelper output) : IClassFixture<ConversionBrowserTests.ConversionFleet>
{
    public const string Name = "conversion-browser";

    public sealed class ConversionFleet() : OwnFleet("cvb", ("single", Single, "127.0.0.190"))
    {
        public const string Single = "cvb-single";

        public Guid HostId => Ids[Single];
    }

    Task<string> Sh(string script) => cv.Fleet.ShAsync(ConversionFleet.Single, script);

    [Fact]
    public async Task Admin_ReadsThePlan_Converts_WatchesTheSteps_AndSeesTheHostMultiUser()
    {
        Assert.Equal("alice", await Sh("stat -c %U /nix/store"));
        await using var session = await cv.OpenAsync(output, nameof(Admin_ReadsThePlan_Converts_WatchesTheSteps_AndSeesTheHostMultiUser));
        var page = session.Page;
        await Ui.SignInAsync(page, NixFleetApp.AdminEmail, NixFleetApp.AdminPassword);

        // The host page says what the install is, and offers the conversion.
        await page.GotoAsync($"/hosts/{cv.HostId}");
        await Expect(page.Locator(".host-conversion")).ToContainTextAsync("single-user Nix install");
        await page.Locator("a.host-convert").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($"/hosts/{cv.HostId}/convert$"));

        // The plan, read from the host before anything changes.
        await page.Locator("#convert-build-users").FillAsync("4");
        await page.Locator("#convert-show-plan").ClickAsync();
        await Expect(page.Locator("#convert-plan")).ToBeVisibleAsync(new() { Timeout = 60_000 });
        await Expect(page.Locator("#convert-checks")).ToContainTextAsync("single-user: the store belongs to alice");
        await Expect(page.Locator("#convert-checks")).ToContainTextAsync("no Nix process is running");
        await Expect(page.Locator("#convert-plan > li")).ToHaveCountAsync(7);
        await Expect(page.Locator("#convert-plan")).ToContainTextAsync("nixbld1..nixbld4");
        Assert.Contains("chown -R root:nixbld /nix", await page.Locator("#convert-plan").TextContentAsync());
        Assert.Equal("alice", await Sh("stat -c %U /nix/store"));

        // Confirm with the host's name: the operation page shows the steps as they run.
        await page.Locator("#convert-confirm-name").FillAsync(ConversionFleet.Single);
        await page.Locator("#convert-submit").ClickAsync();
        await Expect(page).ToHaveURLAsync(Ui.OperationUrl());
        try
        {
            await Expect(page.Locator("#op-output")).ToContainTextAsync("step 1/7 build-users", new() { Timeout = 60_000 });
            await Expect(page.Locator("#op-output")).ToContainTextAsync("step 7/7 verify", new() { Timeout = 120_000 });
            await Expect(page.Locator("#op-status [data-status]")).ToHaveAttributeAsync("data-status", "succeeded", new() { Timeout = 120_000 });
        }
        catch (PlaywrightException)
        {
            output.WriteLine(await page.Locator("#op-output").InnerTextAsync());
            throw;
        }
        await Expect(page.Locator("#convert-install-type")).ToHaveTextAsync("multi-user");
        await Expect(page.Locator("#receipt-steps tbody tr")).ToHaveCountAsync(7);
        await Expect(page.Locator("#receipt-after")).ToContainTextAsync("nixbld");

        // The host page now reports it multi-user, and so does the host.
        await page.GotoAsync($"/hosts/{cv.HostId}");
        await Expect(page.Locator(".host-conversion")).ToHaveAttributeAsync("data-receipt-status", "converted");
        await Expect(page.Locator("body")).ToContainTextAsync("multi-user");
        Assert.Equal("root:nixbld", await Sh("stat -c %U:%G /nix/store"));
        Assert.Equal("nixbld", await Sh("id -gn nixbld4"));
        session.Passed();
    }
}

/// <summary>Not beside the other browser tests: xunit runs this collection alone, after the parallel ones.</summary>
[CollectionDefinition(ConversionBrowserTests.Name, DisableParallelization = true)]
public sealed class ConversionBrowserCollectionDefinition;
