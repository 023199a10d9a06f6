using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace NixFleet.Shared.Nix;

/// <summary>One line of a Nix machines file (<c>/etc/nix/machines</c>, nix.conf <c>builders</c>).</summary>
/// <param name="Scheme">"ssh" (the legacy SSH store, as the machines file assumes without one) or "ssh-ng".</param>
/// <param name="User">The SSH user on the machine; null when the URI names none.</param>
/// <param name="Host">The host as it stands in the store URI: an address, a name, or an SSH alias.</param>
/// <param name="Systems">Empty: the client's own system (Nix's default).</param>
/// <param name="HostKey">Base64 of the machine's public host key line ("ssh-ed25519 AAAA..."); null for none.</param>
public sealed record BuildMachine(
    string Scheme, string? User, string Host, IReadOnlyList<string> Systems, string? SshKey,
    int MaxJobs, int SpeedFactor, IReadOnlyList<string> SupportedFeatures, IReadOnlyList<string> MandatoryFeatures, string? HostKey)
{
    public string StoreUri => $"{Scheme}://{(User is null ? "" : User + "@")}{Host}";
}

/// <summary>Nix's machines file format: 8 whitespace-separated fields, "-" for an empty one, comma lists.</summary>
public static class MachinesFile
{
    public static string RenderLine(BuildMachine m)
    {
        static string Field(string? value) => string.IsNullOrEmpty(value) ? "-" : value;
        static string List(IReadOnlyList<string> values) => values.Count == 0 ? "-" : string.Join(',', values);
        return string.Join(' ',
            m.StoreUri, List(m.Systems), Field(m.SshKey),
            m.MaxJobs.ToString(CultureInfo.InvariantCulture), m.SpeedFactor.ToString(CultureInfo.InvariantCulture),
            List(m.SupportedFeatures), List(m.MandatoryFeatures), Field(m.HostKey));
    }

    /// <summary>One line per machine, each ending with a newline.</summary>
    public static string Render(IEnumerable<BuildMachine> machines) =>
        string.Concat(machines.Select(m => RenderLine(m) + "\n"));

    /// <summary>
    /// Reads a machines file as Nix 2.8 does (libstore/machines.cc): entries are separated by newlines
    /// or ';', a '#' starts a comment (after that split: "# a; b" is a comment and an entry "b"),
    /// missing fields and "-" take Nix's defaults (the client's system, 1 job, speed 1), a URI
    /// without a scheme is ssh://. An "@file" include is not followed.
    /// </summary>
    /// <exception cref="FormatException">A line Nix would refuse: no URI, a count that is not a number, a host key that is not base64, an include.</exception>
    public static IReadOnlyList<BuildMachine> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var machines = new List<BuildMachine>();
        foreach (var raw in text.Split('\n', ';'))
        {
            var hash = raw.IndexOf('#');
            var line = (hash < 0 ? raw : raw[..hash]).Trim();
            if (line.Length == 0) continue;
            if (line.StartsWith('@')) throw new FormatException($"'{line}' includes another file, which is not read here.");
            var f = line.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
            bool IsSet(int i) => f.Length > i && f[i] != "-";
            IReadOnlyList<string> List(int i) => IsSet(i) ? f[i].Split(',', StringSplitOptions.RemoveEmptyEntries) : [];
            int Count(int i)
            {
                if (!IsSet(i)) return 1;
                return uint.TryParse(f[i], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n <= int.MaxValue
                    ? (int)n : throw new FormatException($"field {i + 1} of '{line}' is not a count.");
            }

            var (scheme, user, host) = SplitUri(f[0]);
            string? hostKey = null;
            if (IsSet(7))
            {
                hostKey = f[7];
                try { Convert.FromBase64String(hostKey); }
                catch (FormatException) { throw new FormatException($"the host key of '{line}' is not base64."); }
            }

            machines.Add(new BuildMachine(scheme, user, host, List(1), IsSet(2) ? f[2] : null,
                Count(3), Math.Max(1, Count(4)), List(5), List(6), hostKey));
        }

        return machines;
    }

    static (string Scheme, string? User, string Host) SplitUri(string uri)
    {
        var sep = uri.IndexOf("://", StringComparison.Ordinal);
        var (scheme, rest) = sep < 0 ? ("ssh", uri) : (uri[..sep], uri[(sep + 3)..]);
        var at = rest.LastIndexOf('@');
        return at < 0 ? (scheme, null, rest) : (scheme, rest[..at], rest[(at + 1)..]);
    }
}

/// <summary>A build machine as NixFleet keeps it, and how a client reaches it.</summary>
/// <param name="Id">NixFleet's id of the builder: names its SSH alias (letters, digits, '-').</param>
/// <param name="Address">IPv4 or IPv6 address (no brackets) or DNS name.</param>
/// <param name="HostKey">The builder's public host key line, "type base64" (a fleet host's pinned key).</param>
public sealed partial record RemoteBuilder(
    string Id, string Address, int Port, string User, IReadOnlyList<string> Systems, int MaxJobs, int SpeedFactor,
    IReadOnlyList<string> SupportedFeatures, IReadOnlyList<string> MandatoryFeatures, string HostKey)
{
    /// <summary>
    /// Nix 2.8's ssh:// URIs take no port (NixOS/nix#1994, fixed in 2.31); an IPv6 address goes
    /// the same way so the URI never needs brackets. Such a builder is reached through a Host alias
    /// in root's ssh config.
    /// </summary>
    public bool NeedsAlias => Port != 22 || IPAddress.TryParse(Address, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6;

    public string Alias => AliasId().IsMatch(Id)
        ? "nixfleet-builder-" + Id.ToLowerInvariant()
        : throw new InvalidOperationException($"'{Id}' cannot name an SSH alias (letters, digits and '-' only).");

    /// <summary>The host in the store URI, in known_hosts and in Nix's own host-key file.</summary>
    public string StoreHost => NeedsAlias ? Alias : Address;

    public string StoreUri => $"ssh://{User}@{StoreHost}";

    public BuildMachine Machine => new("ssh", User, StoreHost, Systems, BuildersScript.ClientKeyPath, MaxJobs, SpeedFactor,
        SupportedFeatures, MandatoryFeatures, Convert.ToBase64String(Encoding.UTF8.GetBytes(HostKey)));

    /// <summary>
    /// The Host block of the alias; empty when the address is used directly. HostKeyAlias makes ssh
    /// look the key up under the alias, the name Nix writes into its host-key file with the machines
    /// file's key (without it ssh looks for "[address]:port" there and fails).
    /// </summary>
    public IReadOnlyList<string> SshConfigLines => NeedsAlias
        ? [$"Host {Alias}", $"  HostName {Address}", $"  Port {Port.ToString(CultureInfo.InvariantCulture)}", $"  HostKeyAlias {Alias}"]
        : [];

    public string KnownHostsLine => $"{StoreHost} {HostKey}";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")]
    private static partial Regex AliasId();
}

/// <summary>What a client host gets besides its machines: its own max-jobs, substitutes on builders, and whether a failed verification is kept.</summary>
/// <param name="MaxJobs">The client's own max-jobs (0: build nothing locally); null leaves nix.conf's as it is.</param>
/// <param name="UseSubstitutes">builders-use-substitutes: builders fetch from caches themselves.</param>
/// <param name="Keep">Keep the configuration when verification fails, instead of restoring the one before.</param>
public sealed record BuildersOptions(int? MaxJobs = null, bool UseSubstitutes = false, bool Keep = false)
{
    public Dictionary<string, string[]> Errors()
    {
        var errors = new Dictionary<string, string[]>();
        if (MaxJobs is < 0 or > 1024) errors["maxJobs"] = ["The host's own max-jobs: a whole number from 0 (build nothing locally) to 1024."];
        return errors;
    }
}

/// <summary>What the client's <c>apply</c> writes: machines, ssh aliases and known hosts, framed as the script reads them.</summary>
public static class BuildersConfig
{
    /// <summary>Sections "@@machines", "@@ssh-config", "@@known-hosts", each line prefixed with '|'.</summary>
    public static string Input(IReadOnlyList<RemoteBuilder> builders)
    {
        var sb = new StringBuilder();
        void Section(string name, IEnumerable<string> lines)
        {
            sb.Append("@@").Append(name).Append('\n');
            foreach (var line in lines) sb.Append('|').Append(line).Append('\n');
        }

        Section("machines", builders.Select(b => MachinesFile.RenderLine(b.Machine)));
        Section("ssh-config", builders.SelectMany(b => b.SshConfigLines));
        Section("known-hosts", builders.Select(b => b.KnownHostsLine));
        return sb.ToString();
    }
}

/// <summary>
/// The configuration.nix lines for a NixOS client, where /etc/nix is generated and NixFleet does
/// not write it.
/// </summary>
public static class NixOsSnippet
{
    public static string Render(IReadOnlyList<RemoteBuilder> builders, BuildersOptions options)
    {
        var sb = new StringBuilder();
        sb.Append("# Remote builders (NixFleet). /etc/nix is generated on NixOS: add this to configuration.nix, then nixos-rebuild switch.\n");
        sb.Append("nix.distributedBuilds = true;\n");
        sb.Append($"nix.settings.builders-use-substitutes = {(options.UseSubstitutes ? "true" : "false")};\n");
        if (options.MaxJobs is { } maxJobs) sb.Append($"nix.settings.max-jobs = {maxJobs.ToString(CultureInfo.InvariantCulture)};\n");
        sb.Append("nix.buildMachines = [\n");
        foreach (var b in builders)
        {
            var m = b.Machine;
            sb.Append("  {\n");
            sb.Append($"    hostName = {Str(m.Host)};\n");
            sb.Append($"    sshUser = {Str(b.User)};\n");
            sb.Append($"    sshKey = {Str(BuildersScript.ClientKeyPath)};\n");
            sb.Append($"    systems = {List(b.Systems)};\n");
            sb.Append($"    maxJobs = {b.MaxJobs.ToString(CultureInfo.InvariantCulture)};\n");
            sb.Append($"    speedFactor = {b.SpeedFactor.ToString(CultureInfo.InvariantCulture)};\n");
            sb.Append($"    supportedFeatures = {List(b.SupportedFeatures)};\n");
            sb.Append($"    mandatoryFeatures = {List(b.MandatoryFeatures)};\n");
            sb.Append($"    publicHostKey = {Str(m.HostKey!)};\n");
            sb.Append("  }\n");
        }

        sb.Append("];\n");
        var aliases = builders.Where(b => b.NeedsAlias).ToList();
        if (aliases.Count > 0)
        {
            // Nix 2.8's store URIs take no port and no IPv6 literal: root's ssh reaches these by an alias.
            sb.Append("programs.ssh.extraConfig = ''\n");
            foreach (var line in aliases.SelectMany(b => b.SshConfigLines)) sb.Append("  ").Append(line.Replace("''", "'''", StringComparison.Ordinal)).Append('\n');
            sb.Append("'';\n");
        }

        return sb.ToString();
    }

    static string Str(string s) =>
        "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("${", "\\${", StringComparison.Ordinal) + "\"";

    static string List(IReadOnlyList<string> values) => values.Count == 0 ? "[ ]" : "[ " + string.Join(' ', values.Select(Str)) + " ]";
}
