using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using NixFleet.Shared.Execution;

namespace NixFleet.Shared.Tests.Execution;

/// <summary>
/// A throwaway real OpenSSH server on 127.0.0.65 (an address reserved for these tests), accepting
/// one generated client key for root. It needs root and /usr/sbin/sshd; tests using it are skipped
/// otherwise (see <see cref="SshdFactAttribute"/>).
/// </summary>
public sealed class LocalSshd : IAsyncLifetime
{
    public const string Address = "127.0.0.65";
    private const string SshdPath = "/usr/sbin/sshd";

    private Process? _sshd;

    public static string? UnavailableReason =>
        !OperatingSystem.IsLinux() ? "Linux only"
        : !Environment.IsPrivilegedProcess ? "needs root to run sshd"
        : !File.Exists(SshdPath) ? "openssh-server is not installed"
        : null;

    public int Port { get; private set; }

    /// <summary>A short private directory (socket paths must stay short).</summary>
    public string Directory { get; private set; } = "";

    public SshKeyPair ClientKey { get; private set; } = new("", "");

    public string HostKeyFile => Path.Combine(Directory, "host_ed25519");

    public async Task InitializeAsync()
    {
        if (UnavailableReason is not null)
        {
            return;
        }

        Directory = System.IO.Directory.CreateTempSubdirectory("nf-sshd-").FullName;
        ClientKey = await SshKeys.GenerateAsync("nixfleet-tests", TestContext.Timeout);
        await File.WriteAllTextAsync(Path.Combine(Directory, "authorized_keys"), ClientKey.PublicKey + "\n");
        foreach (var type in new[] { "ed25519", "ecdsa" })
        {
            var keygen = await ProcessRunner.RunAsync(
                ["ssh-keygen", "-q", "-t", type, "-N", "", "-f", Path.Combine(Directory, "host_" + type)],
                TestContext.Timeout);
            Assert.True(keygen.Succeeded, keygen.StdErr);
        }

        // sshd refuses to start without its privilege separation directory.
        System.IO.Directory.CreateDirectory("/run/sshd");

        Port = FreePort();
        var config = Path.Combine(Directory, "sshd_config");
        await File.WriteAllLinesAsync(config,
        [
            $"ListenAddress {Address}:{Port}",
            $"HostKey {Path.Combine(Directory, "host_ecdsa")}",
            $"HostKey {HostKeyFile}",
            $"AuthorizedKeysFile {Path.Combine(Directory, "authorized_keys")}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PidFile none",
            "MaxStartups 100",
        ]);

        var start = new ProcessStartInfo(SshdPath)
        {
            ArgumentList = { "-D", "-f", config, "-E", Path.Combine(Directory, "sshd.log") },
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        _sshd = Process.Start(start) ?? throw new InvalidOperationException("sshd did not start");

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!await IsListeningAsync())
        {
            if (_sshd.HasExited)
            {
                throw new InvalidOperationException(
                    "sshd exited: " + await File.ReadAllTextAsync(Path.Combine(Directory, "sshd.log")));
            }

            await Task.Delay(20, deadline.Token);
        }
    }

    public async Task DisposeAsync()
    {
        if (_sshd is not null)
        {
            _sshd.Kill(entireProcessTree: true);
            await _sshd.WaitForExitAsync();
            _sshd.Dispose();
        }

        if (Directory.Length > 0)
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    /// <summary>Trust on first use, as NixFleet does it: scan, pick, pin under the alias.</summary>
    public async Task<string> PinHostKeyAsync(string alias)
    {
        var keys = await SshHostKeys.ScanAsync(Address, Port, TestContext.Timeout);
        var key = SshHostKeys.PickPreferred(keys) ?? throw new InvalidOperationException("no key");
        var knownHosts = Path.Combine(Directory, "known_hosts-" + Guid.NewGuid().ToString("N")[..8]);
        await File.WriteAllTextAsync(knownHosts, SshHostKeys.KnownHostsLine(alias, key.Type, key.Base64Blob) + "\n");
        return knownHosts;
    }

    private async Task<bool> IsListeningAsync()
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Parse(Address), Port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Parse(Address), 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

/// <summary>A fact that needs <see cref="LocalSshd"/>; skipped with the reason when it cannot run here.</summary>
public sealed class SshdFactAttribute : FactAttribute
{
    public SshdFactAttribute()
    {
        if (LocalSshd.UnavailableReason is { } reason)
        {
            Skip = reason;
        }
    }
}
