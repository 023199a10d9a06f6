using System.Globalization;
using System.Text.RegularExpressions;

namespace NixFleet.Shared.Nix;

/// <summary>
/// The Nix commands of a rollback, as argument lists ("nix-env", "-p", PROFILE, ...) that read the
/// way an engineer would type them (for the log and the audit trail). <see cref="ForHost"/> turns
/// one into the argv that runs it on a given host, as the right user. Arguments are validated
/// here and quoted by <see cref="Execution.ShellQuote"/> on the way; nothing is interpolated.
/// </summary>
public static partial class RollbackCommands
{
    /// <summary><c>nix-env -p PROFILE --switch-generation N</c>: the profile points at generation N.</summary>
    public static IReadOnlyList<string> SwitchGeneration(string profile, int generation)
    {
        CheckProfile(profile);
        CheckGeneration(generation);
        return ["nix-env", "-p", profile, "--switch-generation", generation.ToString(CultureInfo.InvariantCulture)];
    }

    /// <summary>
    /// <c>nix-env -p PROFILE --set STORE_PATH</c>: the profile points at that store path (a new
    /// generation, unless it is the newest one already). Returns to an exact recorded path.
    /// </summary>
    public static IReadOnlyList<string> SetProfile(string profile, string storePath)
    {
        CheckProfile(profile);
        if (!GenerationsParser.IsStorePath(storePath))
        {
            throw new ArgumentException($"'{storePath}' is not a store path.", nameof(storePath));
        }

        return ["nix-env", "-p", profile, "--set", storePath];
    }

    /// <summary>
    /// <c>nix-env -p PROFILE --delete-generations SPEC</c> with SPEC "+K" (keep the current
    /// generation, the K-1 before it and every newer one) or "Nd" (delete generations older than N
    /// days, except the one that was current N days ago and the current one): see
    /// <see cref="GenerationPolicy"/>. Nix itself protects only the generation the profile points at.
    /// </summary>
    public static IReadOnlyList<string> DeleteGenerations(string profile, string spec)
    {
        CheckProfile(profile);
        if (!GenerationPolicy.TryParse(spec, out _))
        {
            throw new ArgumentException($"'{spec}' is not a deletion policy: use +K (keep the last K) or Nd (older than N days).", nameof(spec));
        }

        return ["nix-env", "-p", profile, "--delete-generations", spec];
    }

    /// <summary>
    /// <c>nix-env -p PROFILE --delete-generations N M ...</c>: exactly the generations a preview
    /// showed (<see cref="GenerationPolicy.Preview"/>), so that what goes is what was shown.
    /// Nix refuses the whole command if one of them is the profile's current generation.
    /// </summary>
    public static IReadOnlyList<string> DeleteGenerationNumbers(string profile, IEnumerable<int> generations)
    {
        CheckProfile(profile);
        ArgumentNullException.ThrowIfNull(generations);
        var numbers = generations.Distinct().Order().ToList();
        if (numbers.Count == 0)
        {
            throw new ArgumentException("No generation to delete.", nameof(generations));
        }

        numbers.ForEach(CheckGeneration);
        return ["nix-env", "-p", profile, "--delete-generations", .. numbers.Select(n => n.ToString(CultureInfo.InvariantCulture))];
    }

    /// <summary><c>nix-env -p PROFILE --list-generations</c>; read it with <see cref="GenerationsParser.ParseListGenerations"/>.</summary>
    public static IReadOnlyList<string> ListGenerations(string profile)
    {
        CheckProfile(profile);
        return ["nix-env", "-p", profile, "--list-generations"];
    }

    /// <summary><c>nix --extra-experimental-features nix-command store diff-closures FROM TO</c>; read it with <see cref="Nix.DiffClosures.Parse"/>.</summary>
    public static IReadOnlyList<string> DiffClosures(string fromStorePath, string toStorePath)
    {
        foreach (var path in (string[])[fromStorePath, toStorePath])
        {
            if (!GenerationsParser.IsStorePath(path))
            {
                throw new ArgumentException($"'{path}' is not a store path.");
            }
        }

        return ["nix", "--extra-experimental-features", "nix-command", "store", "diff-closures", fromStorePath, toStorePath];
    }

    /// <summary>
    /// The argv that runs <paramref name="command"/> (one of the above) on the host: through
    /// <see cref="NixLocator.Command"/>, so with the host's Nix binary and, on a single-user install,
    /// as the store's owner. On a multi-user install a profile an ordinary user owns is changed as
    /// that user (<c>runuser -u OWNER --</c>, Nix then goes through the daemon), so that nothing in
    /// their profile directory ends up owned by root, not even nix-env's profile lock file.
    /// </summary>
    /// <param name="profileOwner"><see cref="ProfileGenerations.Owner"/> of the profile the command changes, if any.</param>
    public static IReadOnlyList<string> ForHost(
        HostFacts facts, string sshUser, IReadOnlyList<string> command, string? profileOwner = null)
    {
        ArgumentNullException.ThrowIfNull(facts);
        ArgumentNullException.ThrowIfNull(sshUser);
        ArgumentNullException.ThrowIfNull(command);
        if (command.Count == 0)
        {
            throw new ArgumentException("The command is empty.", nameof(command));
        }

        var argv = NixLocator.Command(facts, sshUser, command[0], command.Skip(1));
        // stat prints UNKNOWN for an owner without a passwd entry: nobody to run as but root.
        if (facts.InstallType == NixInstallType.MultiUser && sshUser == "root" &&
            profileOwner is not null and not "root" and not "" and not "UNKNOWN" && profileOwner != sshUser)
        {
            if (!UserName().IsMatch(profileOwner))
            {
                throw new ArgumentException($"'{profileOwner}' is not a user name.", nameof(profileOwner));
            }

            return ["runuser", "-u", profileOwner, "--", .. argv];
        }

        return argv;
    }

    private static void CheckProfile(string profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        // The profile is one the host listed (see GenerationValidation): absolute, no "..", no
        // newline. nix-env would take "-x" for an option even after -p, so no leading dash either.
        if (!profile.StartsWith('/') || profile.Contains('\n') || profile.Contains('\0') ||
            profile.Split('/').Any(part => part is "." or ".."))
        {
            throw new ArgumentException($"'{profile}' is not an absolute profile path.", nameof(profile));
        }
    }

    private static void CheckGeneration(int generation)
    {
        if (generation < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(generation), generation, "Generation numbers start at 1.");
        }
    }

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?\z")]
    private static partial Regex UserName();
}
