using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace NixFleet.Shared.Execution;

/// <summary>A host's public key as ssh-keyscan reports it.</summary>
public sealed record SshHostKey(string Type, string Base64Blob)
{
    /// <summary>What <c>ssh-keygen -lf</c> and ssh's own prompts show: <c>SHA256:...</c>.</summary>
    public string Fingerprint => SshHostKeys.Fingerprint(Base64Blob);
}

/// <summary>Trust on first use: fetch a host's keys, show the fingerprint, pin one under an alias.</summary>
public static partial class SshHostKeys
{
    private static readonly string[] Preference = ["ssh-ed25519", "ecdsa-sha2-", "ssh-rsa"];

    /// <summary>Asks the host for its keys (<c>ssh-keyscan</c>). Nothing is trusted or written here.</summary>
    /// <exception cref="SshException">The host returned no key; the failure says why.</exception>
    public static async Task<IReadOnlyList<SshHostKey>> ScanAsync(string address, int port, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!SafeAddress().IsMatch(address))
        {
            throw new ArgumentException($"'{address}' is not a valid host address.", nameof(address));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);

        string[] argv =
        [
            "ssh-keyscan", "-T", "5", "-t", "ed25519,ecdsa,rsa",
            "-p", port.ToString(CultureInfo.InvariantCulture), "--", address,
        ];
        // -T bounds each phase of one connection; the timeout here only catches a wedged scan.
        var result = await ProcessRunner.RunAsync(
            argv, new ProcessOptions { Timeout = TimeSpan.FromSeconds(30) }, ct).ConfigureAwait(false);

        var keys = ParseScanOutput(result.StdOut);
        if (keys.Count == 0)
        {
            // ssh-keyscan prints "# host:port SSH-2.0-..." banners on stderr; the rest is the reason.
            var reason = string.Join('\n', result.StdErr.Split('\n').Where(l => !l.StartsWith('#'))).Trim();
            if (reason.Length == 0)
            {
                reason = $"ssh-keyscan got no host key from {address} port {port}.";
            }

            var kind = SshException.Classify(reason);
            throw new SshException(kind == SshFailure.Other ? SshFailure.Unreachable : kind, reason);
        }

        return keys;
    }

    /// <summary>Reads ssh-keyscan's (or a known_hosts file's) lines: "host type base64 [comment]".</summary>
    public static IReadOnlyList<SshHostKey> ParseScanOutput(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var keys = new List<SshHostKey>();
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 3 || !KeyType().IsMatch(fields[1]) || !IsBase64(fields[2]))
            {
                continue;
            }

            var key = new SshHostKey(fields[1], fields[2]);
            if (!keys.Contains(key))
            {
                keys.Add(key);
            }
        }

        return keys;
    }

    /// <summary>The key to pin: ed25519, else ECDSA, else RSA; null when none of those is offered.</summary>
    public static SshHostKey? PickPreferred(IEnumerable<SshHostKey> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var list = keys.ToList();
        foreach (var prefix in Preference)
        {
            var match = list.FirstOrDefault(k => k.Type.StartsWith(prefix, StringComparison.Ordinal));
            if (match is not null)
            {
                return match;
            }
        }

        return null;
    }

    /// <summary>SHA-256 of the decoded key blob, base64 without padding, as OpenSSH prints it.</summary>
    public static string Fingerprint(string base64Blob)
    {
        ArgumentNullException.ThrowIfNull(base64Blob);
        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(base64Blob);
        }
        catch (FormatException e)
        {
            throw new ArgumentException("The host key is not valid base64.", nameof(base64Blob), e);
        }

        return "SHA256:" + Convert.ToBase64String(SHA256.HashData(blob)).TrimEnd('=');
    }

    /// <summary>
    /// The known_hosts line pinning <paramref name="base64Blob"/> under <paramref name="alias"/>.
    /// ssh looks it up by the alias given in HostKeyAlias, as is: no brackets, no port.
    /// </summary>
    public static string KnownHostsLine(string alias, string type, string base64Blob)
    {
        ArgumentNullException.ThrowIfNull(alias);
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(base64Blob);
        // known_hosts host fields are patterns: '*', '?', '!', ',' and brackets mean something.
        if (!SafeAddress().IsMatch(alias))
        {
            throw new ArgumentException($"'{alias}' cannot be used as a host key alias.", nameof(alias));
        }

        if (!KeyType().IsMatch(type))
        {
            throw new ArgumentException($"'{type}' is not an SSH key type.", nameof(type));
        }

        if (!IsBase64(base64Blob))
        {
            throw new ArgumentException("The host key is not valid base64.", nameof(base64Blob));
        }

        return $"{alias} {type} {base64Blob}";
    }

    private static bool IsBase64(string value)
    {
        return value.Length > 0 && Base64Blob().IsMatch(value) &&
            Convert.TryFromBase64String(value, new byte[value.Length], out _);
    }

    [GeneratedRegex(@"^[A-Za-z0-9_:][A-Za-z0-9_.:\-]*$")]
    private static partial Regex SafeAddress();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9@.\-]*$")]
    private static partial Regex KeyType();

    [GeneratedRegex(@"^[A-Za-z0-9+/]+={0,2}$")]
    private static partial Regex Base64Blob();
}
