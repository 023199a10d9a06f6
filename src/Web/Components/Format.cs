using System.Globalization;
using NixFleet.Web.Features.Hosts;

namespace NixFleet.Web.Components;

/// <summary>How numbers and times read on every page: UTC, ISO-like, and plain words.</summary>
public static class Format
{
    public static string Bytes(long? bytes) => bytes is null ? "—" : HostRefresher.Bytes(bytes);

    public static string Utc(DateTimeOffset? at) =>
        at is null ? "—" : at.Value.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    public static string Iso(DateTimeOffset at) => at.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    public static string Ago(DateTimeOffset? at, DateTimeOffset now)
    {
        if (at is null) return "never";
        var d = now - at.Value;
        if (d < TimeSpan.Zero) d = TimeSpan.Zero;
        return d.TotalSeconds < 60 ? "just now"
            : d.TotalMinutes < 60 ? $"{(int)d.TotalMinutes} min ago"
            : d.TotalHours < 24 ? $"{(int)d.TotalHours} h ago"
            : d.TotalDays < 60 ? $"{(int)d.TotalDays} days ago"
            : Utc(at);
    }

    /// <summary>How long something ran: to its end, or until now while it still runs.</summary>
    public static string Duration(DateTimeOffset? start, DateTimeOffset? end, DateTimeOffset now)
    {
        if (start is null) return "—";
        var d = (end ?? now) - start.Value;
        if (d < TimeSpan.Zero) d = TimeSpan.Zero;
        return d.TotalSeconds < 1 ? $"{d.TotalMilliseconds:0} ms"
            : d.TotalMinutes < 1 ? $"{d.TotalSeconds:0.0} s"
            : d.TotalHours < 1 ? $"{(int)d.TotalMinutes} min {d.Seconds} s"
            : $"{(int)d.TotalHours} h {d.Minutes} min";
    }

    /// <summary>A URL with a query string, leaving out empty values (so links stay short and stable).</summary>
    public static string Url(string path, params (string Key, string? Value)[] query)
    {
        var parts = query.Where(q => !string.IsNullOrEmpty(q.Value))
            .Select(q => $"{Uri.EscapeDataString(q.Key)}={Uri.EscapeDataString(q.Value!)}")
            .ToList();
        return parts.Count == 0 ? path : $"{path}?{string.Join('&', parts)}";
    }
}
