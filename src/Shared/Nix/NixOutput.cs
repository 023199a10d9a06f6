namespace NixFleet.Shared.Nix;

/// <summary>Parsers for the small outputs of Nix's command-line tools.</summary>
public static class NixOutput
{
    /// <summary>
    /// <c>nix-env --version</c>: "nix-env (Nix) 2.8.0" gives "2.8.0". Also accepts forks that
    /// change the parenthesis ("nix-env (Lix, like Nix) 2.90.0"). Null when no version is found.
    /// </summary>
    public static string? ParseVersion(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        foreach (var line in output.Split('\n'))
        {
            var tokens = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            for (var i = tokens.Length - 1; i >= 0; i--)
            {
                if (LooksLikeVersion(tokens[i]))
                {
                    return tokens[i];
                }
            }
        }

        return null;
    }

    /// <summary><c>nix-channel --list</c>: one "name url" per line.</summary>
    public static IReadOnlyList<(string Name, string Url)> ParseChannelList(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var channels = new List<(string, string)>();
        foreach (var line in output.Split('\n'))
        {
            var fields = line.Split((char[]?)null, 3, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 2)
            {
                channels.Add((fields[0], fields[1]));
            }
        }

        return channels;
    }

    private static bool LooksLikeVersion(string token)
    {
        // "2.8.0", "2.18.1", "2.4pre20210908_abc": digits, a dot, a digit.
        var dot = token.IndexOf('.');
        return dot > 0 && dot + 1 < token.Length && char.IsAsciiDigit(token[dot + 1]) &&
            token[..dot].All(char.IsAsciiDigit);
    }
}
