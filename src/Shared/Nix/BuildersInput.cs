using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace NixFleet.Shared.Nix;

/// <summary>
/// A build machine as the API receives it (<c>POST/PUT /api/v1/builders</c>): a fleet host
/// (<see cref="HostId"/>; its address, port and pinned host key come from the fleet) or an outside
/// machine (<see cref="Address"/>). Everything here ends up in files root's Nix and ssh read, so
/// each field is held to the few shapes Nix and OpenSSH need.
/// </summary>
public sealed partial record BuilderInput(
    Guid? HostId, string? Address, int Port, string User, IReadOnlyList<string> Systems, int MaxJobs, int SpeedFactor,
    IReadOnlyList<string> SupportedFeatures, IReadOnlyList<string> MandatoryFeatures, string? HostKey)
{
    const string SystemsMessage = "One or more systems, each an arch-os word such as x86_64-linux or aarch64-darwin.";
    const string MaxJobsMessage = "A whole number from 1 to 1024.";
    const string SpeedFactorMessage = "A whole number from 1 to 1000.";
    const string PortMessage = "A port from 1 to 65535.";
    const string FeaturesMessage = "Feature names: letters, digits and . _ + - (starting with a letter or digit), no spaces.";

    /// <summary>
    /// Reads the JSON body field by field, so a wrong type ("maxJobs": "four", a number too large
    /// for any field) is a message on that field rather than a failed request. Defaults: port 22,
    /// maxJobs 1, speedFactor 1, no features.
    /// </summary>
    public static (BuilderInput? Input, Dictionary<string, string[]> Errors) Read(JsonElement json)
    {
        var errors = new Dictionary<string, string[]>();
        if (json.ValueKind != JsonValueKind.Object)
        {
            errors[""] = ["A JSON object."];
            return (null, errors);
        }

        JsonElement? Field(string name) =>
            json.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        string? Text(string name, string message)
        {
            if (Field(name) is not { } v) return null;
            if (v.ValueKind == JsonValueKind.String) return v.GetString();
            errors[name] = [message];
            return null;
        }

        int Number(string name, int fallback, string message)
        {
            if (Field(name) is not { } v) return fallback;
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n)) return n;
            errors[name] = [message];
            return fallback;
        }

        IReadOnlyList<string> Texts(string name, string message)
        {
            if (Field(name) is not { } v) return [];
            if (v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
                return v.EnumerateArray().Select(e => e.GetString()!).ToList();
            errors[name] = [message];
            return [];
        }

        Guid? hostId = null;
        if (Field("hostId") is { } h)
        {
            if (h.ValueKind == JsonValueKind.String && Guid.TryParse(h.GetString(), out var id)) hostId = id;
            else errors["hostId"] = ["The id of a fleet host."];
        }

        var input = new BuilderInput(
            hostId,
            Text("address", "An IPv4 or IPv6 address or a DNS name."),
            Number("port", 22, PortMessage),
            Text("user", "A user name.") ?? "",
            Texts("systems", SystemsMessage),
            Number("maxJobs", 1, MaxJobsMessage),
            Number("speedFactor", 1, SpeedFactorMessage),
            Texts("supportedFeatures", FeaturesMessage),
            Texts("mandatoryFeatures", FeaturesMessage),
            Text("hostKey", "An OpenSSH public key line."));

        // A field that could not be read keeps its own message; the others are checked as usual.
        foreach (var (field, messages) in input.Errors()) errors.TryAdd(field, messages);
        return (errors.Count == 0 ? input : null, errors);
    }

    /// <summary>Field name to messages; empty when the input can be used.</summary>
    public Dictionary<string, string[]> Errors()
    {
        var errors = new Dictionary<string, string[]>();
        void Add(string field, string message) => errors[field] = [.. errors.GetValueOrDefault(field, []), message];

        if ((HostId is null) == string.IsNullOrEmpty(Address))
            Add("address", "Either a fleet host (hostId) or the address of an outside machine, not both.");
        if (!string.IsNullOrEmpty(Address) && !IsAddress(Address))
            Add("address", "An IPv4 or IPv6 address (no brackets, no zone) or a DNS name.");
        if (Port is < 1 or > 65535) Add("port", PortMessage);
        if (!UserName().IsMatch(User)) Add("user", "A Unix user name: lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32 characters.");
        if (Systems.Count == 0 || Systems.Count > 16 || !Systems.All(SystemName().IsMatch)) Add("systems", SystemsMessage);
        if (MaxJobs is < 1 or > 1024) Add("maxJobs", MaxJobsMessage);
        if (SpeedFactor is < 1 or > 1000) Add("speedFactor", SpeedFactorMessage);
        if (!SupportedFeatures.All(FeatureName().IsMatch)) Add("supportedFeatures", FeaturesMessage);
        if (!MandatoryFeatures.All(FeatureName().IsMatch)) Add("mandatoryFeatures", FeaturesMessage);
        if (HostKey is not null && OpenSshPublicKey.Parse(HostKey) is null)
            Add("hostKey", "An OpenSSH public key line: a known type (ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa, sk-...) and its base64 key.");
        return errors;
    }

    /// <summary>An IP literal as written (IPAddress.TryParse alone also takes "1", "0x7f.1" or "[::1]"), or a DNS name.</summary>
    public static bool IsAddress(string address)
    {
        if (Ipv4().IsMatch(address)) return IPAddress.TryParse(address, out _);
        if (address.Contains(':'))
            return address.All(c => char.IsAsciiHexDigit(c) || c is ':' or '.') && IPAddress.TryParse(address, out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6;
        return address.Length <= 253 && DnsName().IsMatch(address) && !address.All(c => char.IsAsciiDigit(c) || c == '.');
    }

    [GeneratedRegex("^[a-z_][a-z0-9_-]{0,31}$")]
    private static partial Regex UserName();

    [GeneratedRegex("^[a-z0-9_]+-[a-z0-9_]+$")]
    private static partial Regex SystemName();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")]
    private static partial Regex FeatureName();

    [GeneratedRegex(@"^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$")]
    private static partial Regex Ipv4();

    [GeneratedRegex(@"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")]
    private static partial Regex DnsName();
}

/// <summary>An OpenSSH public key line, "type base64 [comment]".</summary>
public sealed record OpenSshPublicKey(string Type, string Base64Blob)
{
    public static readonly IReadOnlyList<string> KnownTypes =
    [
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa",
        "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    ];

    /// <summary>"type base64", without the comment.</summary>
    public string Line => $"{Type} {Base64Blob}";

    /// <summary>
    /// The key, or null unless it is one line of a known type whose base64 decodes to a key blob of
    /// that same type (the blob starts with its type name).
    /// </summary>
    public static OpenSshPublicKey? Parse(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (line.Contains('\n') || line.Contains('\r')) return null;
        var fields = line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 2 || !KnownTypes.Contains(fields[0])) return null;
        byte[] blob;
        try { blob = Convert.FromBase64String(fields[1]); }
        catch (FormatException) { return null; }
        if (blob.Length < 4) return null;
        var length = BinaryPrimitives.ReadUInt32BigEndian(blob);
        if (length != fields[0].Length || blob.Length < 4 + length) return null;
        return Encoding.ASCII.GetString(blob, 4, (int)length) == fields[0] ? new OpenSshPublicKey(fields[0], fields[1]) : null;
    }
}
