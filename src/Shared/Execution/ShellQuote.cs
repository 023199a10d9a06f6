namespace NixFleet.Shared.Execution;

/// <summary>
/// Quoting for a POSIX shell. OpenSSH hands the remote command to the login shell of the remote
/// user as one string, so every argv element that crosses SSH goes through here, and nowhere else.
/// </summary>
/// <remarks>
/// The output is valid for sh, dash, bash and zsh. Shells that are not POSIX-like (fish, csh)
/// parse single quotes differently; hosts whose SSH user has such a login shell are not supported.
/// </remarks>
public static class ShellQuote
{
    /// <summary>Quotes one argument so that the shell passes it through as exactly one word.</summary>
    /// <exception cref="ArgumentException">The argument contains a NUL character, which no argv can carry.</exception>
    public static string Quote(string arg)
    {
        ArgumentNullException.ThrowIfNull(arg);
        if (arg.Contains('\0'))
        {
            throw new ArgumentException("A shell argument cannot contain a NUL character.", nameof(arg));
        }

        if (arg.Length == 0)
        {
            return "''";
        }

        if (IsSafeUnquoted(arg))
        {
            return arg;
        }

        // Inside single quotes nothing is special; a single quote itself has to close the quoted
        // part, be escaped, and reopen it.
        return "'" + arg.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }

    /// <summary>Quotes each element and joins them with spaces: a command line for <c>sh -c</c> or ssh.</summary>
    public static string Join(IEnumerable<string> argv)
    {
        ArgumentNullException.ThrowIfNull(argv);
        return string.Join(' ', argv.Select(Quote));
    }

    private static bool IsSafeUnquoted(string arg)
    {
        foreach (var c in arg)
        {
            if (!IsSafeChar(c))
            {
                return false;
            }
        }

        // Safe characters that still change meaning in some position:
        // "NAME=value" as the first word is a variable assignment, not a command;
        // a leading "=" is expanded by zsh to the path of a command (EQUALS option).
        // A leading "-" is left alone: it is an argv element either way, quoting changes nothing.
        if (arg[0] == '=' || LooksLikeAssignment(arg))
        {
            return false;
        }

        return true;
    }

    private static bool IsSafeChar(char c) =>
        c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9'
            or '_' or '.' or '/' or ':' or '=' or '@' or '%' or '+' or ',' or '-';

    private static bool LooksLikeAssignment(string arg)
    {
        var eq = arg.IndexOf('=');
        if (eq <= 0)
        {
            return false;
        }

        if (!(char.IsAsciiLetter(arg[0]) || arg[0] == '_'))
        {
            return false;
        }

        for (var i = 1; i < eq; i++)
        {
            if (!(char.IsAsciiLetterOrDigit(arg[i]) || arg[i] == '_'))
            {
                return false;
            }
        }

        return true;
    }
}
