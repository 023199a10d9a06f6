using System.Text.Json;
using AngleSharp.Dom;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Builders;

namespace NixFleet.Web.Tests.Components;

/// <summary>
/// What a builders-configure or builders-verify operation came to, on its operation page, from
/// records built the way the handler stores them (JsonSerializerOptions.Web).
/// </summary>
public sealed class BuildersComponentsTests
{
    static readonly Guid HostId = Guid.Parse("3f2504e0-4f89-11d3-9a0c-0305e82c3301");
    static readonly Guid GoodBuilder = Guid.Parse("6fa459ea-ee8a-3ca4-894e-db77e160355e");
    static readonly Guid DeadBuilder = Guid.Parse("0b0d5f7e-9a1c-4c2e-8f3b-5d6e7f8a9b0c");
    const string GoodUri = "ssh-ng://nixbuild@builder1.example.test";
    const string DeadUri = "ssh-ng://nixbuild@builder2.example.test";
    const string Unreachable = "unreachable: ssh: connect to host builder2.example.test port 22: No route to host";
    const string Hostile = "<script>x</script>";

    static readonly ConfigDiff MachinesDiff = new("client", "/etc/nix/machines",
        "--- /etc/nix/machines\n+++ /etc/nix/machines\n@@ -0,0 +1 @@\n+" + GoodUri + " x86_64-linux");
    static readonly ConfigDiff NixConfDiff = new("client", "/etc/nix/nix.conf",
        "--- /etc/nix/nix.conf\n+++ /etc/nix/nix.conf\n@@ -1 +1,2 @@\n build-users-group = nixbld\n+builders = @/etc/nix/machines");

    static BuilderVerification Good => new(GoodBuilder.ToString("N"), true, true, true, "builder1", 12.34, null, null, GoodUri, "/nix/store/abc-nixfleet-verify");
    static BuilderVerification Dead => new(DeadBuilder.ToString("N"), false, null, false, null, null, Unreachable, BuilderErrors.Unreachable, DeadUri, null);

    static BuildersResult Kept(IReadOnlyList<string>? changes = null, IReadOnlyList<ConfigDiff>? diffs = null, string? error = null) => new(
        BuildersResult.Kept, "verification failed, configuration kept as asked: builder " + DeadBuilder.ToString("N") + ": " + Unreachable,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPubKey root@web1",
        [new BuilderAuthorization(GoodBuilder.ToString("N"), true, true)],
        changes ?? ["client: wrote /etc/nix/machines (1 machine)", "client: set builders = @/etc/nix/machines in /etc/nix/nix.conf", "client: restarted nix-daemon"],
        diffs ?? [MachinesDiff, NixConfDiff],
        [Good, error is null ? Dead : Dead with { Error = error }],
        null);

    static Operation Op(string kind, string status, object? result)
    {
        var op = Fakes.Operation(status, kind, HostId);
        op.Result = result is null ? null : JsonSerializer.Serialize(result, result.GetType(), JsonSerializerOptions.Web);
        return op;
    }

    static Task<IDocument> PanelAsync(Operation op) =>
        Html.RenderAsync<BuildersResultPanel>(new() { [nameof(BuildersResultPanel.Operation)] = op });

    static IHtmlCollection<IElement> Rows(IDocument doc) => doc.QuerySelectorAll("#verify-results tbody tr");

    [Fact]
    public async Task ConfigureResult_ShowsEachVerification_TheChanges_AndEveryDiff()
    {
        var doc = await PanelAsync(Op(BuildersHandler.ConfigureKind, OperationStatus.Failed, Kept()));

        var panel = doc.QuerySelector(".builders-result")!;
        Assert.Equal(BuildersResult.Kept, panel.GetAttribute("data-outcome"));
        Assert.StartsWith("verification failed, configuration kept as asked", doc.QuerySelector("#builders-message").Text());
        Assert.Equal("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPubKey root@web1", doc.QuerySelector(".builders-public-key").Text());
        Assert.Null(doc.QuerySelector("#builders-nixos-snippet"));

        var rows = Rows(doc);
        Assert.Equal(2, rows.Length);
        Assert.Equal([GoodBuilder.ToString("N"), DeadBuilder.ToString("N")], rows.Select(r => r.GetAttribute("data-builder")));
        Assert.Equal(["true", "false"], rows.Select(r => r.GetAttribute("data-build-succeeded")));

        var good = rows[0];
        Assert.Equal("builder1", good.GetAttribute("data-ran-on"));
        var goodCells = good.QuerySelectorAll("td").Select(td => td.Text()).ToArray();
        Assert.Equal([GoodUri, "yes", "yes", "succeeded", "builder1", "12.3", ""], goodCells);
        Assert.Equal("badge bg-green-lt", good.QuerySelector(".badge")!.ClassName);

        var dead = rows[1];
        Assert.False(dead.HasAttribute("data-ran-on")); // null: Blazor leaves the attribute out
        var deadCells = dead.QuerySelectorAll("td").Select(td => td.Text()).ToArray();
        Assert.Equal([DeadUri, "no", "not known", "failed", "", "", Unreachable], deadCells);
        Assert.Equal("failed", dead.QuerySelector(".badge").Text());
        Assert.Contains("bg-red", dead.QuerySelector(".badge")!.ClassList);
        Assert.DoesNotContain("bg-green-lt", dead.QuerySelector(".badge")!.ClassList);

        Assert.Equal(
            ["client: wrote /etc/nix/machines (1 machine)", "client: set builders = @/etc/nix/machines in /etc/nix/nix.conf", "client: restarted nix-daemon"],
            doc.QuerySelectorAll(".builders-changes li").Select(li => li.Text()));

        var diffs = doc.QuerySelectorAll("details.builders-diff");
        Assert.Equal(["/etc/nix/machines", "/etc/nix/nix.conf"], diffs.Select(d => d.GetAttribute("data-path")));
        Assert.Equal("client: /etc/nix/nix.conf", diffs[1].QuerySelector("summary").Text());
        Assert.Equal(NixConfDiff.Diff, diffs[1].QuerySelector("pre")!.TextContent);
    }

    [Fact]
    public async Task NixOsResult_ShowsTheSnippet_AndNoVerification()
    {
        const string snippet = "nix.distributedBuilds = true;\nnix.buildMachines = [ { hostName = \"builder1.example.test\"; sshUser = \"nixbuild\"; system = \"x86_64-linux\"; maxJobs = 4; } ];";
        var result = new BuildersResult(BuildersResult.NixOS,
            "NixOS generates /etc/nix from configuration.nix: nothing was written on the host; add the snippet to configuration.nix and run nixos-rebuild switch, then verify",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPubKey root@nixos1", [], [], [], [], snippet);

        var doc = await PanelAsync(Op(BuildersHandler.ConfigureKind, OperationStatus.Succeeded, result));

        Assert.Equal(BuildersResult.NixOS, doc.QuerySelector(".builders-result")!.GetAttribute("data-outcome"));
        Assert.Equal(snippet, doc.QuerySelector("#builders-nixos-snippet")!.TextContent);
        Assert.Null(doc.QuerySelector("#verify-results"));
        Assert.Empty(Rows(doc));
        Assert.Empty(doc.QuerySelectorAll(".builders-changes li"));
        Assert.Empty(doc.QuerySelectorAll("details.builders-diff"));
    }

    [Fact]
    public async Task VerifyResult_ShowsARowPerBuilder_NamedByItsIdInNFormat()
    {
        var result = new BuildersHandler.VerifyResult(
        [
            new BuildersHandler.VerifiedBuilder(GoodBuilder, true, true, true, "builder1", 3.25, null, null, GoodUri),
            new BuildersHandler.VerifiedBuilder(DeadBuilder, false, null, false, null, null, Unreachable, BuilderErrors.Unreachable, DeadUri),
        ]);

        var doc = await PanelAsync(Op(BuildersHandler.VerifyKind, OperationStatus.Failed, result));

        var panel = doc.QuerySelector(".builders-result")!;
        Assert.Equal("verify", panel.GetAttribute("data-kind"));
        Assert.Null(panel.GetAttribute("data-outcome"));
        var rows = Rows(doc);
        Assert.Equal([GoodBuilder.ToString("N"), DeadBuilder.ToString("N")], rows.Select(r => r.GetAttribute("data-builder")));
        Assert.Equal(["true", "false"], rows.Select(r => r.GetAttribute("data-build-succeeded")));
        Assert.Equal(["builder1", null], rows.Select(r => r.GetAttribute("data-ran-on")));
        Assert.Equal(GoodUri, rows[0].QuerySelector("code").Text());
        Assert.Equal("3.3", rows[0].QuerySelectorAll("td")[5].Text());
        Assert.Equal(Unreachable, rows[1].QuerySelector("td.text-danger").Text());
        Assert.Null(doc.QuerySelector("#builders-message"));
    }

    [Theory]
    [InlineData("gc", true)]
    [InlineData("refresh", true)]
    [InlineData(BuildersHandler.ConfigureKind, false)]
    [InlineData(BuildersHandler.VerifyKind, false)]
    public async Task OtherKinds_OrNoResult_RenderNothing(string kind, bool withResult)
    {
        // Another kind's row may well hold a builders-shaped result: the kind decides.
        var doc = await PanelAsync(Op(kind, OperationStatus.Succeeded, withResult ? Kept() : null));

        Assert.Null(doc.QuerySelector(".builders-result"));
        Assert.Null(doc.QuerySelector("#verify-results"));
        Assert.Equal("", doc.Body!.InnerHtml.Trim());
    }

    [Fact]
    public async Task ResultThatIsNotJson_RendersNothing()
    {
        var op = Fakes.Operation(OperationStatus.Failed, BuildersHandler.ConfigureKind, HostId);
        op.Result = "not json {";

        var doc = await PanelAsync(op);

        Assert.Null(doc.QuerySelector(".builders-result"));
    }

    [Fact]
    public async Task HostileStrings_InErrorsChangesAndDiffs_AreText_NotMarkup()
    {
        var result = Kept(
            changes: ["client: wrote " + Hostile],
            diffs: [new ConfigDiff("client", "/etc/nix/\"><script>y</script>", "+" + Hostile)],
            error: "unreachable: " + Hostile);

        var doc = await PanelAsync(Op(BuildersHandler.ConfigureKind, OperationStatus.Failed, result));

        Assert.Empty(doc.QuerySelectorAll("script"));
        Assert.Equal("unreachable: " + Hostile, Rows(doc)[1].QuerySelector("td.text-danger").Text());
        Assert.Equal(["client: wrote " + Hostile], doc.QuerySelectorAll(".builders-changes li").Select(li => li.Text()));
        var diff = doc.QuerySelector("details.builders-diff")!;
        Assert.Equal("/etc/nix/\"><script>y</script>", diff.GetAttribute("data-path"));
        Assert.Equal("+" + Hostile, diff.QuerySelector("pre")!.TextContent);
        Assert.Contains("&lt;script&gt;x&lt;/script&gt;", doc.QuerySelector("#verify-results")!.InnerHtml);
    }
}
