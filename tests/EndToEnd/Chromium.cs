using Xunit.Abstractions;

namespace NixFleet.EndToEnd;

/// <summary>
/// How every browser test launches Debian's Chromium and opens a context on a NixFleet, so the
/// shared fixture and the fleets of their own see the same browser, window, locale and clock.
/// </summary>
public static class Chromium
{
    /// <summary>Actions (a click, a fill) wait this long: generous for a loaded CI machine.</summary>
    public const int ActionTimeout = 20_000;

    public static Task<IBrowser> LaunchAsync(IPlaywright driver) =>
        driver.Chromium.LaunchAsync(new()
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });

    public static async Task<IBrowserContext> NewContextAsync(IBrowser browser, string baseUrl, string? storageState = null)
    {
        var context = await browser.NewContextAsync(new()
        {
            BaseURL = baseUrl,
            StorageState = storageState,
            ViewportSize = new() { Width = 1280, Height = 860 },
            Locale = "en-GB",
            TimezoneId = "UTC",
        });
        context.SetDefaultTimeout(ActionTimeout);
        return context;
    }

    /// <summary>A fresh context and page; on a failed test, its screenshot and URL are kept for the report.</summary>
    public static async Task<Session> OpenAsync(IBrowser browser, string baseUrl, ITestOutputHelper output, string name, string? storageState = null)
    {
        var context = await NewContextAsync(browser, baseUrl, storageState);
        return new Session(context, await context.NewPageAsync(), output, name);
    }
}
