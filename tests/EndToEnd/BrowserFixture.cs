using Xunit.Abstractions;

namespace NixFleet.EndToEnd;

/// <summary>One headless Debian Chromium per test class; each test opens its own context (cookies, storage).</summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    // Playwright's driver (a Node.js process) is started once for the run; each class launches its browser from it.
    static readonly SemaphoreSlim DriverGate = new(1, 1);
    static IPlaywright? _driver;

    public IBrowser Browser { get; private set; } = null!;

    public static async Task<IPlaywright> DriverAsync()
    {
        await DriverGate.WaitAsync();
        try { return _driver ??= await Playwright.CreateAsync(); }
        finally { DriverGate.Release(); }
    }

    /// <summary>Ends the driver; the collection fixture calls it once every class is done.</summary>
    public static void StopDriver()
    {
        _driver?.Dispose();
        _driver = null;
    }

    public async Task InitializeAsync()
    {
        // Waits for what a page does after a click (a form post, an htmx swap, the live output):
        // generous for a loaded CI machine, still failing a test that waits for something never shown.
        SetDefaultExpectTimeout(20_000);
        var driver = await DriverAsync();
        Browser = await Chromium.LaunchAsync(driver);
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.CloseAsync();
    }

    public Task<IBrowserContext> NewContextAsync(string baseUrl, string? storageState = null) =>
        Chromium.NewContextAsync(Browser, baseUrl, storageState);

    /// <summary>A fresh context and page; on a failed test, its screenshot and URL are kept for the report.</summary>
    public Task<Session> OpenAsync(string baseUrl, ITestOutputHelper output, string name, string? storageState = null) =>
        Chromium.OpenAsync(Browser, baseUrl, output, name, storageState);
}

/// <summary>
/// A test's browser context. Call <see cref="Passed"/> as the test's last line: a session disposed
/// without it belongs to a failed test, and leaves a screenshot of where the page was.
/// </summary>
public sealed class Session(IBrowserContext context, IPage page, ITestOutputHelper output, string name) : IAsyncDisposable
{
    bool _passed;
    public IPage Page { get; } = page;
    public IBrowserContext Context { get; } = context;

    public void Passed() => _passed = true;

    public async ValueTask DisposeAsync()
    {
        if (!_passed)
        {
            try
            {
                var dir = Path.Combine(AppContext.BaseDirectory, "failures");
                Directory.CreateDirectory(dir);
                var file = Path.Combine(dir, $"{name}.png");
                await Page.ScreenshotAsync(new() { Path = file, FullPage = true });
                output.WriteLine($"page at failure: {Page.Url}, screenshot: {file}");
            }
            catch (PlaywrightException e)
            {
                output.WriteLine($"no screenshot of the failed page: {e.Message}");
            }
        }
        await Context.CloseAsync();
    }
}
