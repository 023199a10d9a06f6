using System.Text.Json;
using AngleSharp.Dom;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Conversion;

namespace NixFleet.Web.Tests.Components;

/// <summary>
/// The conversion's plan, receipt and result as an admin reads them, from records built the way
/// the handler stores them (the planner's own steps, with the script's real commands).
/// </summary>
public sealed class ConversionComponentsTests
{
    const string ConversionId = "0123456789abcdef0123456789abcdef";
    static readonly ConversionOptions Options = new(BuildUsers: 4);
    static readonly Guid HostId = Guid.Parse("3f2504e0-4f89-11d3-9a0c-0305e82c3301");

    static readonly PreflightCheck[] GoodChecks =
    [
        new("root", PreflightCheck.Ok, "NixFleet is root on the host"),
        new("install", PreflightCheck.Ok, "single-user: the store belongs to alice (group alice, home /home/alice), mode 755"),
        new("processes", PreflightCheck.Ok, "no Nix process is running"),
        new("init", PreflightCheck.Warning, "no init system NixFleet knows (PID 1 is sh): nix-daemon runs as a supervised background process"),
    ];

    static ConversionPreflight Preflight(params PreflightCheck[] checks) => new(
        checks, "alice", "alice", "/home/alice", "none", "/nix/var/nix/profiles/default/bin/nix-daemon", "per-user",
        ["cowsay-3.03", "figlet-2.2.5", "hello-2.12.1"], ["profile-1-link", "profile-2-link", "profile-3-link"], ["nixpkgs"],
        ["/home/alice/.profile"], [], [], null);

    static ConvertHandler.PlanResult PlanOf(ConversionPreflight preflight)
    {
        var plan = ConversionPlanner.Plan(preflight, Options, ConversionId);
        return new ConvertHandler.PlanResult(new ConvertHandler.Plan(plan.Options, plan.Steps, plan.NoOp), preflight);
    }

    static Task<IDocument> PlanAsync(ConvertHandler.PlanResult result, bool confirmable = true) => Html.RenderAsync<ConversionPlanView>(new()
    {
        [nameof(ConversionPlanView.Result)] = result,
        [nameof(ConversionPlanView.Confirmable)] = confirmable,
        [nameof(ConversionPlanView.HostName)] = "web1",
    });

    static IElement? ConvertButton(IDocument doc) =>
        doc.QuerySelectorAll("button").FirstOrDefault(b => b.Text() == "Convert");

    /// <summary>A conversion whose daemon step failed and whose revert could not undo the store's ownership.</summary>
    static ConversionReceipt FailedReceipt()
    {
        var receipt = ConversionPlanner.NewReceipt(Preflight(GoodChecks), Options, ConversionId);
        var at = new DateTimeOffset(2026, 11, 22, 11, 0, 0, TimeSpan.Zero);
        ReceiptStep Step(string name, string status, string[] changes, string? error = null) =>
            new(name, status, at, at.AddSeconds(2), changes, error);
        return receipt with
        {
            Status = ConversionReceipt.RevertFailed,
            Steps =
            [
                Step(ConversionSteps.BuildUsers, ReceiptStep.Reverted, ["created group nixbld (GID 30000)", "reverted: deleted group nixbld"]),
                Step(ConversionSteps.NixConf, ReceiptStep.Reverted, ["set build-users-group = nixbld in /etc/nix/nix.conf (the rest of the file kept)"]),
                Step(ConversionSteps.StoreOwnership, ReceiptStep.RevertFailed, ["chown -R root:nixbld /nix"], "store-ownership: chown -R alice:alice /nix failed"),
                Step(ConversionSteps.UserProfile, ReceiptStep.Reverted, []),
                Step(ConversionSteps.Daemon, ReceiptStep.Failed, [], "nix-daemon does not answer on /nix/var/nix/daemon-socket/socket"),
                Step(ConversionSteps.LoginProfile, ReceiptStep.Pending, []),
                Step(ConversionSteps.Verify, ReceiptStep.Pending, []),
            ],
            Error = "step daemon failed: nix-daemon does not answer on /nix/var/nix/daemon-socket/socket",
            RevertErrors = ["store-ownership: chown -R alice:alice /nix failed"],
        };
    }

    static ConversionReceipt ConvertedReceipt()
    {
        var receipt = ConversionPlanner.NewReceipt(Preflight(GoodChecks), Options, ConversionId);
        var at = new DateTimeOffset(2026, 11, 22, 11, 0, 0, TimeSpan.Zero);
        return receipt with
        {
            Status = ConversionReceipt.Converted,
            Steps = receipt.Steps.Select(s => s with { Status = ReceiptStep.Done, StartedAt = at, FinishedAt = at.AddSeconds(1) }).ToList(),
            After = new ConversionAfter("nixbld1", "/nix/store/abc-nixfleet-convert-check", ["cowsay-3.03", "figlet-2.2.5", "hello-2.12.1"],
                ["profile-1-link", "profile-2-link", "profile-3-link"], ["root:nixbld 1775 /nix/store"]),
        };
    }

    static Operation Op(string kind, string status, object? parameters, object? result)
    {
        var op = Fakes.Operation(status, kind, HostId);
        op.Parameters = parameters is null ? null : JsonSerializer.Serialize(parameters, parameters.GetType(), JsonSerializerOptions.Web);
        op.Result = result is null ? null : JsonSerializer.Serialize(result, result.GetType(), JsonSerializerOptions.Web);
        return op;
    }

    [Fact]
    public async Task Plan_WhosePreflightFailed_NamesTheReason_AndHasNoConvertButton()
    {
        var busy = "Nix is running (wait for it to finish): 4242 alice nix-build nix-build -A hello";
        var preflight = Preflight([.. GoodChecks.Where(c => c.Name != "processes"), new PreflightCheck("processes", PreflightCheck.Failed, busy)]);

        var doc = await PlanAsync(PlanOf(preflight));

        Assert.Equal(busy, doc.QuerySelector("#convert-refused").Text());
        var row = doc.QuerySelector("#convert-checks tr[data-check=processes]")!;
        Assert.Equal("failed", row.GetAttribute("data-status"));
        Assert.Equal(busy, row.QuerySelector(".convert-check-detail").Text());
        Assert.Null(ConvertButton(doc));
        Assert.Null(doc.QuerySelector("#convert-confirm-name"));
    }

    [Fact]
    public async Task Plan_ThatCanConvert_ShowsEveryStepWithWhatItChangesItsUndoAndCommands_ThenTheTypedConfirmation()
    {
        var doc = await PlanAsync(PlanOf(Preflight(GoodChecks)));

        Assert.Null(doc.QuerySelector("#convert-refused"));
        Assert.Equal(["ok", "ok", "ok", "warning"], doc.QuerySelectorAll("#convert-checks tr").Select(r => r.GetAttribute("data-status")));
        var steps = doc.QuerySelectorAll("#convert-plan li");
        Assert.Equal(ConversionSteps.Order, steps.Select(s => s.GetAttribute("data-step")));
        Assert.All(steps, s =>
        {
            Assert.NotEmpty(s.QuerySelector(".convert-step-title").Text());
            Assert.NotEmpty(s.QuerySelector(".convert-step-changes").Text());
            Assert.NotEmpty(s.QuerySelector(".convert-step-undo").Text());
        });
        var buildUsers = steps[0];
        Assert.Contains("nixbld1..nixbld4", buildUsers.QuerySelector(".convert-step-changes").Text());
        // The exact script text, behind a fold.
        var commands = buildUsers.QuerySelector("details.convert-step-commands pre").Text();
        Assert.StartsWith("# apply build-users owner=alice users=4 gid=30000 uid=30001 init=none", commands);
        Assert.Contains("groupadd -r -K SYS_GID_MAX=\"$gid\" -g \"$gid\" nixbld", commands);
        Assert.Equal("hello-2.12.1", doc.QuerySelector("[data-found=packages]").Text().Split(", ")[2]);
        Assert.NotNull(doc.QuerySelector("input#convert-confirm-name[name='Form.ConfirmName']"));
        Assert.Equal("submit", ConvertButton(doc)?.GetAttribute("type"));
    }

    [Fact]
    public async Task Plan_OnTheOperationPage_IsNotConfirmable()
    {
        var doc = await PlanAsync(PlanOf(Preflight(GoodChecks)), confirmable: false);

        Assert.Equal(7, doc.QuerySelectorAll("#convert-plan li").Length);
        Assert.Null(ConvertButton(doc));
    }

    [Fact]
    public async Task Plan_OfAConvertedHost_SaysThereIsNothingToDo()
    {
        var preflight = Preflight(GoodChecks) with { Receipt = ConvertedReceipt() };

        var doc = await PlanAsync(PlanOf(preflight));

        Assert.Contains("already converted by NixFleet (" + ConversionId, doc.QuerySelector("#convert-noop").Text());
        Assert.Empty(doc.QuerySelectorAll("#convert-plan li"));
        Assert.Null(ConvertButton(doc));
    }

    [Fact]
    public async Task Receipt_ShowsEachStepsStatusAndChanges_TheFailedStepsError_AndEveryRevertError()
    {
        var doc = await Html.RenderAsync<ReceiptView>(new() { [nameof(ReceiptView.Receipt)] = FailedReceipt() });

        Assert.Equal("Revert failed", doc.QuerySelector("#receipt-status").Text());
        var rows = doc.QuerySelectorAll("#receipt-steps tbody tr");
        Assert.Equal(["reverted", "reverted", "revert-failed", "reverted", "failed", "pending", "pending"], rows.Select(r => r.GetAttribute("data-status")));
        Assert.Equal(["created group nixbld (GID 30000)", "reverted: deleted group nixbld"], rows[0].QuerySelectorAll(".receipt-changes li").Select(li => li.Text()));
        Assert.Equal("nix-daemon does not answer on /nix/var/nix/daemon-socket/socket",
            doc.QuerySelector("#receipt-steps tr[data-step=daemon] .receipt-step-error").Text());
        Assert.Equal("step daemon failed: nix-daemon does not answer on /nix/var/nix/daemon-socket/socket", doc.QuerySelector("#receipt-error").Text());
        Assert.Equal(["store-ownership: chown -R alice:alice /nix failed"], doc.QuerySelectorAll("#receipt-revert-errors li").Select(li => li.Text()));
        Assert.Null(doc.QuerySelector("#receipt-after"));
    }

    [Fact]
    public async Task Receipt_OfAConversion_ShowsTheStateAfter()
    {
        var doc = await Html.RenderAsync<ReceiptView>(new() { [nameof(ReceiptView.Receipt)] = ConvertedReceipt() });

        Assert.Equal("Converted: multi-user", doc.QuerySelector("#receipt-status").Text());
        Assert.All(doc.QuerySelectorAll("#receipt-steps tbody tr"), r => Assert.Equal("done", r.GetAttribute("data-status")));
        Assert.Equal("nixbld1", doc.QuerySelector("#receipt-after [data-after=build-user]").Text());
        Assert.Equal("cowsay-3.03, figlet-2.2.5, hello-2.12.1 → cowsay-3.03, figlet-2.2.5, hello-2.12.1", doc.QuerySelector("[data-after=packages]").Text());
        Assert.Equal("root:nixbld 1775 /nix/store", doc.QuerySelector("[data-after=modes]").Text());
        Assert.Null(doc.QuerySelector("#receipt-error"));
        Assert.Null(doc.QuerySelector("#receipt-revert-errors"));
    }

    [Fact]
    public async Task ResultPanel_OfAConversion_ShowsTheOutcomeTheFactsAndTheReceipt()
    {
        var result = new ConvertHandler.Result(ConversionResult.Converted, "converted: alice's single-user install is multi-user", ConvertedReceipt(), null, "multi-user");
        var op = Op(ConvertHandler.KindName, OperationStatus.Succeeded, new ConvertHandler.Parameters(false, Options), result);

        var doc = await Html.RenderAsync<ConversionResultPanel>(new() { [nameof(ConversionResultPanel.Operation)] = op });

        Assert.Equal("converted", doc.QuerySelector(".conversion-result")!.GetAttribute("data-outcome"));
        Assert.Equal("multi-user", doc.QuerySelector("#convert-install-type").Text());
        Assert.Equal(7, doc.QuerySelectorAll("#receipt-steps tbody tr").Length);
    }

    [Fact]
    public async Task ResultPanel_OfADryRun_ShowsThePlan_AndLinksToConvertingWithIt()
    {
        var op = Op(ConvertHandler.KindName, OperationStatus.Succeeded, new ConvertHandler.Parameters(true, Options), PlanOf(Preflight(GoodChecks)));

        var doc = await Html.RenderAsync<ConversionResultPanel>(new() { [nameof(ConversionResultPanel.Operation)] = op });

        Assert.Equal(ConversionUi.PlanUrl(HostId, op.Id), doc.QuerySelector("a.convert-from-plan")?.GetAttribute("href"));
        Assert.Equal(7, doc.QuerySelectorAll("#convert-plan li").Length);
        Assert.Null(ConvertButton(doc));
    }

    [Fact]
    public void RevertPlan_IsTheStepsThatRan_NewestFirst_WithTheirUndo_AndTheScriptsRevertCommands()
    {
        var receipt = FailedReceipt() with { Status = ConversionReceipt.Converting };

        var steps = ConversionPlanner.RevertPlan(receipt);

        Assert.Equal([ConversionSteps.Daemon, ConversionSteps.StoreOwnership], steps.Select(s => s.Name));
        Assert.Equal("chown -R alice:alice /nix, then the recorded exceptions and modes", steps[1].Undo);
        Assert.StartsWith("# revert store-ownership owner=alice", steps[1].Commands);
        Assert.Contains("chown -R \"$owner:$group\" /nix", steps[1].Commands);
    }

    [Fact]
    public async Task HostCard_OfASingleUserHost_OffersConversionToAnAdminOnly()
    {
        async Task<IDocument> Card(bool admin) => await Html.RenderAsync<HostConversionCard>(new()
        {
            [nameof(HostConversionCard.HostId)] = HostId,
            [nameof(HostConversionCard.InstallType)] = NixInstallType.SingleUser,
            [nameof(HostConversionCard.IsAdmin)] = admin,
        });

        Assert.Equal(ConversionUi.PageUrl(HostId), (await Card(admin: true)).QuerySelector("a.host-convert")?.GetAttribute("href"));
        var viewer = await Card(admin: false);
        Assert.NotNull(viewer.QuerySelector(".host-conversion"));
        Assert.Null(viewer.QuerySelector("a.host-convert"));
    }

    [Fact]
    public async Task HostCard_WithAReceipt_ShowsItsStatus_AndRevertToAnAdmin()
    {
        var row = new HostConversion { HostId = HostId, ConversionId = ConversionId, Status = ConversionReceipt.Converted, Receipt = "{}", UpdatedAt = Fakes.Now };

        var doc = await Html.RenderAsync<HostConversionCard>(new()
        {
            [nameof(HostConversionCard.HostId)] = HostId,
            [nameof(HostConversionCard.Conversion)] = row,
            [nameof(HostConversionCard.IsAdmin)] = true,
            [nameof(HostConversionCard.Now)] = Fakes.Now,
        });

        Assert.Equal("converted", doc.QuerySelector(".host-conversion")!.GetAttribute("data-receipt-status"));
        Assert.Contains("Converted: multi-user", doc.QuerySelector(".host-conversion").Text());
        Assert.Equal(ConversionUi.ReceiptUrl(HostId), doc.QuerySelector("a.host-conversion-receipt")?.GetAttribute("href"));
        Assert.Equal(ConversionUi.ReceiptUrl(HostId) + "#convert-revert", doc.QuerySelector("a.host-convert-revert")?.GetAttribute("href"));
        Assert.Null(doc.QuerySelector("a.host-convert"));
    }

    [Fact]
    public async Task HostCard_OfAMultiUserHostNeverConverted_IsNotShown()
    {
        var doc = await Html.RenderAsync<HostConversionCard>(new()
        {
            [nameof(HostConversionCard.HostId)] = HostId,
            [nameof(HostConversionCard.InstallType)] = NixInstallType.MultiUser,
            [nameof(HostConversionCard.IsAdmin)] = true,
        });

        Assert.Null(doc.QuerySelector(".host-conversion"));
    }
}
