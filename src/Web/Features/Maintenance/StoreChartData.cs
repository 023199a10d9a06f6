using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Components;
using NixFleet.Web.Data;

namespace NixFleet.Web.Features.Maintenance;

/// <summary>One facts collection, reduced to what the store chart draws.</summary>
public sealed record StoreSample(DateTimeOffset At, long? StoreSizeBytes, long? DiskFreeBytes, long? DiskSizeBytes);

/// <summary>A host's latest store and disk numbers, for the fleet summary.</summary>
public sealed record HostStoreUsage(Guid HostId, string Name, long? StoreSizeBytes, long? DiskFreeBytes, long? DiskSizeBytes);

/// <summary>What a finished gc operation says it did (its Result JSON); missing fields read as 0 or unknown.</summary>
public sealed record GcRunNumbers(int PathsDeleted, long BytesFreed, long? StoreSizeBefore, long? StoreSizeAfter, long? WouldFree)
{
    sealed record Raw(int? PathsDeleted, long? BytesFreed, long? StoreSizeBefore, long? StoreSizeAfter, long? WouldFree);

    /// <summary>Null when there is no result or it is not a JSON object we can read.</summary>
    public static GcRunNumbers? Parse(string? json)
    {
        if (string.IsNullOrWhiteSpace(json)) return null;
        try
        {
            var raw = JsonSerializer.Deserialize<Raw>(json, JsonSerializerOptions.Web);
            return raw is null ? null
                : new(raw.PathsDeleted ?? 0, raw.BytesFreed ?? 0, raw.StoreSizeBefore, raw.StoreSizeAfter, raw.WouldFree);
        }
        catch (JsonException)
        {
            // A result written by an older or newer handler: show the run, without numbers.
            return null;
        }
    }
}

/// <summary>A finished garbage collection that was not a dry run, as the chart and the summary show it.</summary>
public sealed record GcRunView(Guid Id, Guid? HostId, string? HostName, string Status, DateTimeOffset At, GcRunNumbers? Numbers)
{
    /// <summary>"when and how much": the marker's tooltip.</summary>
    public string Describe()
    {
        var what = Status == OperationStatus.Succeeded ? "Garbage collection" : $"Garbage collection ({StatusBadge.Label(Status).ToLowerInvariant()})";
        var freed = Numbers is null ? "no result recorded"
            : $"freed {Format.Bytes(Numbers.BytesFreed)} ({Numbers.PathsDeleted.ToString(CultureInfo.InvariantCulture)} paths)";
        var store = Numbers is { StoreSizeBefore: { } before, StoreSizeAfter: { } after }
            ? $"; store {Format.Bytes(before)} → {Format.Bytes(after)}" : "";
        return $"{what}, {Format.Utc(At)}: {freed}{store}";
    }

    /// <summary>
    /// The gc operations that ended (however they ended) and meant to collect: dry runs are left
    /// out, and so are runs a policy skipped because the disk had room (they would crowd out real ones).
    /// </summary>
    public static IQueryable<Operation> Finished(IQueryable<Operation> operations) => operations.Where(o =>
        o.Kind == GcHandler.KindName
        && (o.Status == OperationStatus.Succeeded || o.Status == OperationStatus.Failed || o.Status == OperationStatus.Cancelled)
        && (o.Parameters == null || !EF.Functions.JsonContains(o.Parameters, DryRunJson))
        && (o.Result == null || !EF.Functions.JsonContains(o.Result, SkippedJson)));

    const string DryRunJson = """{"dryRun": true}""";
    const string SkippedJson = """{"skipped": true}""";
}

/// <summary>
/// The store chart's geometry, computed here so the component only draws: two panels sharing one
/// time axis (store size above, free disk below, each with its own byte scale, since they can be
/// orders of magnitude apart) and the gc runs as vertical markers across both.
/// </summary>
public sealed class StoreChartData
{
    public const double Width = 900;
    public const double Left = 78;
    public const double Right = 16;
    public const double PanelHeight = 110;
    const double FirstPanelTop = 34;
    const double PanelGap = 48;
    public const double Height = FirstPanelTop + PanelHeight + PanelGap + PanelHeight + 30;
    const int TargetTicks = 4;

    public sealed record Point(double X, double Y, long Value, DateTimeOffset At);
    public sealed record Tick(double Y, string Label);
    public sealed record TimeLabel(double X, string Label, string Anchor);
    public sealed record Marker(GcRunView Run, double X);

    public sealed record Panel(string Key, string Title, double Top, double Bottom, IReadOnlyList<IReadOnlyList<Point>> Segments, IReadOnlyList<Tick> Ticks)
    {
        public int PointCount => Segments.Sum(s => s.Count);

        /// <summary>SVG path data: one "M … L …" run per stretch without gaps.</summary>
        public string PathData => string.Join(' ', Segments.Where(s => s.Count > 1).Select(s =>
            "M" + string.Join(" L", s.Select(p => $"{N(p.X)},{N(p.Y)}"))));

        /// <summary>Values with no neighbour to join: drawn as dots.</summary>
        public IEnumerable<Point> LonePoints => Segments.Where(s => s.Count == 1).Select(s => s[0]);
        public Point? Latest => Segments.Count == 0 ? null : Segments[^1][^1];
    }

    public required IReadOnlyList<StoreSample> Samples { get; init; }
    public required Panel Store { get; init; }
    public required Panel Free { get; init; }
    public required IReadOnlyList<TimeLabel> TimeLabels { get; init; }
    public required IReadOnlyList<Marker> Markers { get; init; }
    /// <summary>GC runs older than the oldest sample shown: not drawn, only counted.</summary>
    public required int EarlierRuns { get; init; }
    public double PlotLeft => Left;
    public double PlotRight => Width - Right;
    public double MarkersTop => Store.Top - 8;
    public double MarkersBottom => Free.Bottom;

    public static string N(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

    /// <summary>Null when there is nothing to draw (no samples).</summary>
    public static StoreChartData? Build(IEnumerable<StoreSample> samples, IEnumerable<GcRunView> runs)
    {
        var rows = samples.OrderBy(s => s.At).ToList();
        if (rows.Count == 0) return null;
        var allRuns = runs.ToList();

        // The time axis spans the samples, and reaches forward to gc runs after the last one (a
        // collection the facts have not caught up with yet is the one an operator looks for).
        // Runs before the first sample would squeeze the period shown into a sliver: counted, not drawn.
        var first = rows[0].At;
        var shownRuns = allRuns.Where(r => r.At >= first).OrderBy(r => r.At).ToList();
        var earlier = allRuns.Count - shownRuns.Count;
        var last = shownRuns.Count > 0 && shownRuns[^1].At > rows[^1].At ? shownRuns[^1].At : rows[^1].At;
        var (from, to) = last > first ? (first, last) : (first - TimeSpan.FromHours(1), first + TimeSpan.FromHours(1));

        double X(DateTimeOffset at) => Left + (Width - Left - Right) * ((at - from).TotalSeconds / (to - from).TotalSeconds);

        var storeTop = FirstPanelTop;
        var freeTop = FirstPanelTop + PanelHeight + PanelGap;
        return new StoreChartData
        {
            Samples = rows,
            Store = BuildPanel("store", "Store size", storeTop, rows, r => r.StoreSizeBytes, X),
            Free = BuildPanel("free", "Free disk", freeTop, rows, r => r.DiskFreeBytes, X),
            TimeLabels = TimeLabelsFor(from, to, X),
            Markers = [.. shownRuns.Select(r => new Marker(r, X(r.At)))],
            EarlierRuns = earlier,
        };
    }

    static Panel BuildPanel(string key, string title, double top, List<StoreSample> rows, Func<StoreSample, long?> value, Func<DateTimeOffset, double> x)
    {
        var bottom = top + PanelHeight;
        var values = rows.Select(value).OfType<long>().ToList();
        if (values.Count == 0) return new Panel(key, title, top, bottom, [], []);

        var (min, max, step) = NiceRange(values.Min(), values.Max());
        double Y(long v) => bottom - (bottom - top) * ((v - min) / (max - min));

        var segments = new List<IReadOnlyList<Point>>();
        List<Point>? current = null;
        foreach (var r in rows)
        {
            if (value(r) is not { } v) { current = null; continue; }
            if (current is null) { current = []; segments.Add(current); }
            current.Add(new Point(x(r.At), Y(v), v, r.At));
        }

        var ticks = new List<Tick>();
        var count = (int)Math.Round((max - min) / step);
        for (var i = 0; i <= count; i++)
        {
            var t = min + i * step;
            ticks.Add(new Tick(bottom - (bottom - top) * ((t - min) / (max - min)), Format.Bytes((long)Math.Round(t))));
        }
        return new Panel(key, title, top, bottom, segments, ticks);
    }

    /// <summary>
    /// An axis range in round steps of the unit the labels use (1, 2 or 5 times a power of ten,
    /// never under a tenth of the unit, which is as fine as the labels print).
    /// </summary>
    public static (double Min, double Max, double Step) NiceRange(long lo, long hi)
    {
        double low = lo, high = hi;
        if (high <= low)
        {
            // One value (or a flat line): a band around it, so the line sits in the middle.
            var pad = Math.Max(Math.Abs(high) * 0.05, 1024);
            low = Math.Max(0, low - pad);
            high += pad;
        }
        var unit = high >= 1L << 30 ? 1L << 30 : high >= 1L << 20 ? 1L << 20 : high >= 1L << 10 ? 1L << 10 : 1L;
        var raw = (high - low) / TargetTicks / unit;
        var step = NiceStep(raw, unit == 1 ? 1 : 0.1) * unit;
        var min = Math.Floor(low / step) * step;
        var max = Math.Ceiling(high / step) * step;
        if (max <= min) max = min + step;
        return (min, max, step);
    }

    static double NiceStep(double raw, double smallest)
    {
        for (var magnitude = smallest; ; magnitude *= 10)
            foreach (var m in (ReadOnlySpan<double>)[1, 2, 5])
                if (m * magnitude >= raw) return m * magnitude;
    }

    static List<TimeLabel> TimeLabelsFor(DateTimeOffset from, DateTimeOffset to, Func<DateTimeOffset, double> x)
    {
        var span = to - from;
        var format = span >= TimeSpan.FromDays(3) ? "yyyy-MM-dd" : "MM-dd HH:mm";
        string L(DateTimeOffset at) => at.UtcDateTime.ToString(format, CultureInfo.InvariantCulture);
        var mid = from + span / 2;
        return [new(x(from), L(from), "start"), new(x(mid), L(mid), "middle"), new(x(to), L(to), "end")];
    }
}
