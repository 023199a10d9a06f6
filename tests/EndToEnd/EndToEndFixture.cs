namespace NixFleet.EndToEnd;

/// <summary>
/// What every browser test works against: a test fleet of its own on 127.0.0.41-43 (the
/// integration tests use 127.0.0.31-36) and one NixFleet process on a fresh database, started
/// once for the browser tests and stopped (fleet down) at the end.
/// </summary>
public sealed class EndToEndFixture : IAsyncLifetime
{
    public const string Single = "e2e-single";
    public const string NixOS = "e2e-nixos";
    public const string Multi = "e2e-multi";

    readonly SemaphoreSlim _gate = new(1, 1);
    bool _keyImported;
    string? _adminState;

    Task<NixFleetApp>? _docsApp;

    public TestFleet Fleet { get; private set; } = null!;
    public NixFleetApp App { get; private set; } = null!;
    public ApiClient Admin { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var fleet = TestFleet.StartAsync("e2e",
            ("single", Single, "127.0.0.41"),
            ("nixos", NixOS, "127.0.0.42"),
            ("multi", Multi, "127.0.0.43"));
        var app = NixFleetApp.StartAsync();
        // The screenshots' own NixFleet (a database with only their hosts) starts meanwhile.
        _docsApp = NixFleetApp.StartAsync();
        try
        {
            // Playwright's driver starts meanwhile too.
            await Task.WhenAll(fleet, app, BrowserFixture.DriverAsync());
        }
        catch
        {
            if (fleet.IsCompletedSuccessfully) await fleet.Result.DisposeAsync();
            if (app.IsCompletedSuccessfully) await app.Result.DisposeAsync();
            throw;
        }
        Fleet = fleet.Result;
        App = app.Result;
        Admin = await App.ClientAsync();
    }

    public async Task DisposeAsync()
    {
        BrowserFixture.StopDriver();
        Admin?.Dispose();
        if (App is not null) await App.DisposeAsync();
        if (_docsApp is not null)
        {
            try { await (await _docsApp).DisposeAsync(); }
            catch (Exception) { } // a failed start was reported to the screenshots test already
        }
        if (Fleet is not null) await Fleet.DisposeAsync();
    }

    /// <summary>A second NixFleet on a database of its own, for the documentation's screenshots.</summary>
    public Task<NixFleetApp> DocsAppAsync() => _docsApp!;

    public string Address(string host) => Fleet.Named(host).Address;

    /// <summary>
    /// For tests that need NixFleet to log in to the fleet without going through the SSH key page
    /// (the sign-in test imports the same key there, in the browser).
    /// </summary>
    public async Task EnsureFleetKeyAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (_keyImported) return;
            await Admin.ImportKeyAsync(Fleet.PrivateKey);
            _keyImported = true;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The admin's signed-in browser state, from one sign-in through the login form (the login rate limit counts every sign-in).</summary>
    public async Task<string> AdminStateAsync(BrowserFixture browser)
    {
        await _gate.WaitAsync();
        try
        {
            if (_adminState is not null) return _adminState;
            await using var context = await browser.NewContextAsync(App.BaseUrl);
            var page = await context.NewPageAsync();
            await Ui.SignInAsync(page, NixFleetApp.AdminEmail, NixFleetApp.AdminPassword);
            return _adminState = await context.StorageStateAsync();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The SHA256 fingerprint of the host's ed25519 key, as the host itself computes it.</summary>
    public Task<string> RealFingerprintAsync(string host) =>
        Fleet.ShAsync(host, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f2");

    /// <summary>The host's public key line without its comment, as the Add host form takes it.</summary>
    public Task<string> PublicHostKeyAsync(string host) =>
        Fleet.ShAsync(host, "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub");

    /// <summary>
    /// Makes the facts probe's `du` (found through PATH, /usr/local/bin first) take this long, so an
    /// operation is still running while the browser looks at it. Dispose to undo.
    /// </summary>
    public async Task<IAsyncDisposable> SlowDownFactsAsync(string host, int seconds)
    {
        await Fleet.ShAsync(host, $"printf '#!/bin/sh\\nsleep {seconds}\\nexec /usr/bin/du \"$@\"\\n' > /usr/local/bin/du && chmod 755 /usr/local/bin/du");
        return new Undo(() => Fleet.ShAsync(host, "rm -f /usr/local/bin/du"));
    }

    sealed class Undo(Func<Task> undo) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await undo();
    }
}

/// <summary>The browser tests share one fleet and one NixFleet process: their classes run one after another.</summary>
[CollectionDefinition(FleetCollection.Name)]
public sealed class FleetCollectionDefinition : ICollectionFixture<EndToEndFixture>;
