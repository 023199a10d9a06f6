using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace NixFleet.EndToEnd;

[Collection(FleetCollection.Name)]
public sealed class SignInTests(EndToEndFixture e2e, BrowserFixture browser, ITestOutputHelper output) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task WrongPassword_ShowsAClearError_AndLocksOutAfterFiveTries()
    {
        const string email = "lockout@example.test";
        const string password = "Right-pass-123";
        await e2e.Admin.CreateUserAsync(email, password, "Operator");
        await using var session = await browser.OpenAsync(e2e.App.BaseUrl, output, nameof(WrongPassword_ShowsAClearError_AndLocksOutAfterFiveTries));
        var page = session.Page;
        var error = page.GetByRole(AriaRole.Alert);

        // An unknown account reads the same as a wrong password: the page does not tell which emails exist.
        await Ui.SubmitLoginAsync(page, "nobody@example.test", "Whatever-123");
        await Expect(error).ToHaveTextAsync("Wrong email or password.");

        for (var attempt = 1; attempt <= 4; attempt++)
        {
            await Ui.SubmitLoginAsync(page, email, $"Wrong-pass-{attempt}");
            await Expect(error).ToHaveTextAsync("Wrong email or password.");
            await Expect(error).ToHaveClassAsync(new Regex(@"\balert-danger\b"));
            // The email stays filled in, the password never comes back.
            await Expect(page.GetByLabel("Email")).ToHaveValueAsync(email);
            await Expect(page.GetByLabel("Password")).ToBeEmptyAsync();
            Assert.DoesNotContain($"Wrong-pass-{attempt}", await page.ContentAsync());
        }

        // The fifth wrong password locks the account, and says so.
        await Ui.SubmitLoginAsync(page, email, "Wrong-pass-5");
        await Expect(error).ToContainTextAsync("Account locked");
        await Expect(error).ToContainTextAsync("Too many wrong passwords");

        // Locked means locked: the right password does not get in either.
        await Ui.SubmitLoginAsync(page, email, password);
        await Expect(error).ToContainTextAsync("Account locked");
        await page.GotoAsync("/hosts");
        await Expect(page).ToHaveURLAsync(new Regex(@"/login\?ReturnUrl=%2Fhosts$"));
        var users = await e2e.Admin.GetJsonAsync("/api/v1/users");
        Assert.True(users.EnumerateArray().Single(u => u.GetProperty("email").GetString() == email).GetProperty("lockedOut").GetBoolean());
        session.Passed();
    }
}
