namespace NixFleet.Shared.Execution;

/// <summary>An OpenSSH key pair: the private key file's text and the authorized_keys line.</summary>
public sealed record SshKeyPair(string PrivateKey, string PublicKey);

/// <summary>The fleet key, made and checked by ssh-keygen so that its format is OpenSSH's own.</summary>
public static class SshKeys
{
    private static readonly TimeSpan KeygenTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Generates an ed25519 key pair without passphrase (the caller stores it encrypted).</summary>
    public static Task<SshKeyPair> GenerateAsync(string comment, CancellationToken ct = default) =>
        GenerateAsync(comment, Path.GetTempPath(), ct);

    /// <param name="comment">Ends the public key line.</param>
    /// <param name="workDirectory">Where the private 0700 directory for ssh-keygen's files is made.</param>
    /// <param name="ct">Cancels ssh-keygen.</param>
    internal static async Task<SshKeyPair> GenerateAsync(string comment, string workDirectory, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(comment);
        // The comment ends the public key line: a line break would split it in authorized_keys.
        if (comment.Any(char.IsControl))
        {
            throw new ArgumentException("The key comment cannot contain control characters.", nameof(comment));
        }

        // A 0700 directory: the private key exists on disk only inside it, and only until read back.
        var directory = PrivateFiles.CreateUniqueDirectory(workDirectory, "nixfleet-keygen-");
        try
        {
            var file = Path.Combine(directory, "id_ed25519");
            var result = await ProcessRunner.RunAsync(
                ["ssh-keygen", "-t", "ed25519", "-N", "", "-C", comment, "-f", file, "-q"],
                new ProcessOptions { Timeout = KeygenTimeout },
                ct).ConfigureAwait(false);
            if (!result.Succeeded)
            {
                throw new InvalidOperationException($"ssh-keygen failed: {result.StdErr.Trim()}");
            }

            var privateKey = await File.ReadAllTextAsync(file, ct).ConfigureAwait(false);
            var publicKey = await File.ReadAllTextAsync(file + ".pub", ct).ConfigureAwait(false);
            return new SshKeyPair(privateKey, publicKey.Trim());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// The public key line of an imported private key (<c>ssh-keygen -y</c>), which also proves the
    /// text is a usable, unencrypted OpenSSH or PEM private key.
    /// </summary>
    /// <exception cref="ArgumentException">The text is not a private key ssh can use, with the reason.</exception>
    public static async Task<string> PublicKeyFromPrivateAsync(string privateKey, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(privateKey);
        if (!privateKey.Contains("PRIVATE KEY-----", StringComparison.Ordinal))
        {
            throw new ArgumentException(
                "This is not a private key: expected a '-----BEGIN OPENSSH PRIVATE KEY-----' block.", nameof(privateKey));
        }

        var directory = Directory.CreateTempSubdirectory("nixfleet-keycheck-");
        try
        {
            var file = Path.Combine(directory.FullName, "id");
            // ssh-keygen rejects a key without its final newline, and CRs from a paste.
            var text = privateKey.Replace("\r\n", "\n", StringComparison.Ordinal).Trim() + "\n";
            await PrivateFiles.WriteSecretAsync(file, text, ct).ConfigureAwait(false);

            // -P "": an encrypted key fails at once instead of prompting on a terminal.
            var result = await ProcessRunner.RunAsync(
                ["ssh-keygen", "-y", "-P", "", "-f", file],
                new ProcessOptions { Timeout = KeygenTimeout },
                ct).ConfigureAwait(false);
            if (!result.Succeeded || result.StdOut.Trim().Length == 0)
            {
                var reason = result.StdErr.Trim();
                var message = reason.Contains("passphrase", StringComparison.OrdinalIgnoreCase)
                    ? "The private key is protected by a passphrase; remove it (ssh-keygen -p) before importing."
                    : $"The private key cannot be used by OpenSSH: {(reason.Length > 0 ? reason : "ssh-keygen failed")}.";
                throw new ArgumentException(message.Replace(file, "key", StringComparison.Ordinal), nameof(privateKey));
            }

            return result.StdOut.Trim();
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
