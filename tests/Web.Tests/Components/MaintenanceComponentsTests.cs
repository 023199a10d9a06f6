using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using AngleSharp.Dom;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Components;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Maintenance;

namespace NixFleet.Web.Tests.Components;

public sealed partial class MaintenanceComponentsTests
{
    const long GiB = 1L << 30;
    const long MiB = 1L << 20;
    static readonly DateTimeOffset T0 = Fakes.Now.AddHours(-10);

    static StoreSample Sample(int hour, long? store, long? free = 300 * MiB, long? size = 20 * GiB) =>
        new(T0.AddHours(hour), store, free, size);

    static GcRunView Run(int hour, long freed, string status = OperationStatus.Succeeded, string? host = "alpha") =>
        new(Guid.NewGuid(), Guid.NewGuid(), host, status, T0.AddHours(hour), new GcRunNumbers(120, freed, 6 * GiB, 6 * GiB - freed, null));

    static Task<IDocument> ChartAsync(IEnumerable<StoreSample> samples, params GcRunView[] runs) =>
        Html.RenderAsync<StoreChart>(new()
        {
            [nameof(StoreChart.Samples)] = samples.ToList(),
            [nameof(StoreChart.GcRuns)] = runs,
        });

    [GeneratedRegex(@"([ML])(-?[\d.]+),(-?[\d.]+)")]
    private static partial Regex PathPoint();

    /// <summary>The points of a series' path, in drawing order; a new stretch starts at each M.</summary>
    static List<(bool Move, double X, double Y)> Points(IDocument doc, string series) =>
        [.. PathPoint().Matches(doc.QuerySelector($"path[data-series={series}]")!.GetAttribute("d") ?? "")
            .Select(m => (m.Groups[1].Value == "M", Num(m.Groups[2].Value), Num(m.Groups[3].Value)))];

    static double Num(string? s) => double.Parse(s!, CultureInfo.InvariantCulture);

    static int PointCount(IDocument doc, string series) =>
        int.Parse(doc.QuerySelector($"path[data-series={series}]")!.GetAttribute("data-points")!, CultureInfo.InvariantCulture);

    [Fact]
    public async Task StoreChart_WithoutFacts_SaysSo_AndDrawsNothing()
    {
        var doc = await ChartAsync([], Run(1, GiB));
        Assert.Equal("No facts collected yet.", doc.QuerySelector(".store-chart-empty").Text());
        Assert.Null(doc.QuerySelector("svg"));
        Assert.Empty(doc.QuerySelectorAll("[data-gc-run]"));
    }

    [Fact]
    public async Task StoreChart_DrawsEachCollectionOldestFirst_ALargerValueHigher()
    {
        // Given newest first, as a query might return them.
        var doc = await ChartAsync([Sample(2, 4 * GiB, 900 * MiB), Sample(1, 6 * GiB, 100 * MiB), Sample(0, 5 * GiB, 500 * MiB)]);

        Assert.Equal(3, PointCount(doc, "store"));
        var store = Points(doc, "store");
        Assert.Equal([true, false, false], store.Select(p => p.Move));
        Assert.True(store[0].X < store[1].X && store[1].X < store[2].X, "time runs left to right");
        // SVG's y grows downwards: 6 GiB (hour 1) above 5 GiB (hour 0) above 4 GiB (hour 2).
        Assert.True(store[1].Y < store[0].Y && store[0].Y < store[2].Y, $"y: {store[0].Y}, {store[1].Y}, {store[2].Y}");

        var free = Points(doc, "free");
        Assert.Equal(3, free.Count);
        Assert.True(free[2].Y < free[0].Y && free[0].Y < free[1].Y, $"y: {free[0].Y}, {free[1].Y}, {free[2].Y}");
        // Both panels share the time axis.
        Assert.Equal(store.Select(p => p.X), free.Select(p => p.X));
    }

    [Fact]
    public async Task StoreChart_EachSeriesHasItsOwnScale_InBytesAnOperatorReads()
    {
        var doc = await ChartAsync([Sample(0, 40 * GiB, 200 * MiB), Sample(1, 42 * GiB, 300 * MiB)]);

        string[] Ticks(string series) => [.. doc.QuerySelectorAll($"text[data-tick={series}]").Select(t => t.Text())];
        var store = Ticks("store");
        var free = Ticks("free");
        Assert.True(store.Length >= 2);
        Assert.All(store, t => Assert.EndsWith(" GiB", t));
        Assert.All(free, t => Assert.EndsWith(" MiB", t));
        // Ticks run from the bottom of the panel up and cover the values drawn.
        Assert.True(double.Parse(store[0].Split(' ')[0], CultureInfo.InvariantCulture) <= 40);
        Assert.True(double.Parse(store[^1].Split(' ')[0], CultureInfo.InvariantCulture) >= 42);
        Assert.Equal("store 42.0 GiB · free 300.0 MiB of 20.0 GiB (1%)", doc.QuerySelector(".store-chart-latest").Text());
    }

    [Fact]
    public async Task StoreChart_MissingValues_BreakTheLine_AndASeriesNeverReportedSaysSo()
    {
        var doc = await ChartAsync(
        [
            Sample(0, 5 * GiB, free: null), Sample(1, null, free: null), Sample(2, 6 * GiB, free: null), Sample(3, 7 * GiB, free: null),
        ]);

        Assert.Equal(3, PointCount(doc, "store"));
        // Hour 0 stands alone (a dot); hours 2 and 3 are one stretch of line.
        var line = Points(doc, "store");
        Assert.Equal([true, false], line.Select(p => p.Move));
        Assert.Single(doc.QuerySelectorAll("circle[data-series-point=store]"));

        Assert.Equal(0, PointCount(doc, "free"));
        Assert.Equal("", doc.QuerySelector("path[data-series=free]")!.GetAttribute("d"));
        Assert.Equal("Not reported", doc.QuerySelector("[data-panel=free] .not-reported").Text());
        Assert.Null(doc.QuerySelector("[data-panel=store] .not-reported"));
    }

    [Fact]
    public async Task StoreChart_OneCollection_IsADotInTheMiddleOfItsPanel()
    {
        var doc = await ChartAsync([Sample(0, 5 * GiB)]);

        Assert.Equal(1, PointCount(doc, "store"));
        var dot = doc.QuerySelector("circle[data-series-point=store]")!;
        Assert.Equal((StoreChartData.Left + StoreChartData.Width - StoreChartData.Right) / 2, Num(dot.GetAttribute("cx")), 1);
        // A flat value gets a band around it rather than sitting on an edge.
        var ticks = doc.QuerySelectorAll("[data-panel=store] line").Select(l => Num(l.GetAttribute("y1"))).ToList();
        var cy = Num(dot.GetAttribute("cy"));
        Assert.True(cy > ticks.Min() && cy < ticks.Max(), $"dot at {cy}, ticks {string.Join(", ", ticks)}");
    }

    [Fact]
    public async Task StoreChart_MarksGcRunsInTimeOrder_WhereTheyRan_WithWhatTheyFreed()
    {
        var early = Run(1, GiB);
        var late = Run(3, 512 * MiB);
        var failed = new GcRunView(Guid.NewGuid(), Guid.NewGuid(), null, OperationStatus.Failed, T0.AddHours(2), null);
        var doc = await ChartAsync([Sample(0, 6 * GiB), Sample(1, 5 * GiB), Sample(2, 5 * GiB), Sample(3, 5 * GiB), Sample(4, 5 * GiB)], late, failed, early);

        var markers = doc.QuerySelectorAll("[data-gc-run]");
        Assert.Equal([early.Id.ToString(), failed.Id.ToString(), late.Id.ToString()], markers.Select(m => m.GetAttribute("data-gc-run")));
        double X(IElement marker) => Num(marker.QuerySelector("line.gc-marker-line")!.GetAttribute("x1"));
        var xs = markers.Select(X).ToList();
        Assert.True(xs[0] < xs[1] && xs[1] < xs[2]);
        // A run at the time of a collection sits exactly on that collection's point.
        var store = Points(doc, "store");
        Assert.Equal(store[1].X, xs[0], 1);
        Assert.Equal(store[3].X, xs[2], 1);

        var title = markers[0].QuerySelector("title").Text();
        Assert.Contains(Format.Utc(early.At), title);
        Assert.Contains("freed 1.0 GiB (120 paths)", title);
        Assert.Contains("store 6.0 GiB → 5.0 GiB", title);
        Assert.Equal($"/operations/{early.Id}", markers[0].GetAttribute("href"));

        Assert.Equal("failed", markers[1].GetAttribute("data-status"));
        Assert.Contains("text-red", markers[1].ClassList);
        Assert.Contains("(failed)", markers[1].QuerySelector("title").Text());
        Assert.Contains("no result recorded", markers[1].QuerySelector("title").Text());
    }

    [Fact]
    public async Task StoreChart_RunAfterTheLastFacts_StretchesTheAxis_RunBeforeTheFirstIsOnlyCounted()
    {
        var before = Run(-5, GiB);
        var after = Run(6, GiB);
        var doc = await ChartAsync([Sample(0, 6 * GiB), Sample(2, 5 * GiB)], before, after);

        var marker = Assert.Single(doc.QuerySelectorAll("[data-gc-run]"));
        Assert.Equal(after.Id.ToString(), marker.GetAttribute("data-gc-run"));
        var x = Num(marker.QuerySelector("line.gc-marker-line")!.GetAttribute("x1"));
        Assert.Equal(StoreChartData.Width - StoreChartData.Right, x, 1);
        var store = Points(doc, "store");
        Assert.Equal(StoreChartData.Left, store[0].X, 1);
        // Hour 2 of a 0..6 axis: a third of the way across.
        Assert.Equal(StoreChartData.Left + (x - StoreChartData.Left) / 3, store[1].X, 1);

        Assert.Equal("1", doc.QuerySelector("[data-earlier-runs]")!.GetAttribute("data-earlier-runs"));
    }

    [Fact]
    public async Task StoreChart_OnlyRunsBeforeTheFacts_DrawNoMarker()
    {
        var doc = await ChartAsync([Sample(5, 6 * GiB)], Run(1, GiB), Run(2, GiB));
        Assert.Empty(doc.QuerySelectorAll("[data-gc-run]"));
        Assert.Equal("2", doc.QuerySelector("[data-earlier-runs]")!.GetAttribute("data-earlier-runs"));
    }

    [Theory]
    [InlineData(0L, 0L)]
    [InlineData(5L * GiB, 5L * GiB)]
    [InlineData(40L * GiB, 42L * GiB)]
    [InlineData(100L * MiB, 900L * MiB)]
    [InlineData(3L * GiB, 800L * GiB)]
    [InlineData(10L, 900L)]
    public void NiceRange_CoversTheValues_InAFewRoundSteps(long lo, long hi)
    {
        var (min, max, step) = StoreChartData.NiceRange(lo, hi);
        Assert.True(min <= lo && max >= hi && max > min, $"{min}..{max} for {lo}..{hi}");
        Assert.True(min >= 0);
        var steps = (max - min) / step;
        Assert.InRange(steps, 1, 10);
        Assert.Equal(Math.Round(steps), steps, 6);
    }

    [Theory]
    [InlineData("""{"pathsDeleted":12,"bytesFreed":1073741824,"storeSizeBefore":5,"storeSizeAfter":4}""", 12, 1073741824L, 5L, 4L, null)]
    [InlineData("""{"mode":"plain","dryRun":true,"wouldFree":2048}""", 0, 0L, null, null, 2048L)]
    [InlineData("""{"bytesFreed":7,"storeSizeBefore":null,"extra":{"x":[1,2]}}""", 0, 7L, null, null, null)]
    public void GcRunNumbers_ReadsWhatIsThere_AndDefaultsTheRest(string json, int paths, long freed, long? before, long? after, long? wouldFree) =>
        Assert.Equal(new GcRunNumbers(paths, freed, before, after, wouldFree), GcRunNumbers.Parse(json));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("null")]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("""{"bytesFreed":"lots"}""")]
    public void GcRunNumbers_WithoutAReadableResult_IsNull(string? json) => Assert.Null(GcRunNumbers.Parse(json));

    static HostStoreUsage Usage(string name, long? store, long? free, long? size) => new(Guid.NewGuid(), name, store, free, size);

    static readonly HostStoreUsage[] Fleet =
    [
        Usage("web-1", 10 * GiB, 5 * GiB, 100 * GiB),          // 5% free: low
        Usage("web-2", 2 * GiB, 50 * GiB, 100 * GiB),          // 50%
        Usage("db-1", 1 * GiB, 10 * GiB, 100 * GiB),           // exactly 10%: not under
        Usage("old-agent", null, 1 * GiB, null),               // no disk size: never counted as low
        Usage("build-1", 4 * GiB, 1 * GiB, 200 * GiB),         // 0.5%: the fullest
        Usage("odd", 3 * GiB, null, 50 * GiB),                 // no free figure
    ];

    [Fact]
    public void Totals_SumWhatEachHostReports_AndCountOnlyHostsKnownToBeUnder10PercentFree()
    {
        var t = FleetStoreSummary.Totals.Of(Fleet);
        Assert.Equal(20 * GiB, t.StoreBytes);
        Assert.Equal(5, t.StoreHosts);
        Assert.Equal(67 * GiB, t.FreeBytes);
        Assert.Equal(5, t.FreeHosts);
        Assert.Equal(["build-1", "web-1"], t.LowOnDisk.Select(h => h.Name));
    }

    static Task<IDocument> SummaryAsync(IReadOnlyList<HostStoreUsage> hosts, IReadOnlyList<GcRunView> runs) =>
        Html.RenderAsync<FleetStoreSummary>(new()
        {
            [nameof(FleetStoreSummary.Store)] = new FleetStoreSummary.Input(hosts, runs),
            [nameof(FleetStoreSummary.Now)] = Fakes.Now,
        });

    [Fact]
    public async Task FleetStoreSummary_ShowsTotals_AndLinksTheNearlyFullHosts()
    {
        var doc = await SummaryAsync(Fleet, []);

        Assert.Equal("20.0 GiB", doc.QuerySelector("[data-total=store]").Text());
        Assert.Equal("67.0 GiB", doc.QuerySelector("[data-total=free]").Text());
        var low = doc.QuerySelector("[data-total=low-disk]")!;
        Assert.Equal("2", low.Text());
        Assert.Contains("text-red", low.ClassList);
        var links = doc.QuerySelectorAll(".low-disk-hosts a");
        Assert.Equal(["build-1", "web-1"], links.Select(a => a.Text()));
        Assert.Equal($"/hosts/{Fleet[4].HostId}", links[0].GetAttribute("href"));
        Assert.Equal("No garbage collection has run yet.", doc.QuerySelector(".gc-runs-empty").Text());
    }

    [Fact]
    public async Task FleetStoreSummary_WithNoHosts_IsQuiet()
    {
        var doc = await SummaryAsync([], []);
        Assert.Equal("0 B", doc.QuerySelector("[data-total=store]").Text());
        var low = doc.QuerySelector("[data-total=low-disk]")!;
        Assert.Equal("0", low.Text());
        Assert.DoesNotContain("text-red", low.ClassList);
        Assert.Empty(doc.QuerySelectorAll(".low-disk-hosts a"));
    }

    [Fact]
    public async Task FleetStoreSummary_ListsTheLastTenRunsNewestFirst_WithHostFreedAndStatus()
    {
        var runs = Enumerable.Range(0, 12).Select(h => Run(h, (h + 1) * 100 * MiB, host: $"host-{h}")).ToList();
        var gone = new GcRunView(Guid.NewGuid(), Guid.NewGuid(), null, OperationStatus.Failed, T0.AddHours(20), null);
        runs.Insert(3, gone);

        var doc = await SummaryAsync([], runs);

        var rows = doc.QuerySelectorAll("tr[data-gc-run]");
        Assert.Equal(10, rows.Length);
        Assert.Equal(gone.Id.ToString(), rows[0].GetAttribute("data-gc-run"));
        Assert.Equal("deleted host", rows[0].QuerySelectorAll("td")[0].Text());
        Assert.Equal("—", rows[0].QuerySelector(".gc-freed").Text());
        Assert.Equal("failed", rows[0].QuerySelector("[data-status]")!.GetAttribute("data-status"));

        var newest = runs[^1];
        Assert.Equal(newest.Id.ToString(), rows[1].GetAttribute("data-gc-run"));
        var host = rows[1].QuerySelector("td a")!;
        Assert.Equal("host-11", host.Text());
        Assert.Equal($"/hosts/{newest.HostId}", host.GetAttribute("href"));
        Assert.Equal("1.2 GiB", rows[1].QuerySelector(".gc-freed").Text());
        Assert.Equal("succeeded", rows[1].QuerySelector("[data-status]")!.GetAttribute("data-status"));
        Assert.Equal(Format.Utc(newest.At), rows[1].QuerySelector("time")!.GetAttribute("title"));
        // The two oldest fell off the end.
        Assert.Equal(["host-11", "host-10", "host-9", "host-8", "host-7", "host-6", "host-5", "host-4", "host-3"],
            rows.Skip(1).Select(r => r.QuerySelector("td a").Text()));
    }

    /// <summary>The one filter the pages share reads JSON inside PostgreSQL: proved there, not on a fake.</summary>
    [Fact]
    public async Task FinishedGcRuns_LeaveOutDryRuns_SkippedRuns_UnfinishedRuns_AndOtherKinds()
    {
        await using var db = new NixFleetDb(new DbContextOptionsBuilder<NixFleetDb>().UseNpgsql(await TestPostgres.NewDatabaseAsync("gcruns")).Options);
        await db.Database.MigrateAsync();
        var host = Fakes.Host("alpha");
        host.LatestFacts = null;
        db.Hosts.Add(host);

        Operation Gc(string status, bool dryRun, string? result = null, int minutesAgo = 0, string kind = GcHandler.KindName) => new()
        {
            Kind = kind,
            HostId = host.Id,
            Status = status,
            RequestedBy = "ops@example.test",
            Parameters = JsonSerializer.Serialize(new { mode = "plain", dryRun }, JsonSerializerOptions.Web),
            Result = result,
            CreatedAt = Fakes.Now.AddMinutes(-minutesAgo),
            FinishedAt = OperationStatus.IsFinished(status) ? Fakes.Now.AddMinutes(1 - minutesAgo) : null,
        };
        var collected = Gc(OperationStatus.Succeeded, false, """{"mode":"plain","dryRun":false,"pathsDeleted":3,"bytesFreed":4096}""", minutesAgo: 30);
        var failed = Gc(OperationStatus.Failed, false, minutesAgo: 20);
        db.Operations.AddRange(
            collected, failed,
            Gc(OperationStatus.Succeeded, true, """{"dryRun":true,"wouldFree":4096}""", minutesAgo: 10),
            Gc(OperationStatus.Succeeded, false, """{"skipped":true,"skipReason":"enough free space"}""", minutesAgo: 5),
            Gc(OperationStatus.Running, false),
            Gc(OperationStatus.Succeeded, false, kind: "optimise", minutesAgo: 1));
        await db.SaveChangesAsync();

        var runs = await GcRunView.Finished(db.Operations.AsNoTracking())
            .OrderByDescending(o => o.CreatedAt)
            .Select(o => new GcRunView(o.Id, o.HostId, db.Hosts.Where(h => h.Id == o.HostId).Select(h => h.Name).FirstOrDefault(),
                o.Status, o.FinishedAt ?? o.CreatedAt, GcRunNumbers.Parse(o.Result)))
            .ToListAsync();

        Assert.Equal([failed.Id, collected.Id], runs.Select(r => r.Id));
        Assert.Equal(["alpha", "alpha"], runs.Select(r => r.HostName));
        Assert.Null(runs[0].Numbers);
        Assert.Equal(4096, runs[1].Numbers!.BytesFreed);
    }
}
