using System.Text.RegularExpressions;

namespace NixFleet.EndToEnd;

/// <summary>What a person does on NixFleet's pages, in the words the pages use.</summary>
public static partial class Ui
{
    public static async Task SubmitLoginAsync(IPage page, string email, string password)
    {
        if (!page.Url.Contains("/login", StringComparison.Ordinal)) await page.GotoAsync("/login");
        await page.GetByLabel("Email").FillAsync(email);
        await page.GetByLabel("Password").FillAsync(password);
        await MarkDocumentAsync(page);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        // A failed sign-in comes back to the same URL: wait for the new document, not for a URL.
        await WaitForNewDocumentAsync(page);
    }

    /// <summary>Signs in through the login form and waits for the overview.</summary>
    public static async Task SignInAsync(IPage page, string email, string password)
    {
        await page.GotoAsync("/login");
        await SubmitLoginAsync(page, email, password);
        await Expect(page).ToHaveURLAsync(SignedInUrl());
        await Expect(page.Locator(".signed-in")).ToContainTextAsync(email);
    }

    /// <summary>The sidebar's link to a section.</summary>
    public static ILocator Nav(IPage page, string name) =>
        page.Locator("aside").GetByRole(AriaRole.Link, new() { NameRegex = Named(name) });

    /// <summary>
    /// A control's accessible name ending in these words. Tabler's icon font puts its glyph in the
    /// name (the icons have no aria-hidden), so names are "\uXXXX Refresh" rather than "Refresh".
    /// </summary>
    public static Regex Named(string name) => new($@"(^|\s){Regex.Escape(name)}$");

    /// <summary>
    /// Marks the current document. <see cref="AssertSameDocumentAsync"/> then proves that what
    /// changed on the page since came by script (htmx, the live output), not by loading it again.
    /// </summary>
    public static Task MarkDocumentAsync(IPage page) =>
        page.EvaluateAsync("() => { window.__marker = 1; document.documentElement.dataset.e2eMarked = '1'; }");

    /// <summary>Waits until the marked document has been replaced by a newly loaded one.</summary>
    public static async Task WaitForNewDocumentAsync(IPage page)
    {
        await Expect(page.Locator("html[data-e2e-marked]")).ToHaveCountAsync(0);
        await page.WaitForLoadStateAsync(LoadState.DOMContentLoaded);
    }

    public static async Task AssertSameDocumentAsync(IPage page) =>
        Assert.True(await page.EvaluateAsync<bool>("() => window.__marker === 1"), $"the page was loaded again: {page.Url}");

    /// <summary>The names in the hosts table, in the order shown.</summary>
    public static async Task<string[]> HostRowsAsync(IPage page) =>
        [.. await page.Locator("#hosts-results tbody tr[data-host]").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.host)")];

    /// <summary>The host page's id from its URL (/hosts/{id}).</summary>
    public static Guid HostId(IPage page) => Guid.Parse(HostUrl().Match(page.Url).Groups[1].Value);

    [GeneratedRegex(@"/hosts/([0-9a-f-]{36})(\?|$)")]
    public static partial Regex HostUrl();

    [GeneratedRegex(@"/operations/([0-9a-f-]{36})$")]
    public static partial Regex OperationUrl();

    [GeneratedRegex(@"^http://127\.0\.0\.1:\d+/$")]
    public static partial Regex SignedInUrl();
}
