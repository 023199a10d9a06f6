using AngleSharp.Dom;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Upgrades;
using static NixFleet.Web.Features.Upgrades.UpgradesApi;

namespace NixFleet.Web.Tests.Components;

public sealed class UpgradesComponentsTests
{
    static readonly Guid UpgradeId = Guid.Parse("3f2504e0-4f89-11d3-9a0c-0305e82c3401");
    const string Hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const string Requester = "ops@example.test";
    const string Approver = "approver@example.test";

    static Guid Id(int n) => Guid.Parse($"3f2504e0-4f89-11d3-9a0c-0305e82c{n:D4}");

    static string StorePath(char c, string name) => $"/nix/store/{new string(c, 32)}-{name}";

    static UpgradeHostDto HostRow(string name, int wave, string status = UpgradeHostStatus.Pending, int n = 0, int? from = null, int? to = null,
        string? error = null, Guid? operation = null, Guid? rollback = null) =>
        new(Id(n), name, wave, status, from is null ? null : "/nix/var/nix/profiles/system", from, to,
            from is null ? null : StorePath('a', $"nixos-system-{name}-24.05"), to is null ? null : StorePath('b', $"nixos-system-{name}-24.11"),
            error, operation, rollback);

    static ApprovalDto Approval(string who, int minutesAgo, int expiresInMinutes, bool counts) =>
        new(who, Fakes.Now.AddMinutes(-minutesAgo), Fakes.Now.AddMinutes(expiresInMinutes), counts);

    static UpgradeDto Upgrade(string status, IReadOnlyList<ApprovalDto>? approvals = null, IReadOnlyList<UpgradeHostDto>? hosts = null, int required = 1) =>
        new(UpgradeId, status, "monthly upgrade", Requester, [.. (hosts ?? []).Select(h => h.HostId)], null, new("nixos", "https://example.test/nixos-24.11"),
            ActivationMode.Switch, [], 5, 2, 0, null, true, Hash, 1, required, approvals ?? [], hosts ?? [],
            status == UpgradeStatus.Pending ? null : Guid.Parse("3f2504e0-4f89-11d3-9a0c-0305e82c3499"), null, null,
            Fakes.Now.AddHours(-1), null, null);

    // --- Approvals ---

    [Fact]
    public async Task Approvals_CountOnlyValidDistinctApprovers_AndSayWhyTheOthersDoNot()
    {
        var doc = await Html.RenderAsync<UpgradeApprovals>(new()
        {
            [nameof(UpgradeApprovals.Approvals)] = new[]
            {
                Approval("alice@example.test", 30, 60, counts: true),
                // Given before the request was changed: the service says it does not count, and it has not expired.
                Approval("bob@example.test", 20, 120, counts: false),
                // Counted when given, but its time is up now.
                Approval("carol@example.test", 600, -10, counts: true),
            },
            [nameof(UpgradeApprovals.Required)] = 2,
            [nameof(UpgradeApprovals.Now)] = Fakes.Now,
        });

        var count = doc.QuerySelector(".approvals-count")!;
        Assert.Equal("1 of 2", count.Text());
        Assert.Equal("1", count.GetAttribute("data-approvals-valid"));
        Assert.Equal("2", count.GetAttribute("data-approvals-required"));
        Assert.Contains("1 more needed", doc.QuerySelector(".approvals-missing").Text());
        Assert.Equal(new[] { "alice@example.test", "bob@example.test", "carol@example.test" },
            doc.QuerySelectorAll("tr[data-approver]").Select(r => r.GetAttribute("data-approver")!).Order());
        Assert.Equal("counts", doc.QuerySelector("tr[data-approver='alice@example.test']")!.GetAttribute("data-approval-state"));
        Assert.Equal("in 1 h", doc.QuerySelector("tr[data-approver='alice@example.test'] td:nth-child(3)").Text());

        var bob = doc.QuerySelector("tr[data-approver='bob@example.test']")!;
        Assert.Equal("void", bob.GetAttribute("data-approval-state"));
        Assert.Contains("changed after this approval", bob.Text());

        var carol = doc.QuerySelector("tr[data-approver='carol@example.test']")!;
        Assert.Equal("expired", carol.GetAttribute("data-approval-state"));
        Assert.NotNull(carol.QuerySelector(".approval-expired"));
    }

    [Fact]
    public async Task Approvals_OneApproverTwice_CountsOnce()
    {
        var doc = await Html.RenderAsync<UpgradeApprovals>(new()
        {
            [nameof(UpgradeApprovals.Approvals)] = new[] { Approval("alice@example.test", 30, 60, true), Approval("alice@example.test", 5, 60, true) },
            [nameof(UpgradeApprovals.Required)] = 2,
            [nameof(UpgradeApprovals.Now)] = Fakes.Now,
        });

        Assert.Equal("1 of 2", doc.QuerySelector(".approvals-count").Text());
    }

    [Fact]
    public async Task Approvals_None_SaysSo()
    {
        var doc = await Html.RenderAsync<UpgradeApprovals>(new()
        {
            [nameof(UpgradeApprovals.Approvals)] = Array.Empty<ApprovalDto>(),
            [nameof(UpgradeApprovals.Required)] = 1,
            [nameof(UpgradeApprovals.Now)] = Fakes.Now,
        });

        Assert.Equal("0 of 1", doc.QuerySelector(".approvals-count").Text());
        Assert.NotNull(doc.QuerySelector(".approvals-none"));
        Assert.Null(doc.QuerySelector(".approvals-table"));
    }

    // --- Hosts by wave ---

    [Fact]
    public async Task HostsTable_ListsCanariesFirst_ThenEachBatchInOrder_HostsByName()
    {
        var doc = await Html.RenderAsync<UpgradeHostsTable>(new()
        {
            [nameof(UpgradeHostsTable.Hosts)] = new[]
            {
                HostRow("web-04", 2, n: 4), HostRow("web-02", 1, n: 2), HostRow("web-03", 1, n: 3), HostRow("web-01", 0, UpgradeHostStatus.Succeeded, n: 1),
            },
        });

        Assert.Equal(["0", "1", "2"], doc.QuerySelectorAll("tbody[data-wave]").Select(t => t.GetAttribute("data-wave")));
        Assert.Equal(["web-01", "web-02", "web-03", "web-04"], doc.QuerySelectorAll("tr[data-host-name]").Select(r => r.GetAttribute("data-host-name")));
        var titles = doc.QuerySelectorAll(".upgrade-wave-title").Select(t => t.Text()).ToList();
        Assert.StartsWith("Canary", titles[0]);
        Assert.StartsWith("Batch 1", titles[1]);
        Assert.StartsWith("Batch 2", titles[2]);
        Assert.Contains("1 succeeded", titles[0]);
        Assert.Equal("1", doc.QuerySelector("tr[data-host-name='web-02']")!.GetAttribute("data-wave"));
    }

    [Fact]
    public async Task HostsTable_ShowsEachHostsStatus_Generations_StorePaths_Error_AndOperations()
    {
        var operation = Guid.Parse("3f2504e0-4f89-11d3-9a0c-0305e82c3501");
        var rollback = Guid.Parse("3f2504e0-4f89-11d3-9a0c-0305e82c3502");
        var doc = await Html.RenderAsync<UpgradeHostsTable>(new()
        {
            [nameof(UpgradeHostsTable.Hosts)] = new[]
            {
                HostRow("web-01", 0, UpgradeHostStatus.Succeeded, 1, from: 41, to: 42, operation: operation),
                HostRow("web-02", 1, UpgradeHostStatus.RolledBack, 2, from: 7, to: 8, error: "health check exited 1", operation: operation, rollback: rollback),
                HostRow("web-03", 1, UpgradeHostStatus.NotStarted, 3),
            },
        });

        var ok = doc.QuerySelector("tr[data-host-name='web-01']")!;
        Assert.Equal("succeeded", ok.GetAttribute("data-host-status"));
        Assert.Equal("Succeeded", ok.QuerySelector(".upgrade-status-badge").Text());
        Assert.Equal("41", ok.QuerySelector(".upgrade-from").Text());
        Assert.Equal("42", ok.QuerySelector(".upgrade-to").Text());
        // Short store paths below, the whole ones on hover.
        Assert.Contains(StorePath('b', "nixos-system-web-01-24.11"), ok.QuerySelector(".upgrade-generations span[title]")!.GetAttribute("title"));
        Assert.Equal("aaaaaaaa…-nixos-system-web-01-24.05 → bbbbbbbb…-nixos-system-web-01-24.11", ok.QuerySelector(".upgrade-store-paths").Text());
        Assert.Equal($"/operations/{operation}", ok.QuerySelector("a.upgrade-host-operation")!.GetAttribute("href"));
        Assert.Null(ok.QuerySelector("a.upgrade-host-rollback"));

        var back = doc.QuerySelector("tr[data-host-name='web-02']")!;
        Assert.Equal("Rolled back", back.QuerySelector(".upgrade-status-badge").Text());
        Assert.Equal("health check exited 1", back.QuerySelector(".upgrade-host-error").Text());
        Assert.Equal($"/operations/{rollback}", back.QuerySelector("a.upgrade-host-rollback")!.GetAttribute("href"));

        var waiting = doc.QuerySelector("tr[data-host-name='web-03']")!;
        Assert.Equal("Not started", waiting.QuerySelector(".upgrade-status-badge").Text());
        Assert.Null(waiting.QuerySelector(".upgrade-from"));
    }

    [Fact]
    public async Task HostsTable_Preview_ShowsOnlyTheWavesAndNames()
    {
        var doc = await Html.RenderAsync<UpgradeHostsTable>(new()
        {
            [nameof(UpgradeHostsTable.Hosts)] = new[] { HostRow("b", 1, n: 2), HostRow("a", 0, n: 1) },
            [nameof(UpgradeHostsTable.Preview)] = true,
        });

        Assert.Equal(["a", "b"], doc.QuerySelectorAll("tr[data-host-name]").Select(r => r.GetAttribute("data-host-name")));
        Assert.Null(doc.QuerySelector(".upgrade-status-badge"));
        Assert.Single(doc.QuerySelectorAll("thead th"));
    }

    [Fact]
    public async Task Progress_PollsEveryTwoSecondsWhileRunning_WithTheStatusItShows()
    {
        var running = await Html.RenderAsync<UpgradeProgress>(new() { [nameof(UpgradeProgress.Upgrade)] = Upgrade(UpgradeStatus.Running, hosts: [HostRow("a", 0, UpgradeHostStatus.Running, 1)]) });
        var box = running.QuerySelector("#upgrade-progress")!;
        Assert.Equal("running", box.GetAttribute("data-upgrade-status"));
        Assert.Equal($"/upgrades/{UpgradeId}/progress?shown=running", box.GetAttribute("hx-get"));
        Assert.Equal("every 2s", box.GetAttribute("hx-trigger"));
        Assert.Equal("/operations/3f2504e0-4f89-11d3-9a0c-0305e82c3499", running.QuerySelector("a.upgrade-rollout-operation")!.GetAttribute("href"));

        var pending = await Html.RenderAsync<UpgradeProgress>(new() { [nameof(UpgradeProgress.Upgrade)] = Upgrade(UpgradeStatus.Pending, hosts: [HostRow("a", 0, UpgradeHostStatus.Pending, 1)]) });
        Assert.Equal("every 5s", pending.QuerySelector("#upgrade-progress")!.GetAttribute("hx-trigger"));

        var done = await Html.RenderAsync<UpgradeProgress>(new() { [nameof(UpgradeProgress.Upgrade)] = Upgrade(UpgradeStatus.Succeeded, hosts: [HostRow("a", 0, UpgradeHostStatus.Succeeded, 1)]) });
        Assert.Equal("succeeded", done.QuerySelector("#upgrade-progress")!.GetAttribute("data-upgrade-status"));
        Assert.Null(done.QuerySelector("[hx-get]"));
    }

    // --- Buttons by role, requester and status ---

    static Task<IDocument> ActionsAsync(UpgradeDto upgrade, string actor, bool canApprove, bool canOperate) => Html.RenderAsync<UpgradeActions>(new()
    {
        [nameof(UpgradeActions.Upgrade)] = upgrade,
        [nameof(UpgradeActions.Actor)] = actor,
        [nameof(UpgradeActions.CanApprove)] = canApprove,
        [nameof(UpgradeActions.CanOperate)] = canOperate,
        [nameof(UpgradeActions.Now)] = Fakes.Now,
    });

    static string[] Actions(IDocument doc) => [.. doc.QuerySelectorAll("[data-action]").Select(b => b.GetAttribute("data-action")!)];

    [Fact]
    public async Task Actions_Pending_ApproverWhoDidNotRequest_MayApproveOrReject()
    {
        var doc = await ActionsAsync(Upgrade(UpgradeStatus.Pending), Approver, canApprove: true, canOperate: false);

        Assert.Equal(["approve", "reject"], Actions(doc));
        Assert.Null(doc.QuerySelector(".approve-not-offered"));
        // Rejecting asks why.
        Assert.NotNull(doc.QuerySelector("form.reject-form details.confirm input[name='RejectReason']"));
    }

    [Fact]
    public async Task Actions_Pending_TheRequester_IsNotOfferedApproval_AndIsToldWhy()
    {
        // An admin (approver and operator) who made the request: abort yes, approve no.
        var doc = await ActionsAsync(Upgrade(UpgradeStatus.Pending), Requester, canApprove: true, canOperate: true);

        Assert.Equal(["abort"], Actions(doc));
        var why = doc.QuerySelector(".approve-not-offered")!;
        Assert.Equal("requester", why.GetAttribute("data-why"));
        Assert.Contains("someone else must approve it", why.Text());
    }

    [Fact]
    public async Task Actions_Pending_WithoutTheApproverRole_IsToldWhy()
    {
        var doc = await ActionsAsync(Upgrade(UpgradeStatus.Pending), "viewer@example.test", canApprove: false, canOperate: false);

        Assert.Empty(Actions(doc));
        Assert.Equal("role", doc.QuerySelector(".approve-not-offered")!.GetAttribute("data-why"));
    }

    [Fact]
    public async Task Actions_Pending_AlreadyApprovedThisVersion_ShowsThat_NotTheButton()
    {
        var doc = await ActionsAsync(Upgrade(UpgradeStatus.Pending, [Approval(Approver, 5, 60, true)], required: 2), Approver, canApprove: true, canOperate: false);

        Assert.Equal(["reject"], Actions(doc));
        Assert.NotNull(doc.QuerySelector(".approved-by-you"));
    }

    [Fact]
    public async Task Actions_Pending_ApprovalVoidedByAChange_OffersApprovalAgain()
    {
        var doc = await ActionsAsync(Upgrade(UpgradeStatus.Pending, [Approval(Approver, 5, 60, false)]), Approver, canApprove: true, canOperate: false);

        Assert.Equal(["approve", "reject"], Actions(doc));
    }

    [Theory]
    [InlineData(UpgradeStatus.Running, new[] { "pause", "abort" })]
    [InlineData(UpgradeStatus.Paused, new[] { "resume", "abort" })]
    [InlineData(UpgradeStatus.Rejected, new string[0])]
    public async Task Actions_Operator_PauseResumeAbort_FollowTheStatus(string status, string[] expected)
    {
        var doc = await ActionsAsync(Upgrade(status), "operator@example.test", canApprove: false, canOperate: true);

        Assert.Equal(expected, Actions(doc));
    }

    [Fact]
    public async Task Actions_Finished_OffersRollingBackEveryHostThatTookIt_AfterAConfirmation()
    {
        var hosts = new[]
        {
            HostRow("web-01", 0, UpgradeHostStatus.Succeeded, 1, from: 41, to: 42),
            HostRow("web-02", 1, UpgradeHostStatus.Failed, 2, from: 7, error: "build failed"),
            HostRow("web-03", 1, UpgradeHostStatus.NotStarted, 3),
        };
        var doc = await ActionsAsync(Upgrade(UpgradeStatus.Failed, hosts: hosts), "operator@example.test", canApprove: false, canOperate: true);

        Assert.Equal(["rollback-all"], Actions(doc));
        var confirm = doc.QuerySelector("details.rollback-all")!;
        Assert.Contains("(1)", confirm.QuerySelector("summary").Text());
        Assert.Equal(["web-01"], confirm.QuerySelectorAll(".rollback-all-hosts li").Select(l => l.GetAttribute("data-host-name")));
        Assert.Contains("42 → 41", confirm.QuerySelector(".rollback-all-hosts li").Text());

        // Only operators; and nothing to roll back when no host took it.
        Assert.Empty(Actions(await ActionsAsync(Upgrade(UpgradeStatus.Failed, hosts: hosts), Approver, canApprove: true, canOperate: false)));
        Assert.Empty(Actions(await ActionsAsync(Upgrade(UpgradeStatus.Aborted, hosts: [hosts[2]]), "operator@example.test", canApprove: false, canOperate: true)));
    }

    [Fact]
    public void List_PendingFirst_ThenRunning_ThenTheRest_NewestFirstWithin()
    {
        static UpgradesUi.ListItem Item(string status, int hoursAgo) =>
            new(Guid.NewGuid(), status, "nixos", "https://example.test", null, 1, Requester, "r", 0, 1, Fakes.Now.AddHours(-hoursAgo));

        var ordered = UpgradesUi.Ordered(
        [
            Item(UpgradeStatus.Succeeded, 1), Item(UpgradeStatus.Running, 5), Item(UpgradeStatus.Pending, 10), Item(UpgradeStatus.Paused, 2),
            Item(UpgradeStatus.Pending, 3), Item(UpgradeStatus.Rejected, 0),
        ]);

        Assert.Equal(
            [(UpgradeStatus.Pending, 3), (UpgradeStatus.Pending, 10), (UpgradeStatus.Paused, 2), (UpgradeStatus.Running, 5), (UpgradeStatus.Rejected, 0), (UpgradeStatus.Succeeded, 1)],
            ordered.Select(i => (i.Status, (int)(Fakes.Now - i.CreatedAt).TotalHours)));
    }

    // --- A host's channels, read live ---

    static ChannelsReport Report(int? generation, params int[] generations) => new("root",
    [
        new ChannelState("nixos", "https://example.test/nixos-24.11", "24.11.710315.b681065d0919", "b681065d0919c0ffee0000000000000000000000"),
        new ChannelState("unstable", "https://example.test/nixos-unstable", null, null),
    ], generation, Fakes.Now.AddDays(-2), generations);

    [Fact]
    public async Task ChannelsCard_ShowsVersionRevisionAndProfileGeneration_AndOffersOperatorsEachChange()
    {
        var doc = await Html.RenderAsync<ChannelsReportCard>(new()
        {
            [nameof(ChannelsReportCard.Report)] = Report(3, 1, 2, 3),
            [nameof(ChannelsReportCard.CanOperate)] = true,
            [nameof(ChannelsReportCard.Now)] = Fakes.Now,
        });

        Assert.Equal("root's channels", doc.QuerySelector("h3").Text());
        Assert.Equal("3", doc.QuerySelector("[data-profile-generation]")!.GetAttribute("data-profile-generation"));
        Assert.Contains("2 days ago", doc.QuerySelector(".channels-profile").Text());
        var nixos = doc.QuerySelector("tr[data-channel='nixos']")!;
        Assert.Equal("24.11.710315.b681065d0919", nixos.QuerySelector(".channel-version").Text());
        Assert.Equal("b681065d0919", nixos.QuerySelector(".channel-revision").Text());
        Assert.Equal("not downloaded", doc.QuerySelector("tr[data-channel='unstable'] .channel-version").Text());
        Assert.Equal("nixos", nixos.QuerySelector("button[data-action='update-channel']")!.GetAttribute("value"));
        // Removing asks first.
        Assert.Equal("nixos", nixos.QuerySelector("details.remove-channel button[data-action='remove-channel']")!.GetAttribute("value"));
        Assert.NotNull(doc.QuerySelector("button[data-action='update-all-channels']"));
        Assert.Contains("Roll back to generation 2", doc.QuerySelector("details.rollback-channels button[data-action='rollback-channels']").Text());
    }

    [Fact]
    public async Task ChannelsCard_ReadOnlyForViewers_AndNoRollbackWithoutAnEarlierGeneration()
    {
        var viewer = await Html.RenderAsync<ChannelsReportCard>(new()
        {
            [nameof(ChannelsReportCard.Report)] = Report(3, 1, 2, 3),
            [nameof(ChannelsReportCard.CanOperate)] = false,
        });
        Assert.Empty(viewer.QuerySelectorAll("[data-action]"));

        var first = await Html.RenderAsync<ChannelsReportCard>(new()
        {
            [nameof(ChannelsReportCard.Report)] = Report(1, 1),
            [nameof(ChannelsReportCard.CanOperate)] = true,
        });
        Assert.Null(first.QuerySelector(".rollback-channels"));
    }

    // --- Channel drift ---

    static ChannelsUi.HostChannel Channel(string host, string? version, string url = "https://example.test/nixos-24.11", string name = "nixos", string user = "root") =>
        new(Guid.NewGuid(), host, new ChannelRecord(user, name, url, version, Fakes.Now.AddDays(-1)));

    [Fact]
    public async Task Drift_MarksHostsBehindTheNewestVersionSeenForTheUrl_ComparingNumbersAsNumbers()
    {
        var doc = await Html.RenderAsync<ChannelDriftTable>(new()
        {
            [nameof(ChannelDriftTable.Channels)] = new[]
            {
                Channel("web-01", "24.11.100000.b681065d0919"),
                // Text order would call this one newer: 99999 > 100000 as text.
                Channel("web-02", "24.11.99999.aaaaaaaaaaaa"),
                Channel("web-03", null),
                // Same URL under another name still says what is newest from it.
                Channel("db-01", "24.11.100001.cccccccccccc", name: "nixpkgs"),
            },
            [nameof(ChannelDriftTable.Now)] = Fakes.Now,
        });

        var nixos = doc.QuerySelector(".channel-group[data-channel-name='nixos']")!;
        Assert.Equal("24.11.100001.cccccccccccc", nixos.QuerySelector(".channel-newest").Text());
        Assert.Equal("true", nixos.QuerySelector("tr[data-host-name='web-01']")!.GetAttribute("data-behind"));
        Assert.Equal("true", nixos.QuerySelector("tr[data-host-name='web-02']")!.GetAttribute("data-behind"));
        // No version: nothing says it is behind.
        Assert.Equal("false", nixos.QuerySelector("tr[data-host-name='web-03']")!.GetAttribute("data-behind"));
        Assert.Contains("2 behind", nixos.QuerySelector(".card-actions").Text());
        Assert.Equal("false", doc.QuerySelector(".channel-group[data-channel-name='nixpkgs'] tr[data-host-name='db-01']")!.GetAttribute("data-behind"));
        Assert.Equal("false", nixos.GetAttribute("data-url-conflict"));
    }

    [Fact]
    public async Task Drift_CallsOutTheSameChannelNamePointingAtDifferentUrls()
    {
        var doc = await Html.RenderAsync<ChannelDriftTable>(new()
        {
            [nameof(ChannelDriftTable.Channels)] = new[]
            {
                Channel("web-01", "24.11.1.a"), Channel("web-02", "24.11.1.a"),
                Channel("web-03", "24.05.9.b", url: "https://example.test/nixos-24.05"),
            },
            [nameof(ChannelDriftTable.Now)] = Fakes.Now,
        });

        var groups = doc.QuerySelectorAll(".channel-group").ToList();
        // The most followed URL first.
        Assert.Equal(["https://example.test/nixos-24.11", "https://example.test/nixos-24.05"], groups.Select(g => g.GetAttribute("data-channel-url")));
        Assert.All(groups, g => Assert.Equal("true", g.GetAttribute("data-url-conflict")));
        Assert.Contains("https://example.test/nixos-24.11", groups[1].QuerySelector(".channel-other-urls").Text());
        // Different URLs are different channels: 24.05 is not "behind" 24.11.
        Assert.Equal("false", groups[1].QuerySelector("tr[data-host-name='web-03']")!.GetAttribute("data-behind"));
        Assert.Contains("web-03", doc.QuerySelector(".channel-conflicts li[data-channel-name='nixos']").Text());
    }

    [Theory]
    [InlineData("24.11.710315.b681065d0919", "24.11.710315.b681065d0919", 0)]
    [InlineData("24.11.100000.a", "24.11.99999.a", 1)]
    [InlineData("24.05.1.a", "24.11.0.a", -1)]
    [InlineData("24.05", "24.05pre123.abc", 1)]
    [InlineData("24.11.1", "24.11.1.abc", -1)]
    [InlineData("r1234", "r1235", -1)]
    public void CompareVersions_ReadsDottedNumbersAsNumbers(string a, string b, int expected)
    {
        Assert.Equal(expected, Math.Sign(ChannelsUi.CompareVersions(a, b)));
        Assert.Equal(-expected, Math.Sign(ChannelsUi.CompareVersions(b, a)));
    }
}
