using System.Security.Cryptography;
using System.Text;

namespace NixFleet.Shared.Execution;

/// <summary>Files and directories only this user can read: where private keys briefly live.</summary>
internal static class PrivateFiles
{
    /// <summary>Creates a directory readable only by this user (0700), or makes an existing one so.</summary>
    public static void CreatePrivateDirectory(string path)
    {
        // NixFleet drives OpenSSH and relies on POSIX permissions to keep keys private.
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("NixFleet runs on Linux.");
        }

        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        var directory = Directory.CreateDirectory(path, Private);
        if (directory.UnixFileMode != Private)
        {
            // It existed already, made by someone with a looser umask.
            File.SetUnixFileMode(path, Private);
        }
    }

    /// <summary>Creates a fresh 0700 directory named PREFIX + random under <paramref name="parent"/>.</summary>
    public static string CreateUniqueDirectory(string parent, string prefix)
    {
        var path = Path.Combine(parent, prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)));
        CreatePrivateDirectory(path);
        return path;
    }

    /// <summary>Creates a new file readable only by this user (0600 from the first byte, not chmod-ed later).</summary>
    public static async Task WriteSecretAsync(string path, string text, CancellationToken ct)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("NixFleet runs on Linux.");
        }

        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        };
        var stream = new FileStream(path, options);
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes(text), ct).ConfigureAwait(false);
        }
    }
}
