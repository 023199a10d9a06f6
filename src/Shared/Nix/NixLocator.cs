using System.Text.RegularExpressions;

namespace NixFleet.Shared.Nix;

/// <summary>
/// Where Nix lives on a host and as whom it must run. NixOS keeps the tools in the current system,
/// the multi-user installer in root's default profile, a single-user install in its owner's
/// profile, Debian's nix-bin in /usr/bin. Pure: the probe finds the directory, this builds commands.
/// </summary>
public static partial class NixLocator
{
    public const string StoreDirectory = "/nix/store";
    public const string DaemonSocket = "/nix/var/nix/daemon-socket/socket";
    public const string SystemProfile = "/nix/var/nix/profiles/system";
    public const string DefaultProfile = "/nix/var/nix/profiles/default";

    /// <summary>Directories searched for nix-env, first match wins (the probe script holds the same list).</summary>
    public static IReadOnlyList<string> BinDirectoryCandidates(string? storeOwnerHome) =>
    [
        "/run/current-system/sw/bin",
        DefaultProfile + "/bin",
        (storeOwnerHome ?? "/nonexistent") + "/.nix-profile/bin",
        "/usr/bin",
        "/usr/local/bin",
    ];

    /// <summary>
    /// The argv that runs a Nix tool on the host, for <see cref="Execution.IRemoteShell.RunAsync"/>.
    /// On a single-user install it runs as the store's owner (<c>runuser -u OWNER --</c>) unless
    /// the SSH user already is the owner: root must never write into a store a user owns.
    /// </summary>
    /// <param name="facts">What the last refresh found; Nix must be installed.</param>
    /// <param name="sshUser">The user the SSH connection logs in as.</param>
    /// <param name="tool">"nix-env", "nix-channel", "nix-collect-garbage", "nixos-rebuild"...</param>
    /// <param name="args">The tool's arguments; they are quoted on the way, never interpreted.</param>
    public static IReadOnlyList<string> Command(HostFacts facts, string sshUser, string tool, params IEnumerable<string> args)
    {
        ArgumentNullException.ThrowIfNull(facts);
        ArgumentNullException.ThrowIfNull(sshUser);
        ArgumentNullException.ThrowIfNull(args);
        if (!ToolName().IsMatch(tool))
        {
            throw new ArgumentException($"'{tool}' is not a Nix tool name.", nameof(tool));
        }

        if (facts.InstallType == NixInstallType.None || facts.NixBinDirectory is null)
        {
            throw new InvalidOperationException("Nix is not installed on this host.");
        }

        var argv = new List<string>();
        if (facts.InstallType == NixInstallType.SingleUser && facts.StoreOwner is { } owner && owner != sshUser)
        {
            // runuser sets HOME (and USER, LOGNAME) to the owner's, which is where nix-env finds
            // ~/.nix-profile and ~/.nix-defexpr.
            argv.AddRange(["runuser", "-u", owner, "--"]);
        }

        argv.Add(facts.NixBinDirectory.TrimEnd('/') + "/" + tool);
        argv.AddRange(args);
        return argv;
    }

    [GeneratedRegex("^[a-z][a-z0-9-]*$")]
    private static partial Regex ToolName();
}
