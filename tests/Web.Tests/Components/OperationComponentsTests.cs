using NixFleet.Web.Data;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Tests.Components;

public sealed class OperationComponentsTests
{
    static OperationsApi.LineDto Line(int seq, string stream, string text) => new(seq, stream, text, Fakes.Now);

    [Fact]
    public async Task Output_RendersLinesInSeqOrder_WithStderrAndInfoMarked()
    {
        var lines = new[] { Line(3, "err", "error: boom"), Line(1, "info", "connecting"), Line(2, "out", "<b>not html</b>") };
        var doc = await Html.RenderAsync<OperationOutput>(new()
        {
            [nameof(OperationOutput.Lines)] = lines,
            [nameof(OperationOutput.StreamUrl)] = "/operations/x/stream?after=3",
        });

        var rendered = doc.QuerySelectorAll("#op-output .op-line");
        Assert.Equal(["1", "2", "3"], rendered.Select(l => l.GetAttribute("data-seq")));
        Assert.Equal(["1", "2", "3"], rendered.Select(l => l.QuerySelector(".op-seq").Text()));
        Assert.Contains("op-info", rendered[0].ClassList);
        Assert.Contains("op-out", rendered[1].ClassList);
        Assert.Contains("op-err", rendered[2].ClassList);
        Assert.Equal("error: boom", rendered[2].QuerySelector(".op-text").Text());
        // Output is text, never markup.
        Assert.Equal("<b>not html</b>", rendered[1].QuerySelector(".op-text").Text());
        Assert.Null(rendered[1].QuerySelector("b"));

        var box = doc.QuerySelector("#op-output")!;
        Assert.Equal("/operations/x/stream?after=3", box.GetAttribute("data-stream-url"));
        Assert.Equal("3", box.GetAttribute("data-last-seq"));
        Assert.NotNull(doc.QuerySelector("#op-live"));
    }

    [Fact]
    public async Task Output_OfAFinishedOperation_HasNoStream()
    {
        var doc = await Html.RenderAsync<OperationOutput>(new()
        {
            [nameof(OperationOutput.Lines)] = Array.Empty<OperationsApi.LineDto>(),
            [nameof(OperationOutput.StreamUrl)] = null,
        });
        Assert.False(doc.QuerySelector("#op-output")!.HasAttribute("data-stream-url"));
        Assert.Null(doc.QuerySelector("#op-live"));
        Assert.Equal("No output.", doc.QuerySelector("#op-empty .op-text").Text());
    }

    [Fact]
    public async Task Header_OfAFailedOperation_ShowsTheErrorInARedAlert_AndTheResultAsIndentedJson()
    {
        var hostId = Guid.NewGuid();
        var op = Fakes.Operation(OperationStatus.Failed, hostId: hostId);
        op.Error = "web-01: ssh: connect to host web-01 port 22: Connection refused";
        op.Result = """{"total":3,"failures":[{"name":"web-01"}]}""";
        var doc = await Html.RenderAsync<OperationHeader>(new()
        {
            [nameof(OperationHeader.Operation)] = op,
            [nameof(OperationHeader.HostName)] = "web-01",
            [nameof(OperationHeader.CanCancel)] = true,
            [nameof(OperationHeader.Now)] = Fakes.Now,
        });

        Assert.Contains("alert-danger", doc.QuerySelector(".alert:has(.op-error)")!.ClassList);
        Assert.Equal(op.Error, doc.QuerySelector(".op-error").Text());
        Assert.Equal($"/hosts/{hostId}", doc.QuerySelector("a.op-host")!.GetAttribute("href"));
        Assert.Equal("Failed", doc.QuerySelector("#op-status .status-badge").Text());
        var result = doc.QuerySelector("pre.op-result").Text();
        Assert.Contains("\n  \"total\": 3,", result);
        // Finished: nothing to cancel.
        Assert.Null(doc.QuerySelector(".cancel-operation"));
        Assert.Equal($"/operations/{op.Id}/header", doc.QuerySelector("#op-header")!.GetAttribute("data-refresh-url"));
    }

    [Fact]
    public async Task Header_OfARunningOperation_OffersCancel_OnlyToOperators()
    {
        var op = Fakes.Operation(OperationStatus.Running);
        var operatorView = await Html.RenderAsync<OperationHeader>(new() { [nameof(OperationHeader.Operation)] = op, [nameof(OperationHeader.CanCancel)] = true });
        var viewerView = await Html.RenderAsync<OperationHeader>(new() { [nameof(OperationHeader.Operation)] = op, [nameof(OperationHeader.CanCancel)] = false });

        var form = operatorView.QuerySelector("details.confirm form")!;
        Assert.Equal($"/operations/{op.Id}", form.GetAttribute("action"));
        Assert.NotNull(form.QuerySelector("input[name=__RequestVerificationToken]"));
        Assert.NotNull(form.QuerySelector("button.cancel-operation"));
        Assert.Null(viewerView.QuerySelector(".cancel-operation"));
    }

    [Fact]
    public async Task Results_PollEveryTwoSeconds_OnlyWhileSomethingRuns()
    {
        OperationsUi.ListPage Page(params Operation[] ops) => new(ops, new Dictionary<Guid, string>(), null, 1, ops.Length);

        var running = await Html.RenderAsync<OperationsResults>(new() { ["Page"] = Page(Fakes.Operation(OperationStatus.Running), Fakes.Operation(OperationStatus.Succeeded)) });
        var box = running.QuerySelector("#ops-results")!;
        Assert.Equal("every 2s", box.GetAttribute("hx-trigger"));
        Assert.Equal("/operations/table", box.GetAttribute("hx-get"));
        Assert.Equal("outerHTML", box.GetAttribute("hx-swap"));

        var finished = await Html.RenderAsync<OperationsResults>(new() { ["Page"] = Page(Fakes.Operation(OperationStatus.Failed)) });
        Assert.False(finished.QuerySelector("#ops-results")!.HasAttribute("hx-trigger"));
    }

    [Fact]
    public async Task Table_NamesTheHost_OrSaysItWasDeleted()
    {
        var known = Guid.NewGuid();
        var ops = new[]
        {
            Fakes.Operation(OperationStatus.Succeeded, hostId: known),
            Fakes.Operation(OperationStatus.Queued, hostId: Guid.NewGuid()),
            Fakes.Operation(OperationStatus.Running, kind: "fleet-refresh"),
        };
        var doc = await Html.RenderAsync<OperationsTable>(new()
        {
            [nameof(OperationsTable.Operations)] = ops,
            [nameof(OperationsTable.HostNames)] = new Dictionary<Guid, string> { [known] = "web-01" },
            [nameof(OperationsTable.Now)] = Fakes.Now,
        });

        var rows = doc.QuerySelectorAll("tbody tr");
        Assert.Equal("web-01", rows[0].QuerySelectorAll("td")[1].Text());
        Assert.Equal("(deleted host)", rows[1].QuerySelectorAll("td")[1].Text());
        Assert.Equal("fleet", rows[2].QuerySelectorAll("td")[1].Text());
        Assert.Equal("Refresh fleet", rows[2].QuerySelector("td a").Text());
        Assert.Equal("1 min 0 s", rows[0].QuerySelectorAll("td")[5].Text());
    }
}
