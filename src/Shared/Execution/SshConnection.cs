using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace NixFleet.Shared.Execution;

/// <summary>
/// One host reached through the system OpenSSH client. The first command opens a ControlMaster
/// connection (the only moment the private key touches the disk); every later command is a
/// ~12 ms session over it instead of a ~200 ms handshake. Host keys are checked strictly against
/// the pinned key stored under <see cref="SshSettings.HostKeyAlias"/>.
/// </summary>
/// <remarks>
/// The object holds no resources: create one per operation if convenient. The master connection
/// outlives it for <see cref="SshSettings.ControlPersist"/> of idleness, or until <see cref="CloseAsync"/>.
/// Starting the master is serialized per control socket within this process only; two processes
/// sharing a control directory can race (the loser's commands still work, over a direct connection
/// that fails authentication), so give each process its own directory.
/// </remarks>
public sealed partial class SshConnection : IRemoteShell
{
    /// <summary>
    /// sun_path holds 107 bytes; the socket is named "&lt;dir&gt;/&lt;24 hex&gt;" and ssh first binds
    /// "&lt;socket&gt;.&lt;16 random&gt;", so 107 - 1 - 24 - 17 = 65 bytes are left for the directory.
    /// </summary>
    public const int MaxControlDirectoryLength = 64;

    // Sends a keepalive through the master every 15 s and gives up after three missed answers, so
    // a host that vanished fails commands in under a minute instead of hanging them.
    private const int ServerAliveIntervalSeconds = 15;

    // Master start, check and exit involve at most a connect and a handshake.
    private static readonly TimeSpan ControlCommandSlack = TimeSpan.FromSeconds(30);

    private static readonly ConcurrentDictionary<string, SemaphoreSlim> MasterGates = new(StringComparer.Ordinal);

    private readonly SshTarget _target;
    private readonly SshSettings _settings;
    private readonly Func<CancellationToken, ValueTask<string>> _privateKey;

    public SshConnection(
        SshTarget target, SshSettings settings, Func<CancellationToken, ValueTask<string>> privateKey)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(privateKey);
        Validate(target, settings);

        _target = target;
        _settings = settings;
        _privateKey = privateKey;
        ControlPath = Path.Combine(settings.ControlDirectory, ControlSocketName(target, settings));
    }

    public SshTarget Target => _target;

    /// <summary>
    /// The master's socket. NixFleet names it itself (rather than ssh's %C) so that it can remove a
    /// socket left behind by a killed master: ssh would otherwise refuse to become master and
    /// silently keep a plain connection.
    /// </summary>
    public string ControlPath { get; }

    public async Task<CommandResult> RunAsync(
        IReadOnlyList<string> argv,
        Func<OutputLine, ValueTask>? onLine = null,
        string? stdin = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(argv);
        if (argv.Count == 0)
        {
            throw new ArgumentException("Nothing to run.", nameof(argv));
        }

        await EnsureMasterAsync(ct).ConfigureAwait(false);

        List<string> ssh = ["ssh", "-T", "-o", "ControlMaster=no",
            // Should the master vanish between the check and this command, ssh falls back to a
            // direct connection: it must not go looking for the web server's own keys.
            "-o", "IdentityFile=none"];
        ssh.AddRange(CommonOptions());
        ssh.Add("--");
        ssh.Add(_target.Address);
        ssh.Add(ShellQuote.Join(argv));

        var result = await ProcessRunner.RunAsync(
            ssh, new ProcessOptions { StandardInput = stdin, OnLine = onLine }, ct).ConfigureAwait(false);

        // 255 is what ssh exits with when it fails itself. A remote command exiting 255 is reported
        // the same way; NixFleet's own commands don't do that.
        if (result.ExitCode == 255)
        {
            throw new SshException(result.StdErr);
        }

        return result;
    }

    public Task<CommandResult> RunScriptAsync(
        string script,
        Func<OutputLine, ValueTask>? onLine = null,
        string? stdin = null,
        CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(script);
        return RunAsync(["sh", "-c", script], onLine, stdin, ct);
    }

    /// <summary>Opens the master connection unless one is already running.</summary>
    /// <exception cref="SshException">The connection could not be made: see <see cref="SshException.Failure"/>.</exception>
    public async Task EnsureMasterAsync(CancellationToken ct = default)
    {
        var gate = MasterGates.GetOrAdd(ControlPath, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (await IsMasterRunningAsync(ct).ConfigureAwait(false))
            {
                return;
            }

            PrivateFiles.CreatePrivateDirectory(_settings.ControlDirectory);
            // Nothing answered on the socket: it is left over from a master that was killed.
            File.Delete(ControlPath);

            await StartMasterAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Whether a master connection is up (<c>ssh -O check</c>).</summary>
    public async Task<bool> IsMasterRunningAsync(CancellationToken ct = default)
    {
        if (!File.Exists(ControlPath))
        {
            return false;
        }

        var result = await RunControlCommandAsync("check", ct).ConfigureAwait(false);
        return result.Succeeded;
    }

    /// <summary>Closes the master connection (<c>ssh -O exit</c>), if there is one.</summary>
    public async Task CloseAsync(CancellationToken ct = default)
    {
        var gate = MasterGates.GetOrAdd(ControlPath, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (File.Exists(ControlPath))
            {
                await RunControlCommandAsync("exit", ct).ConfigureAwait(false);
            }
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>The options every ssh invocation for this host carries.</summary>
    internal IReadOnlyList<string> CommonOptions() =>
    [
        // No ~/.ssh/config or /etc/ssh/ssh_config: nothing outside NixFleet decides how it connects.
        "-F", "/dev/null",
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "UserKnownHostsFile=" + _settings.KnownHostsFile,
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "HostKeyAlias=" + _settings.HostKeyAlias,
        "-o", "IdentitiesOnly=yes",
        "-o", "IdentityAgent=none",
        "-o", "ControlPath=" + ControlPath,
        "-o", "ServerAliveInterval=" + ServerAliveIntervalSeconds.ToString(CultureInfo.InvariantCulture),
        "-o", "ServerAliveCountMax=3",
        "-o", "ConnectTimeout=" + Seconds(_settings.ConnectTimeout),
        "-o", "LogLevel=ERROR",
        "-p", _target.Port.ToString(CultureInfo.InvariantCulture),
        "-l", _target.User,
    ];

    private async Task StartMasterAsync(CancellationToken ct)
    {
        var key = NormalizeKey(await _privateKey(ct).ConfigureAwait(false));

        // The key goes next to the sockets, in a 0700 directory of its own, as a 0600 file (ssh
        // refuses a key others can read), and lives only until the master has authenticated.
        var keyDirectory = PrivateFiles.CreateUniqueDirectory(_settings.ControlDirectory, "key-");
        try
        {
            var keyFile = Path.Combine(keyDirectory, "id");
            await PrivateFiles.WriteSecretAsync(keyFile, key, ct).ConfigureAwait(false);

            // -f: ssh goes to the background once authenticated, so when this process exits the
            // key has been read and can go. ControlPersist keeps the master up while idle.
            List<string> ssh = ["ssh", "-f", "-N",
                "-o", "ControlMaster=yes",
                "-o", "ControlPersist=" + Seconds(_settings.ControlPersist),
                "-i", keyFile];
            ssh.AddRange(CommonOptions());
            ssh.Add("--");
            ssh.Add(_target.Address);

            var result = await ProcessRunner.RunAsync(
                ssh,
                new ProcessOptions { Timeout = _settings.ConnectTimeout + ControlCommandSlack },
                ct).ConfigureAwait(false);
            if (!result.Succeeded)
            {
                throw new SshException(result.StdErr);
            }
        }
        finally
        {
            Directory.Delete(keyDirectory, recursive: true);
        }
    }

    private Task<CommandResult> RunControlCommandAsync(string command, CancellationToken ct)
    {
        List<string> ssh = ["ssh", "-O", command];
        ssh.AddRange(CommonOptions());
        ssh.Add("--");
        ssh.Add(_target.Address);
        return ProcessRunner.RunAsync(
            ssh, new ProcessOptions { Timeout = _settings.ConnectTimeout + ControlCommandSlack }, ct);
    }

    private static string NormalizeKey(string key)
    {
        if (string.IsNullOrWhiteSpace(key))
        {
            throw new InvalidOperationException("The private key provider returned no key.");
        }

        // OpenSSH rejects a key without its final newline ("invalid format"), and CRs from a paste.
        key = key.Replace("\r\n", "\n", StringComparison.Ordinal).Trim() + "\n";
        return key;
    }

    // The pinned key is part of a master's identity: a master opened under one pinned key must
    // never carry commands for a host whose pin differs (a re-pin, or a host entry for the same
    // address with another key), or strict host key checking would be bypassed.
    private static string ControlSocketName(SshTarget target, SshSettings settings)
    {
        var identity = $"{target.User}@{target.Address}:{target.Port.ToString(CultureInfo.InvariantCulture)}|{settings.HostKeyAlias}|{settings.KnownHostsFile}";
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(identity));
        return Convert.ToHexStringLower(hash)[..24];
    }

    private static string Seconds(TimeSpan value) =>
        Math.Max(1, (long)Math.Ceiling(value.TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    private static void Validate(SshTarget target, SshSettings settings)
    {
        // Values end up in ssh's argv and in its option parser, which splits on whitespace and
        // expands '%' tokens: refuse anything that could be read as something else.
        if (!SafeWord().IsMatch(target.Address))
        {
            throw new ArgumentException($"'{target.Address}' is not a valid host address.", nameof(target));
        }

        if (!SafeWord().IsMatch(target.User))
        {
            throw new ArgumentException($"'{target.User}' is not a valid user name.", nameof(target));
        }

        if (target.Port is < 1 or > 65535)
        {
            throw new ArgumentException($"{target.Port} is not a valid port.", nameof(target));
        }

        if (!SafeWord().IsMatch(settings.HostKeyAlias))
        {
            throw new ArgumentException($"'{settings.HostKeyAlias}' is not a valid host key alias.", nameof(settings));
        }

        RequireSafePath(settings.KnownHostsFile, nameof(settings.KnownHostsFile));
        RequireSafePath(settings.ControlDirectory, nameof(settings.ControlDirectory));
        if (Encoding.UTF8.GetByteCount(settings.ControlDirectory.TrimEnd('/')) > MaxControlDirectoryLength)
        {
            throw new ArgumentException(
                $"The SSH control directory '{settings.ControlDirectory}' is longer than {MaxControlDirectoryLength} bytes; " +
                "Unix socket paths are limited to 108 bytes.",
                nameof(settings));
        }
    }

    private static void RequireSafePath(string path, string name)
    {
        if (!Path.IsPathFullyQualified(path) || path.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '%' or '"' or '\'' or '\\'))
        {
            throw new ArgumentException(
                $"{name} '{path}' must be an absolute path without whitespace, quotes or '%'.", name);
        }
    }

    // Host names, IPv4/IPv6 addresses, user names, aliases: no leading '-', nothing ssh would parse.
    [GeneratedRegex(@"^[A-Za-z0-9_:][A-Za-z0-9_.:\-]*$")]
    private static partial Regex SafeWord();
}
