using System.Globalization;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;

namespace NixFleet.Web.Features.Upgrades;

/// <summary>
/// The channels pages: a host's channels read live, and the fleet's channels from each host's
/// latest facts, grouped to show which hosts are behind and which point a channel elsewhere.
/// </summary>
public static class ChannelsUi
{
    public const string DriftPath = "/channels";
    public static string HostUrl(Guid hostId) => $"/hosts/{hostId}/channels";

    /// <summary>One channel of one user on one host, as the host's latest facts have it.</summary>
    public sealed record HostChannel(Guid HostId, string Host, ChannelRecord Channel);

    /// <summary>A host following a channel, with the version it has and whether that is older than the newest seen.</summary>
    public sealed record Follower(Guid HostId, string Host, string User, string? Version, DateTimeOffset? UpdatedAt, bool Behind);

    /// <summary>Every host whose channel <see cref="Name"/> points at <see cref="Url"/>.</summary>
    /// <param name="Newest">The newest version any host has from this URL (under any channel name); null when none says.</param>
    /// <param name="OtherUrls">Other URLs the same channel name points at elsewhere in the fleet.</param>
    public sealed record Group(string Name, string Url, string? Newest, IReadOnlyList<Follower> Hosts, IReadOnlyList<string> OtherUrls)
    {
        public int BehindCount => Hosts.Count(h => h.Behind);
    }

    public static async Task<IReadOnlyList<HostChannel>> LoadAsync(NixFleetDb db, CancellationToken ct)
    {
        var hosts = await db.Hosts.AsNoTracking().Include(h => h.LatestFacts).Where(h => h.LatestFacts != null).OrderBy(h => h.Name).ToListAsync(ct);
        return hosts.SelectMany(h => h.LatestFacts!.Channels.Select(c => new HostChannel(h.Id, h.Name, c))).ToList();
    }

    /// <summary>
    /// The fleet's channels by name and URL, most followed first. A host is behind when its version
    /// is older than the newest version seen for the same URL; a host without a version is not
    /// called behind (nothing says so).
    /// </summary>
    public static IReadOnlyList<Group> Drift(IEnumerable<HostChannel> channels)
    {
        var all = channels.ToList();
        var newestByUrl = all.Where(c => c.Channel.Version is not null).GroupBy(c => c.Channel.Url, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(c => c.Channel.Version!).Aggregate((a, b) => CompareVersions(a, b) >= 0 ? a : b), StringComparer.Ordinal);
        var urlsByName = all.GroupBy(c => c.Channel.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(c => c.Channel.Url).Distinct(StringComparer.Ordinal).ToList(), StringComparer.Ordinal);
        return all.GroupBy(c => (c.Channel.Name, c.Channel.Url))
            .Select(g =>
            {
                var newest = newestByUrl.GetValueOrDefault(g.Key.Url);
                var hosts = g.Select(c => new Follower(c.HostId, c.Host, c.Channel.User, c.Channel.Version, c.Channel.UpdatedAt,
                        newest is not null && c.Channel.Version is not null && CompareVersions(c.Channel.Version, newest) < 0))
                    .OrderByDescending(f => f.Behind).ThenBy(f => f.Host, StringComparer.Ordinal).ThenBy(f => f.User, StringComparer.Ordinal).ToList();
                return new Group(g.Key.Name, g.Key.Url, newest, hosts, urlsByName[g.Key.Name].Where(u => u != g.Key.Url).Order(StringComparer.Ordinal).ToList());
            })
            .OrderBy(g => g.Name, StringComparer.Ordinal).ThenByDescending(g => g.Hosts.Count).ThenBy(g => g.Url, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>
    /// Orders two channel versions ("24.11.710315.b681065d0919", "24.05pre123.abc"): part by part
    /// on the dots, numbers as numbers, a part that is not a number by its leading digits and
    /// then as text; more parts is newer when the shared ones are equal.
    /// </summary>
    public static int CompareVersions(string a, string b)
    {
        var x = a.Split('.');
        var y = b.Split('.');
        for (var i = 0; i < Math.Min(x.Length, y.Length); i++)
        {
            var c = ComparePart(x[i], y[i]);
            if (c != 0) return c;
        }
        return x.Length.CompareTo(y.Length);
    }

    static int ComparePart(string a, string b)
    {
        var (na, ra) = Leading(a);
        var (nb, rb) = Leading(b);
        if (na is not null && nb is not null)
        {
            var c = na.Value.CompareTo(nb.Value);
            if (c != 0) return c;
            // "05" and "05pre": the release is newer than its pre-release.
            if (ra.Length == 0 || rb.Length == 0) return rb.Length.CompareTo(ra.Length);
            return string.CompareOrdinal(ra, rb);
        }
        if (na is not null) return 1;
        if (nb is not null) return -1;
        return string.CompareOrdinal(a, b);
    }

    static (long? Number, string Tail) Leading(string part)
    {
        var digits = part.TakeWhile(char.IsAsciiDigit).Count();
        if (digits == 0 || digits > 18) return (null, part);
        return (long.Parse(part[..digits], NumberStyles.None, CultureInfo.InvariantCulture), part[digits..]);
    }

    /// <summary>The first 12 characters of a git revision.</summary>
    public static string ShortRevision(string? revision) => revision is null ? "—" : revision.Length > 12 ? revision[..12] : revision;
}
