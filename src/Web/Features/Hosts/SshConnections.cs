using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using NixFleet.Shared.Execution;
using NixFleet.Web.Data;
using NixFleet.Web.Features.SshKey;

namespace NixFleet.Web.Features.Hosts;

/// <summary>
/// One multiplexed OpenSSH connection per host and pinned key, shared by every operation on this node.
/// The pinned key is written to a known_hosts file of the host's own, looked up by a HostKeyAlias,
/// so strict checking holds whatever address the host is reached at.
/// </summary>
public sealed class SshConnections(IOptions<NixFleetOptions> options, IServiceScopeFactory scopes) : IAsyncDisposable
{
    readonly ConcurrentDictionary<string, SshConnection> _open = new();

    string SshDir => Path.Combine(options.Value.DataDir, "ssh");

    public SshConnection For(FleetHost host)
    {
        if (host.HostKeyStatus != HostKeyStatus.Trusted || host.TrustedKey is null || host.TrustedKeyType is null)
            throw new HostNotTrustedException(host);
        var identity = $"{host.Id}|{host.User}@{host.Address}:{host.Port}|{host.TrustedKey}";
        return _open.GetOrAdd(identity, _ => Create(host));
    }

    SshConnection Create(FleetHost host)
    {
        var alias = $"nixfleet-{host.Id:N}";
        var knownHostsDir = Path.Combine(SshDir, "known_hosts.d");
        // Per process: two nodes sharing a data directory must not race for one master socket.
        // A socket path must fit in 107 bytes: with a long data directory, use a short one in /tmp.
        var controlDir = Path.Combine(SshDir, "cm", Environment.ProcessId.ToString());
        if (controlDir.Length > SshConnection.MaxControlDirectoryLength)
            controlDir = Path.Combine("/tmp", $"nixfleet-cm-{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(SshDir)))[..8]}", Environment.ProcessId.ToString());
        foreach (var dir in new[] { SshDir, knownHostsDir, Path.GetDirectoryName(controlDir)!, controlDir }.Distinct())
        {
            Directory.CreateDirectory(dir);
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        // Named after the pinned key too: a re-pin gets a new file, and so a new master connection.
        var keyHash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(host.TrustedKey!)))[..12];
        var knownHosts = Path.Combine(knownHostsDir, $"{host.Id:N}-{keyHash}");
        File.WriteAllText(knownHosts, SshHostKeys.KnownHostsLine(alias, host.TrustedKeyType!, host.TrustedKey!) + "\n");
        var settings = new SshSettings(
            ControlDirectory: controlDir,
            KnownHostsFile: knownHosts,
            HostKeyAlias: alias,
            ConnectTimeout: TimeSpan.FromSeconds(options.Value.SshConnectTimeoutSeconds),
            ControlPersist: TimeSpan.FromMinutes(5));
        return new SshConnection(new SshTarget(host.Address, host.Port, host.User), settings, PrivateKeyAsync);
    }

    /// <summary>On shutdown, close this node's master connections rather than leave them to time out.</summary>
    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await Task.WhenAll(_open.Values.Select(async c =>
        {
            try { await c.CloseAsync(cts.Token); }
            catch (Exception) { /* a master that is already gone, or ssh that did not answer in time: nothing left to close */ }
        }));
    }

    async ValueTask<string> PrivateKeyAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<FleetKeyStore>().PrivateKeyAsync(ct);
    }
}

public sealed class HostNotTrustedException(FleetHost host) : Exception(host.HostKeyStatus == HostKeyStatus.Changed
    ? $"Host key of '{host.Name}' CHANGED (now {host.ScannedFingerprint}, pinned {host.TrustedFingerprint}): all work on this host is stopped until an admin re-pins it."
    : $"Host key of '{host.Name}' is not trusted yet: accept its fingerprint first.");
