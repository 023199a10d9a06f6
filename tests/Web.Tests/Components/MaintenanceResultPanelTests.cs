using System.Text.Json;
using AngleSharp.Dom;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Maintenance;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Tests.Components;

/// <summary>
/// The operation page's figures for store maintenance, from results stored the way the job
/// stores them: the handlers' own records serialized with the web defaults.
/// </summary>
public sealed class MaintenanceResultPanelTests
{
    const long MiB = 1L << 20;
    const string System = "/nix/var/nix/profiles/system";
    const string Default = "/nix/var/nix/profiles/default";

    static string StorePath(int i, string name) => $"/nix/store/{i.ToString("D2")}{new string('a', 30)}-{name}";

    static Operation Op(string kind, string status, object? result, object? parameters = null)
    {
        var op = Fakes.Operation(status, kind, Guid.NewGuid());
        op.Result = result is null ? null : JsonSerializer.Serialize(result, result.GetType(), JsonSerializerOptions.Web);
        op.Parameters = parameters is null ? null : JsonSerializer.Serialize(parameters, parameters.GetType(), JsonSerializerOptions.Web);
        return op;
    }

    static Task<IDocument> PanelAsync(Operation op) =>
        Html.RenderAsync<MaintenanceResultPanel>(new() { [nameof(MaintenanceResultPanel.Operation)] = op });

    static IElement Figure(IDocument doc, string name) =>
        doc.QuerySelector($"[data-result={name}]") ?? throw new Xunit.Sdk.XunitException($"no [data-result={name}] in {doc.Body?.InnerHtml}");

    [Fact]
    public async Task Gc_DryRun_SaysWhatWouldGo_AndHowMuchItWouldFree()
    {
        var paths = Enumerable.Range(0, 25).Select(i => StorePath(i, $"dead-{i}")).ToList();
        var result = new GcHandler.Result(GcMode.KeepLast, DryRun: true, 0, 0, 0, null, null, WouldFree: 1049168, PathsWouldDelete: 25,
            [new GcHandler.DeletedGenerations(Default, [1, 2]), new GcHandler.DeletedGenerations(System, [4])], paths, PathsTotal: 25, 2.4, null);

        var doc = await PanelAsync(Op(GcHandler.KindName, OperationStatus.Succeeded, result));

        Assert.Equal("true", doc.QuerySelector(".maintenance-result")!.GetAttribute("data-dry-run"));
        Assert.Equal("1049168", Figure(doc, "would-free").GetAttribute("data-bytes"));
        Assert.Equal("1.0 MiB", Figure(doc, "would-free").Text());
        Assert.Contains("1,049,168 bytes", doc.QuerySelector(".maintenance-result").Text());
        Assert.Equal("25", Figure(doc, "paths-would-delete").Text());
        var generations = doc.QuerySelectorAll("[data-result=generations] li");
        Assert.Equal([Default, System], generations.Select(li => li.GetAttribute("data-profile")));
        Assert.Equal("1,2", generations[0].GetAttribute("data-generations"));
        Assert.EndsWith("generations 1 and 2", generations[0].Text());
        Assert.EndsWith("generation 4", generations[1].Text());
        // The first paths, and how many more.
        Assert.Equal(paths.Take(MaintenanceResultPanel.PathsShown), doc.QuerySelectorAll("[data-result=paths] li").Select(li => li.Text()));
        Assert.Contains("and 5 more", Figure(doc, "paths").Text());
        Assert.True(Figure(doc, "paths").HasAttribute("open"), "what a dry run would delete is shown unfolded");
        // Nothing was freed by a dry run, so no such figure.
        Assert.Null(doc.QuerySelector("[data-result=bytes-freed]"));
    }

    [Fact]
    public async Task Gc_Real_ShowsWhatNixFreed_Exactly_AndTheStoreBeforeAndAfter()
    {
        var freed = 1053696L;
        var before = 612_345_678L;
        var after = before - freed - 4096;
        var check = GcHandler.SizeCheck(freed, before, after);
        var result = new GcHandler.Result(GcMode.OlderThan, DryRun: false, PathsDeleted: 3, BytesFreed: freed, BytesFreedRounding: 5243,
            before, after, null, null, [new GcHandler.DeletedGenerations(Default, [1, 2, 3])],
            [StorePath(1, "garbage"), StorePath(2, "figlet-2.2.5"), StorePath(3, "user-environment")], 3, 12.4, check);

        var doc = await PanelAsync(Op(GcHandler.KindName, OperationStatus.Succeeded, result));

        var bytes = Figure(doc, "bytes-freed");
        Assert.Equal("1053696", bytes.GetAttribute("data-bytes"));
        Assert.Equal("1.0 MiB", bytes.Text());
        Assert.Contains("1,053,696 bytes, as Nix printed it (to within 5,243 bytes)", doc.QuerySelector(".maintenance-result").Text());
        Assert.Equal("3", Figure(doc, "paths-deleted").Text());
        var store = Figure(doc, "store-size");
        Assert.Equal(before.ToString(), store.GetAttribute("data-before"));
        Assert.Equal(after.ToString(), store.GetAttribute("data-after"));
        Assert.Equal("584.0 MiB → 583.0 MiB", store.Text());
        Assert.Equal($"Nix's figure against du: {check}.", Figure(doc, "size-check").Text());
        Assert.Contains("which agrees", check);
        Assert.Equal("12.4 s", Figure(doc, "duration").Text());
        Assert.Equal("1,2,3", doc.QuerySelector("[data-result=generations] li")!.GetAttribute("data-generations"));
        Assert.Equal("3", Figure(doc, "paths").GetAttribute("data-total"));
        Assert.False(Figure(doc, "paths").HasAttribute("open"));
        Assert.Null(doc.QuerySelector("[data-result=would-free]"));
    }

    [Fact]
    public async Task Gc_Skipped_GivesTheReason_AndNoFigures()
    {
        var result = new GcHandler.Result(GcMode.Plain, false, 0, 0, 0, null, null, null, null, [], [], 0, 0.3, null,
            Skipped: true, SkipReason: "/nix has 62.5% free, not below 10%: nothing to do");

        var doc = await PanelAsync(Op(GcHandler.KindName, OperationStatus.Succeeded, result));

        Assert.Equal("/nix has 62.5% free, not below 10%: nothing to do", Figure(doc, "skip-reason").Text());
        Assert.Null(doc.QuerySelector("[data-result=bytes-freed]"));
    }

    [Fact]
    public async Task Gc_Interrupted_ShowsOnlyWhatWasMeasured_NotZeroFreed()
    {
        // What the handler stores when the connection was lost mid-way: the checkpoint's figures.
        var result = new GcHandler.Result(GcMode.KeepLast, false, 0, 0, 0, StoreSizeBefore: 700 * MiB, StoreSizeAfter: null, null, null,
            [new GcHandler.DeletedGenerations(Default, [4, 5])], [], 0, 31.0, null);

        var doc = await PanelAsync(Op(GcHandler.KindName, OperationStatus.Failed, result));

        Assert.Equal("true", doc.QuerySelector(".maintenance-result")!.GetAttribute("data-partial"));
        Assert.Equal((700 * MiB).ToString(), Figure(doc, "store-before").GetAttribute("data-bytes"));
        Assert.Equal("700.0 MiB (734,003,200 bytes)", Figure(doc, "store-before").Text());
        Assert.StartsWith("not measured", Figure(doc, "store-after").Text());
        Assert.Contains("some or all may be gone", Figure(doc, "generations").Text());
        Assert.Null(doc.QuerySelector("[data-result=bytes-freed]"));
        Assert.Null(doc.QuerySelector("[data-result=paths-deleted]"));
    }

    [Fact]
    public async Task Optimise_ShowsBytesFreed_FilesLinked_AndTheStoreBeforeAndAfter()
    {
        var result = new OptimiseHandler.Result(BytesFreed: 3_250_585, FilesLinked: 412, StoreSizeBefore: 900 * MiB, StoreSizeAfter: 900 * MiB - 3_250_585, 65.2);

        var doc = await PanelAsync(Op(OptimiseHandler.KindName, OperationStatus.Succeeded, result));

        Assert.Equal("optimise", doc.QuerySelector(".maintenance-result")!.GetAttribute("data-kind"));
        Assert.Equal("3250585", Figure(doc, "bytes-freed").GetAttribute("data-bytes"));
        Assert.Equal("3.1 MiB", Figure(doc, "bytes-freed").Text());
        Assert.Equal("412", Figure(doc, "files-linked").Text());
        Assert.Equal("900.0 MiB → 896.9 MiB", Figure(doc, "store-size").Text());
        Assert.Equal("1 min 5 s", Figure(doc, "duration").Text());
    }

    [Fact]
    public async Task Verify_Damaged_ListsEachFinding_WhetherRepaired_AndTheRepairNote()
    {
        var modified = StorePath(1, "hello-2.12.1");
        var missing = StorePath(2, "cowsay-3.7.0");
        var note = "Nix could not repair 1 path(s). --repair rebuilds a path from its derivation or downloads it from a binary cache; neither worked for these.";
        var result = new VerifyHandler.Result(Healthy: false, CheckContents: true, Repair: true,
            [
                new VerifyHandler.PathFinding(modified, "modified", "sha256:1b8m9fmr4xrghd7gnbnlr5sn1bcwmnvbvmyyy5cy4k0k0g9ya2bd", "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", true),
                new VerifyHandler.PathFinding(missing, "missing", null, null, false),
            ],
            note, ["error: path '" + missing + "' is not valid"], 1, 8.0);

        var doc = await PanelAsync(Op(VerifyHandler.KindName, OperationStatus.Failed, result, new VerifyHandler.Parameters(true, true)));

        Assert.Equal("false", Figure(doc, "healthy").GetAttribute("data-healthy"));
        Assert.Equal("Not healthy", Figure(doc, "healthy").Text());
        var rows = doc.QuerySelectorAll(".verify-findings tbody tr");
        Assert.Equal([modified, missing], rows.Select(r => r.GetAttribute("data-path")));
        Assert.Equal(["modified", "missing"], rows.Select(r => r.GetAttribute("data-problem")));
        Assert.Equal(["true", "false"], rows.Select(r => r.GetAttribute("data-repaired")));
        Assert.Equal(
            [modified, "modified", "sha256:1b8m9fmr4xrghd7gnbnlr5sn1bcwmnvbvmyyy5cy4k0k0g9ya2bd", "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", "repaired"],
            rows[0].QuerySelectorAll("td").Select(td => td.Text()));
        Assert.Equal([missing, "missing", "—", "—", "not repaired"], rows[1].QuerySelectorAll("td").Select(td => td.Text()));
        Assert.Equal(note, Figure(doc, "repair-note").Text());
        Assert.Contains("is not valid", doc.QuerySelector(".verify-errors").Text());
    }

    [Fact]
    public async Task Verify_Healthy_SaysSo_WithNoTable()
    {
        var result = new VerifyHandler.Result(true, true, false, [], null, [], 0, 3.1);

        var doc = await PanelAsync(Op(VerifyHandler.KindName, OperationStatus.Succeeded, result));

        Assert.Equal("true", Figure(doc, "healthy").GetAttribute("data-healthy"));
        Assert.Contains("No problems found", doc.QuerySelector(".maintenance-result .card-title").Text());
        Assert.Null(doc.QuerySelector(".verify-findings"));
    }

    [Fact]
    public async Task GcBatch_ShowsTheBytesFreedOnAllHosts()
    {
        // As GcBatchHandler stores it: an anonymous object with the per-host rows.
        var hosts = new[]
        {
            new ChildOperations.HostResult(Guid.NewGuid(), "web-01", Guid.NewGuid(), GcHandler.KindName, OperationStatus.Succeeded, null),
            new ChildOperations.HostResult(Guid.NewGuid(), "web-02", null, GcHandler.KindName, "skipped", "host key is changed"),
        };
        var result = new { total = 2, succeeded = 1, failed = 1, bytesFreed = 5L * MiB + 17, hosts };

        var doc = await PanelAsync(Op(GcBatchHandler.KindName, OperationStatus.Failed, result));

        Assert.Equal((5L * MiB + 17).ToString(), Figure(doc, "bytes-freed").GetAttribute("data-bytes"));
        Assert.Equal("5.0 MiB", Figure(doc, "bytes-freed").Text());
        Assert.Equal("1 of 2", Figure(doc, "parts").Text());
    }

    public static TheoryData<string, string, string?> NotMaintenance() => new()
    {
        { "refresh", OperationStatus.Succeeded, """{"os":"NixOS"}""" },
        { "rollback", OperationStatus.Succeeded, """{"bytesFreed":5}""" },
        { GcHandler.KindName, OperationStatus.Running, null },
        { OptimiseHandler.KindName, OperationStatus.Failed, null },
        { VerifyHandler.KindName, OperationStatus.Queued, null },
        { GcHandler.KindName, OperationStatus.Succeeded, "not json" },
    };

    [Theory]
    [MemberData(nameof(NotMaintenance))]
    public async Task OtherKinds_AndOperationsWithoutAResult_RenderNothing(string kind, string status, string? result)
    {
        var op = Fakes.Operation(status, kind, Guid.NewGuid());
        op.Result = result;

        var doc = await PanelAsync(op);

        Assert.Equal("", doc.Body!.InnerHtml.Trim());
    }

    [Fact]
    public async Task OperationHeader_CarriesThePanel_SoTheFiguresComeWithTheLiveHeaderReload()
    {
        var result = new OptimiseHandler.Result(2048, 2, 10 * MiB, 10 * MiB - 2048, 1.0);
        var op = Op(OptimiseHandler.KindName, OperationStatus.Succeeded, result);

        var doc = await Html.RenderAsync<OperationHeader>(new()
        {
            [nameof(OperationHeader.Operation)] = op,
            [nameof(OperationHeader.HostName)] = "web-01",
            [nameof(OperationHeader.Now)] = Fakes.Now,
        });

        Assert.Equal("2048", doc.QuerySelector("#op-header [data-result=bytes-freed]")!.GetAttribute("data-bytes"));
        Assert.Contains("Optimise store", doc.QuerySelector(".page-title").Text());
    }
}
