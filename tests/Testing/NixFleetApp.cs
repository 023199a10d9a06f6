using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace NixFleet.Testing;

/// <summary>
/// NixFleet as a real process (the built web app), so tests can run two of them on one database,
/// kill one mid-operation, and drive them over HTTP as the acceptance suite and the browser do.
/// </summary>
public sealed class NixFleetApp : IAsyncDisposable
{
    public const string AdminEmail = "admin@localhost";
    public const string AdminPassword = "Admin-pass-123";

    readonly Process _process;
    readonly StringBuilder _output = new();
    public string BaseUrl { get; }
    public string ConnectionString { get; }
    public string DataDir { get; }
    public int Pid => _process.Id;

    NixFleetApp(Process process, string baseUrl, string connectionString, string dataDir)
    {
        _process = process;
        BaseUrl = baseUrl;
        ConnectionString = connectionString;
        DataDir = dataDir;
    }

    public string Output { get { lock (_output) return _output.ToString(); } }

    public static async Task<NixFleetApp> StartAsync(string? connectionString = null, IDictionary<string, string>? environment = null, string? dataDir = null)
    {
        connectionString ??= await TestPostgres.NewDatabaseAsync();
        dataDir ??= Repo.Scratch($"app-{Guid.NewGuid():N}"[..12]);
        var port = FreePort();
        var url = $"http://127.0.0.1:{port}";
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Repo.WebOutput,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(Repo.WebOutput, "NixFleet.Web.dll"));
        psi.Environment["ASPNETCORE_URLS"] = url;
        psi.Environment["ConnectionStrings__NixFleet"] = connectionString;
        psi.Environment["NIXFLEET_DATA_DIR"] = dataDir;
        psi.Environment["NIXFLEET_ADMIN_PASSWORD"] = AdminPassword;
        psi.Environment["NixFleet__FleetRefreshCron"] = "";
        psi.Environment["NixFleet__OperationStaleSeconds"] = "30";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;

        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start NixFleet");
        var app = new NixFleetApp(process, url, connectionString, dataDir);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (app._output) app._output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (app._output) app._output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await app.WaitHealthyAsync(TimeSpan.FromSeconds(90));
        return app;
    }

    async Task WaitHealthyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) throw new InvalidOperationException($"NixFleet exited with {_process.ExitCode}:\n{Output}");
            try
            {
                if ((await http.GetAsync("/healthz")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(250);
        }
        throw new TimeoutException($"NixFleet did not become healthy in {timeout}:\n{Output}");
    }

    static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>SIGKILL: the crash of the web process, with no chance to clean up.</summary>
    public async Task KillAsync()
    {
        if (_process.HasExited) return;
        _process.Kill(entireProcessTree: false);
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM first: a clean shutdown, as systemd would do.
            Process.Start("kill", ["-TERM", _process.Id.ToString()])?.WaitForExit();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try { await _process.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
        }
        _process.Dispose();
    }

    /// <summary>An HTTP client signed in through POST /api/v1/tokens.</summary>
    public async Task<ApiClient> ClientAsync(string email = AdminEmail, string password = AdminPassword)
    {
        var http = new HttpClient { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
        var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{email}:{password}"));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/tokens");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", basic);
        var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var token = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return new ApiClient(http);
    }

    public HttpClient AnonymousClient() => new() { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
}
