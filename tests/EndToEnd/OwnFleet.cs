using Xunit.Abstractions;

namespace NixFleet.EndToEnd;

/// <summary>
/// A fleet, a NixFleet and a browser of a test class's own, for browser tests that change their
/// hosts for good (and import a fleet key of their own). The hosts are added with their keys
/// trusted and refreshed once, so their pages start from real facts.
/// </summary>
/// <param name="prefix">The fleet's state dir prefix.</param>
/// <param name="hosts">Kind, name and loopback address of each host.</param>
public abstract class OwnFleet(string prefix, params (string Kind, string Name, string Address)[] hosts) : IAsyncLifetime
{
    IPlaywright? _driver;
    IBrowser? _browser;

    public TestFleet Fleet { get; private set; } = null!;
    public NixFleetApp App { get; private set; } = null!;
    public ApiClient Admin { get; private set; } = null!;
    public Dictionary<string, Guid> Ids { get; } = [];

    /// <summary>The tag every host gets, if any.</summary>
    protected virtual string? Tag => null;

    /// <summary>Anything else the class needs started beside the fleet and NixFleet (a channel server, say).</summary>
    protected virtual Task StartMoreAsync() => Task.CompletedTask;

    /// <summary>After the hosts are in: users, settings.</summary>
    protected virtual Task PrepareAsync() => Task.CompletedTask;

    protected virtual Task StopMoreAsync() => Task.CompletedTask;

    public async Task InitializeAsync()
    {
        SetDefaultExpectTimeout(20_000);
        var more = StartMoreAsync();
        var fleet = TestFleet.StartAsync(prefix, hosts);
        var app = NixFleetApp.StartAsync();
        try
        {
            await Task.WhenAll(more, fleet, app);
        }
        catch
        {
            if (more.IsCompletedSuccessfully) await StopMoreAsync();
            if (fleet.IsCompletedSuccessfully) await (await fleet).DisposeAsync();
            if (app.IsCompletedSuccessfully) await (await app).DisposeAsync();
            throw;
        }
        Fleet = await fleet;
        App = await app;
        Admin = await App.ClientAsync();
        // NixFleet logs in to the fleet with the fleet's own key, and trusts the hosts' keys as offered.
        await Admin.ImportKeyAsync(Fleet.PrivateKey);
        foreach (var h in Fleet.Hosts) Ids[h.Name] = await Admin.AddTrustedHostAsync(h.Name, h.Address, Tag is null ? [] : [Tag]);
        foreach (var id in Ids.Values)
        {
            var refresh = await Admin.WaitForOperationAsync(await Admin.RefreshAsync(id));
            Assert.Equal("succeeded", refresh.GetProperty("status").GetString());
        }
        await PrepareAsync();
        _driver = await Playwright.CreateAsync();
        _browser = await Chromium.LaunchAsync(_driver);
    }

    /// <summary>A fresh browser context and page on this NixFleet; a failed test leaves a screenshot.</summary>
    public Task<Session> OpenAsync(ITestOutputHelper output, string name) =>
        Chromium.OpenAsync(_browser!, App.BaseUrl, output, name);

    public async Task DisposeAsync()
    {
        if (_browser is not null) await _browser.CloseAsync();
        _driver?.Dispose();
        Admin?.Dispose();
        if (App is not null) await App.DisposeAsync();
        if (Fleet is not null) await Fleet.DisposeAsync();
        await StopMoreAsync();
    }
}
