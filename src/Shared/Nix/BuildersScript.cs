using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using NixFleet.Shared.Execution;

namespace NixFleet.Shared.Nix;

/// <summary>
/// The host-side script (Nix/builders.sh, embedded): one action per call, every value an argument
/// (or, for apply, stdin) that the script checks. Nothing from a user or the database is put into
/// the script text.
/// </summary>
public static partial class BuildersScript
{
    /// <summary>The client's key for its daemon's connections to builders: root's, never in the store.</summary>
    public const string ClientKeyPath = "/root/.ssh/nixfleet-builder_ed25519";
    public const string BackupRoot = "/var/lib/nixfleet/builders";
    public const string ChangePrefix = "nixfleet-change: ";

    public static string Text { get; } = Load();

    /// <summary>Client: creates (or reuses) root's key pair; prints the public key and whether the host is NixOS.</summary>
    public static IReadOnlyList<string> Key() => Argv("key");

    /// <summary>Client: writes machines, nix.conf, ssh aliases and known hosts from stdin (<see cref="BuildersConfig.Input"/>).</summary>
    public static IReadOnlyList<string> Apply(BuildersOptions options) =>
        Argv(["apply", $"substitutes={(options.UseSubstitutes ? "true" : "false")}",
            .. options.MaxJobs is { } n ? [$"max-jobs={n.ToString(CultureInfo.InvariantCulture)}"] : Array.Empty<string>()]);

    /// <summary>Client: every file as it was before NixFleet configured builders.</summary>
    public static IReadOnlyList<string> Restore() => Argv("restore");

    /// <summary>Client: ping and a build that only the builder can do, for each store URI.</summary>
    /// <param name="nonce">Lowercase letters and digits: makes the test derivation new.</param>
    public static IReadOnlyList<string> Verify(string nonce, IEnumerable<string> storeUris) =>
        Argv(["verify", $"nonce={nonce}", .. storeUris.Select(u => $"uri={u}")]);

    /// <summary>Builder: installs the client's key for the user and makes sure the user is trusted by Nix.</summary>
    /// <param name="client">The client's name, in the key's marker: letters, digits, '.', '_', '-'.</param>
    public static IReadOnlyList<string> Authorize(string user, string client, OpenSshPublicKey key) =>
        Argv("authorize", $"user={user}", $"client={client}", $"key={key.Line}");

    /// <summary>Builder: removes the client's key; trusted-users goes back as it was when no NixFleet client is left.</summary>
    public static IReadOnlyList<string> Unauthorize(string user, string client) =>
        Argv("unauthorize", $"user={user}", $"client={client}");

    static IReadOnlyList<string> Argv(params string[] args) => ["sh", "-c", Text, "nixfleet-builders", .. args];

    /// <summary>The "nixfleet-change: ..." lines: what an action changed.</summary>
    public static IReadOnlyList<string> Changes(string stdout) =>
        stdout.Split('\n').Where(l => l.StartsWith(ChangePrefix, StringComparison.Ordinal)).Select(l => l[ChangePrefix.Length..].Trim()).ToList();

    /// <summary>The "@@diff PATH" sections: how each file changed.</summary>
    public static IReadOnlyList<ConfigDiff> Diffs(string stdout, string where) =>
        FactsParser.ReadSections(stdout).Where(s => s.Name == "diff").Select(s => new ConfigDiff(where, s.Argument, s.Text)).ToList();

    /// <summary>The script's own complaint ("nixfleet-builders: ..."), or the last lines of stderr.</summary>
    public static string Error(CommandResult r)
    {
        var lines = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var own = lines.LastOrDefault(l => l.StartsWith("nixfleet-builders: ", StringComparison.Ordinal));
        return own is not null ? own["nixfleet-builders: ".Length..]
            : lines.Length > 0 ? string.Join(" / ", lines.TakeLast(3)) : $"exited {r.ExitCode}";
    }

    public static ClientKey ReadKey(string stdout)
    {
        var sections = FactsParser.ReadSections(stdout);
        string? First(string name) => sections.LastOrDefault(s => s.Name == name)?.FirstLine;
        var line = First("public-key") ?? throw new FormatException("no public key in the output");
        var key = OpenSshPublicKey.Parse(line) ?? throw new FormatException($"'{line}' is not a public key");
        return new ClientKey(line, key, First("key-mode") ?? "", First("nixos") == "yes");
    }

    public static BuilderAuthorization ReadAuthorize(string builderId, string stdout)
    {
        var sections = FactsParser.ReadSections(stdout);
        bool Added(string name) => sections.LastOrDefault(s => s.Name == name)?.FirstLine == "added";
        return new BuilderAuthorization(builderId, Added("authorized"), Added("trusted"));
    }

    /// <summary>
    /// Each builder's verification from the verify action's output: reachable from the ping; the
    /// build's success from Nix's exit code, its own "building '...' on 'URI'" line (the builder
    /// it chose) and the output (the name of the host the build ran on). Failures are classified
    /// by <see cref="BuilderErrors.Classify"/>.
    /// </summary>
    public static IReadOnlyList<BuilderVerification> ReadVerify(string stdout, IReadOnlyList<RemoteBuilder> builders)
    {
        var sections = FactsParser.ReadSections(stdout);
        FactsParser.Section? Find(string name, string uri) => sections.LastOrDefault(s => s.Name == name && s.Argument == uri);
        var setting = sections.LastOrDefault(s => s.Name == "builders-setting")?.FirstLine ?? "";
        return builders.Select(Read).ToList();

        BuilderVerification Read(RemoteBuilder b)
        {
            var uri = b.StoreUri;
            var none = new BuilderVerification(b.Id, false, null, false, null, null, null, null, uri, null);
            BuilderVerification Failed(BuilderVerification v, BuilderError e) => v with { Error = e.Message, ErrorKind = e.Kind };

            if (Find("missing", uri) is not null)
                return Failed(none, new(BuilderErrors.Other, $"other: {uri} is not in /etc/nix/machines: the host is not configured with this builder"));
            if (Find("ping", uri) is not { } ping)
                return Failed(none, new(BuilderErrors.Other, "other: the verification stopped before this builder"));
            if (Find("ping-exit", uri)?.FirstLine != "0")
                return Failed(none, BuilderErrors.Classify(ping.Text, b.User));

            var reachable = none with { Reachable = true };
            var exit = (Find("build-exit", uri)?.FirstLine ?? "").Split(' ');
            var seconds = exit.Length == 3 && long.TryParse(exit[1], out var start) && long.TryParse(exit[2], out var end)
                ? Math.Round((end - start) / 1e9, 3) : (double?)null;
            var build = Find("build", uri)?.Text ?? "";
            var output = Find("output", uri)?.Lines ?? [];
            var builtOn = BuildingOn().Match(build) is { Success: true } m ? m.Groups[1].Value : null;
            var done = reachable with { Seconds = seconds, OutputPath = output.ElementAtOrDefault(0) };

            if (exit[0] != "0")
            {
                var error = BuilderErrors.Classify(build, b.User);
                return Failed(done with { Trusted = error.Kind == BuilderErrors.NotTrusted ? false : null }, error);
            }

            if (builtOn != uri || output.Count < 2)
                return Failed(done, new(BuilderErrors.Other, $"other: Nix did not build on {uri} (it said: {builtOn ?? "nothing about a remote machine"})"));
            var succeeded = done with { Trusted = true, BuildSucceeded = true, RanOn = output[1].Trim() };
            if (!setting.Contains("@/etc/nix/machines", StringComparison.Ordinal))
                return Failed(succeeded, new(BuilderErrors.Other, $"other: the host's Nix does not read /etc/nix/machines ({(setting.Length > 0 ? setting : "no builders setting")}): its builds do not go to these builders"));
            return succeeded;
        }
    }

    static string Load()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("NixFleet.Shared.Nix.builders.sh")
            ?? throw new InvalidOperationException("builders.sh is not embedded");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    [GeneratedRegex("^building '[^']*' on '([^']*)'", RegexOptions.Multiline)]
    private static partial Regex BuildingOn();
}

/// <summary>Root's key pair on the client, as the key action reported it.</summary>
/// <param name="PublicKey">The public key line as the host printed it (with its comment).</param>
/// <param name="Mode">The private key's mode and owner, "600 root:root".</param>
public sealed record ClientKey(string PublicKey, OpenSshPublicKey Key, string Mode, bool IsNixOS);

/// <summary>How one file changed: <c>diff -u</c> of before and after.</summary>
/// <param name="Where">"client", or the builder's id.</param>
public sealed record ConfigDiff(string Where, string Path, string Diff);

/// <summary>What authorize did on a fleet builder: false means it was so already.</summary>
public sealed record BuilderAuthorization(string BuilderId, bool KeyAdded, bool TrustAdded);

/// <summary>One builder's verification from a client, as the API returns it.</summary>
/// <param name="Trusted">Null when the build did not get far enough to tell.</param>
/// <param name="RanOn">The host name the test build wrote: the machine it ran on.</param>
/// <param name="Seconds">How long the test build took, copying included.</param>
/// <param name="Error">What failed, starting with its kind ("unreachable: ...").</param>
/// <param name="ErrorKind">One of <see cref="BuilderErrors"/>' kinds.</param>
public sealed record BuilderVerification(
    string BuilderId, bool Reachable, bool? Trusted, bool BuildSucceeded, string? RanOn, double? Seconds, string? Error,
    string? ErrorKind, string StoreUri, string? OutputPath)
{
    public bool Succeeded => BuildSucceeded && Error is null;
}

public sealed record BuilderError(string Kind, string Message);

/// <summary>Why a builder failed, read from Nix's and ssh's output.</summary>
public static class BuilderErrors
{
    public const string Unreachable = "unreachable", KeyRefused = "key-refused", HostKey = "host-key", NotTrusted = "not-trusted", Other = "other";

    // Nix 2.8 on the builder, for a user it does not trust: the build itself, or an input path it
    // would have to take unsigned (both captured in Fixtures/builders).
    static readonly string[] NotTrustedMessages = ["you are not privileged to build", "lacks a valid signature"];

    /// <param name="user">The builder's SSH user, named in the message.</param>
    public static BuilderError Classify(string output, string user)
    {
        ArgumentNullException.ThrowIfNull(output);
        var lines = output.Split('\n').Select(l => l.Trim(' ', '@', '\t', '\r')).Where(l => l.Length > 0).ToList();
        if (lines.Count == 0) return new(Other, "other: no output");

        if (lines.FirstOrDefault(l => NotTrustedMessages.Any(m => l.Contains(m, StringComparison.Ordinal))) is { } trust)
            return new(NotTrusted, $"not-trusted: the builder's Nix does not trust {user} (add it to trusted-users there): {trust}");

        var failure = SshException.Classify(output);
        var evidence = lines.FirstOrDefault(l => SshException.Classify(l) == failure) ?? lines[^1];
        return failure switch
        {
            SshFailure.HostKeyChanged => new(HostKey, $"host-key: the builder showed a host key other than the one pinned for it (reinstalled, or someone in between): {evidence}"),
            SshFailure.HostKeyUnknown => new(HostKey, $"host-key: ssh could not verify the builder's host key: {evidence}"),
            SshFailure.AuthenticationFailed => new(KeyRefused, $"key-refused: {user} on the builder does not accept the client's key (add it to {user}'s authorized_keys): {evidence}"),
            SshFailure.Unreachable => new(Unreachable, $"unreachable: {evidence}"),
            _ => new(Other, "other: " + (lines.LastOrDefault(l => l.StartsWith("error:", StringComparison.Ordinal)) ?? lines[^1])),
        };
    }
}
