using System.Net;
using System.Text.RegularExpressions;

namespace NixFleet.Web.Features.Hosts;

/// <summary>What an operator sends to add a host. Validated here, at the edge, before anything is saved.</summary>
public sealed record HostInput(string? Name, string? Address, int? Port, string? User, IReadOnlyList<string>? Tags, string? HostKey = null)
{
    public const int MaxTags = 32;

    /// <summary>Field name (as the API spells it) to messages; empty when valid.</summary>
    public Dictionary<string, string[]> Validate()
    {
        var errors = new Dictionary<string, string[]>();
        void Fail(string field, string message) => errors[field] = [message];

        if (string.IsNullOrWhiteSpace(Name)) Fail("name", "A name is required.");
        else if (!HostRules.Name().IsMatch(Name))
            Fail("name", "A name is 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit.");

        if (string.IsNullOrWhiteSpace(Address)) Fail("address", "An address is required.");
        else if (!HostRules.IsValidAddress(Address))
            Fail("address", "An address is a DNS name or an IP address: no spaces, and it cannot start with '-'.");

        if (Port is < 1 or > 65535) Fail("port", "The port must be between 1 and 65535.");

        if (User is not null && !HostRules.User().IsMatch(User))
            Fail("user", "A user name is 1-32 lower-case letters, digits, '_' or '-', starting with a letter or '_'.");

        if (Tags is { } tags)
        {
            if (tags.Count > MaxTags) Fail("tags", $"At most {MaxTags} tags.");
            else if (tags.FirstOrDefault(t => t is null || !HostRules.Tag().IsMatch(t)) is { } bad)
                Fail("tags", $"Tag '{bad}' is not valid: tags are 1-32 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.");
        }

        if (HostKey is not null && !HostRules.PublicKey().IsMatch(HostKey.Trim()))
            Fail("hostKey", "A host key is one line 'TYPE BASE64' as in known_hosts, e.g. 'ssh-ed25519 AAAA...'.");
        return errors;
    }
}

public static partial class HostRules
{
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")] public static partial Regex Name();
    [GeneratedRegex(@"^[a-z_][a-z0-9_-]{0,31}$")] public static partial Regex User();
    [GeneratedRegex(@"^[a-z0-9][a-z0-9._-]{0,31}$")] public static partial Regex Tag();
    [GeneratedRegex(@"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$")] public static partial Regex DnsName();
    [GeneratedRegex(@"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$")] public static partial Regex PublicKey();

    public static bool IsValidAddress(string address) =>
        DnsName().IsMatch(address) || (address.Contains(':') && IPAddress.TryParse(address, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && !address.Contains('%'));
}
