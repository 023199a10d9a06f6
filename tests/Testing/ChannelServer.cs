using System.Diagnostics;
using System.Globalization;
using NixFleet.Shared.Execution;

namespace NixFleet.Testing;

/// <summary>
/// The test channel releases (tests/fleet/channels/make-releases.sh: nixos-24.05, nixos-24.11,
/// nixpkgs-old, nixpkgs-new, and the broken html, truncated and missing ones) served over real HTTP
/// on 127.0.0.1 by tests/fleet/channels/serve.py, which test hosts reach through the shared
/// loopback. The releases are built once per test process; each server is a process of its own,
/// and disposing it ends exactly that process.
/// </summary>
/// <remarks>
/// Nix 2.8 caches what it downloaded from a URL for <c>tarball-ttl</c> (an hour): within a test
/// run, a URL gives the same release every time, so publish a new release under a new name rather
/// than by changing what a URL serves.
/// </remarks>
public sealed class ChannelServer : IAsyncDisposable
{
    static readonly SemaphoreSlim Gate = new(1, 1);
    static string? _releases;

    readonly Process _process;
    readonly List<string> _log = [];

    ChannelServer(Process process, string dir)
    {
        _process = process;
        Dir = dir;
    }

    /// <summary>The directory served: OUTDIR of make-releases.sh, shared by every server of this process. Do not change it.</summary>
    public string Dir { get; }

    public int Port { get; private set; }

    /// <summary>A channel's URL: <c>http://127.0.0.1:PORT/RELEASE</c>, e.g. for "nixos-24.11" (redirects to its release), "html", "truncated", "missing".</summary>
    public string Url(string release) => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/{release}";

    /// <summary>The requests the server answered so far, one line each ("GET /nixos-24.11 HTTP/1.1" 302 -).</summary>
    public IReadOnlyList<string> Requests
    {
        get
        {
            lock (_log) return _log.ToList();
        }
    }

    public static async Task<ChannelServer> StartAsync()
    {
        var dir = await ReleasesAsync();
        var script = Path.Combine(Repo.Root, "tests", "fleet", "channels", "serve.py");
        var start = new ProcessStartInfo("python3")
        {
            UseShellExecute = false,
            // serve.py stops when its stdin closes: a test process that dies takes its servers with it.
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in (string[])[script, dir, "0", "--exit-on-stdin-eof"]) start.ArgumentList.Add(arg);

        var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        var server = new ChannelServer(process, dir);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (server._log) server._log.Add(e.Data);
        };
        process.BeginErrorReadLine();

        string? first;
        try
        {
            first = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(15));
        }
        catch (TimeoutException)
        {
            first = null;
        }

        if (!int.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            await server.DisposeAsync();
            throw new InvalidOperationException($"serve.py did not print its port: '{first}'; stderr: {string.Join('\n', server.Requests)}");
        }

        server.Port = port;
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            // serve.py starts no children: its own process is all there is to end.
            if (!_process.HasExited) _process.Kill(entireProcessTree: false);
            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
    }

    static async Task<string> ReleasesAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_releases is null)
            {
                var dir = Repo.Scratch("channels");
                var script = Path.Combine(Repo.Root, "tests", "fleet", "channels", "make-releases.sh");
                var built = await ProcessRunner.RunAsync(["bash", script, dir], new ProcessOptions { Timeout = TimeSpan.FromMinutes(2) });
                if (!built.Succeeded) throw new InvalidOperationException($"make-releases.sh failed ({built.ExitCode}): {built.StdErr}");
                _releases = dir;
            }

            return _releases;
        }
        finally
        {
            Gate.Release();
        }
    }
}
