using System.Text;

namespace NixFleet.Shared.Execution;

/// <summary>Files and directories only this user can read: where private keys briefly live.</summary>
internal static class PrivateFiles
{
    /// <summary>Creates a directory readable only by this user (0700).</summary>
    public static void CreatePrivateDirectory(string path)
    {
        // NixFleet drives OpenSSH and relies on POSIX permissions to keep keys private.
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("NixFleet runs on Linux.");
        }

        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
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
