namespace NixFleet.Shared.Execution;

/// <summary>Why OpenSSH itself failed, as opposed to the remote command failing.</summary>
public enum SshFailure
{
    /// <summary>The host presented a key other than the pinned one: possibly a reinstall, possibly an attack.</summary>
    HostKeyChanged,

    /// <summary>No key is pinned for the host (or none of the type the host offers).</summary>
    HostKeyUnknown,

    /// <summary>No SSH conversation could be had: refused, timed out, no route, name not resolved.</summary>
    Unreachable,

    /// <summary>The host rejected the fleet key.</summary>
    AuthenticationFailed,

    Other,
}

/// <summary>OpenSSH exited with 255: the connection, not the remote command, failed.</summary>
public sealed class SshException : Exception
{
    public SshException(SshFailure failure, string stdErr)
        : base(BuildMessage(failure, stdErr))
    {
        Failure = failure;
        StdErr = stdErr;
    }

    public SshException(string stdErr)
        : this(Classify(stdErr), stdErr)
    {
    }

    public SshFailure Failure { get; }

    /// <summary>What ssh printed, verbatim; shown to the administrator as the reason.</summary>
    public string StdErr { get; }

    /// <summary>Reads the kind of failure from ssh's (or ssh-keyscan's) stderr. Pure; the messages are OpenSSH's own.</summary>
    public static SshFailure Classify(string stdErr)
    {
        ArgumentNullException.ThrowIfNull(stdErr);

        // A multiplexed session whose host vanished (power loss, sshd killed) ends with 255 and
        // nothing on stderr: the connection is gone.
        if (stdErr.Trim().Length == 0) return SshFailure.Unreachable;

        // Order matters: a changed key also ends with "Host key verification failed.", and an
        // unknown key prints "No ... host key is known" before that same line.
        if (Has("REMOTE HOST IDENTIFICATION HAS CHANGED") || Has("Offending ") ||
            Has("POSSIBLE DNS SPOOFING DETECTED"))
        {
            return SshFailure.HostKeyChanged;
        }

        if (Has("host key is known for") || Has("Host key verification failed") ||
            Has("authenticity of host"))
        {
            return SshFailure.HostKeyUnknown;
        }

        if (Has("Permission denied") || Has("Too many authentication failures") ||
            Has("no mutual signature algorithm"))
        {
            return SshFailure.AuthenticationFailed;
        }

        if (Has("Connection refused") || Has("Connection timed out") || Has("timed out") ||
            Has("No route to host") || Has("Network is unreachable") || Has("Could not resolve hostname") ||
            Has("Name or service not known") || Has("Temporary failure in name resolution") ||
            Has("Connection closed by") || Has("Connection reset by") || Has("kex_exchange_identification") ||
            Has("Broken pipe") || Has("Host is down"))
        {
            return SshFailure.Unreachable;
        }

        return SshFailure.Other;

        bool Has(string text) => stdErr.Contains(text, StringComparison.OrdinalIgnoreCase);
    }

    private static string BuildMessage(SshFailure failure, string stdErr)
    {
        var detail = stdErr.Trim();
        var summary = failure switch
        {
            SshFailure.HostKeyChanged => "The host's SSH key does not match the pinned key",
            SshFailure.HostKeyUnknown => "No SSH host key is pinned for this host",
            SshFailure.Unreachable => "The host is unreachable over SSH",
            SshFailure.AuthenticationFailed => "The host rejected the SSH key",
            _ => "SSH failed",
        };
        if (detail.Length == 0 && failure == SshFailure.Unreachable)
            return "The SSH connection to the host was lost (ssh exited 255 without a message: the host or its sshd went away).";
        return detail.Length == 0 ? summary + "." : $"{summary}: {detail}";
    }
}
