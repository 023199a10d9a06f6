using System.Text.RegularExpressions;
using AngleSharp.Dom;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Maintenance;

namespace NixFleet.Web.Tests.Components;

public sealed partial class MaintenancePagesTests
{
    const long GiB = 1L << 30;
    static readonly Guid WebId = Guid.Parse("3f2504e0-4f89-11d3-9a0c-0305e82c3311");
    static readonly Guid FleetId = Guid.Parse("3f2504e0-4f89-11d3-9a0c-0305e82c3312");

    // Fakes.Now is Sunday 2026-11-22 12:00 UTC.
    static MaintenancePolicies.PolicyDto Policy(
        Guid id, string name, string? tag = null, string cron = "0 0 3 * * ?", string mode = GcMode.Plain, int? olderThanDays = null,
        int? keepLast = null, int? freeBelow = null, bool optimise = false, int parallelism = 4, bool enabled = true,
        DateTimeOffset? next = null, params MaintenancePolicies.RunDto[] runs) =>
        new(id, name, tag, cron, mode, olderThanDays, keepLast, [], freeBelow, optimise, parallelism, enabled,
            enabled ? next ?? Fakes.Now.AddHours(15) : null, runs, MaintenanceInput.Warnings(mode, keepLast), "ops@example.test", Fakes.Now.AddDays(-1));

    static MaintenancePolicies.RunDto Run(int hoursAgo, string status, long? freed = null, string? error = null) =>
        new(Fakes.Now.AddHours(-hoursAgo), Fakes.Now.AddHours(-hoursAgo), Guid.NewGuid(), status, error, freed,
            OperationStatus.IsFinished(status) ? Fakes.Now.AddHours(-hoursAgo).AddMinutes(3) : null);

    static Task<IDocument> PoliciesAsync(params MaintenancePolicies.PolicyDto[] policies) => Html.RenderAsync<PoliciesTable>(new()
    {
        [nameof(PoliciesTable.Policies)] = policies,
        [nameof(PoliciesTable.CanOperate)] = true,
        [nameof(PoliciesTable.Now)] = Fakes.Now,
    });

    static FleetHost Host(string name, long? free, long? size, string install = "multi-user", long? store = 5 * GiB, string key = HostKeyStatus.Trusted)
    {
        var h = Fakes.Host(name, key);
        h.LatestFacts!.DiskFreeBytes = free;
        h.LatestFacts.DiskSizeBytes = size;
        h.LatestFacts.InstallType = install;
        h.LatestFacts.StoreSizeBytes = store;
        return h;
    }

    static Task<IDocument> ScopeAsync(IReadOnlyList<FleetHost> hosts, int? freeBelow = null) => Html.RenderAsync<BatchScopeTable>(new()
    {
        [nameof(BatchScopeTable.Hosts)] = hosts,
        [nameof(BatchScopeTable.FreeBelowPercent)] = freeBelow,
    });

    static string Squash(string text) => Spaces().Replace(text, " ").Trim();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();

    static IElement Row(IDocument doc, string attribute, string name) => doc.QuerySelector($"tr[{attribute}='{name}']")!;

    [Fact]
    public async Task PoliciesTable_ShowsEachPolicy_WithScopeScheduleModeConditionAndNextRun()
    {
        var doc = await PoliciesAsync(
            Policy(WebId, "web nightly", tag: "web", mode: GcMode.KeepLast, keepLast: 3, freeBelow: 20, optimise: true, parallelism: 2),
            Policy(FleetId, "fleet weekly", cron: "0 0 4 ? * SUN", mode: GcMode.OlderThan, olderThanDays: 30, next: Fakes.Now.AddDays(7).AddHours(-8)));

        Assert.Equal(["web nightly", "fleet weekly"], doc.QuerySelectorAll("tbody tr").Select(r => r.GetAttribute("data-policy")));
        var web = Row(doc, "data-policy", "web nightly");
        Assert.Equal($"/maintenance/policies/{WebId}", web.QuerySelector("a.policy-link")!.GetAttribute("href"));
        Assert.Equal("tag web", Squash(web.QuerySelector(".policy-scope").Text()));
        Assert.Equal("0 0 3 * * ?", web.QuerySelector("code.policy-cron").Text());
        // The next three fire times in UTC, with the weekday, counted from the page's clock.
        Assert.Equal("Mon 2026-11-23 03:00, Tue 2026-11-24 03:00, Wed 2026-11-25 03:00", web.QuerySelector(".policy-fire-times").Text());
        Assert.StartsWith("keep last 3", web.QuerySelector(".policy-mode").Text());
        Assert.Equal("+ optimise weekly", web.QuerySelector(".policy-optimise").Text());
        Assert.Equal("under 20% free", web.QuerySelector(".policy-condition").Text());
        Assert.Equal("2", web.QuerySelector(".policy-parallelism").Text());
        Assert.Equal("enabled", web.QuerySelector(".policy-enabled").Text());
        var next = web.QuerySelector(".policy-next time")!;
        Assert.Equal("in 15 h", next.Text());
        Assert.Equal("2026-11-23 03:00:00 UTC", next.GetAttribute("title"));
        Assert.Equal("not run yet", web.QuerySelector(".policy-last-run").Text());

        var fleet = Row(doc, "data-policy", "fleet weekly");
        Assert.Equal("whole fleet", fleet.QuerySelector(".policy-scope").Text());
        Assert.Equal("Sun 2026-11-29 04:00, Sun 2026-12-06 04:00, Sun 2026-12-13 04:00", fleet.QuerySelector(".policy-fire-times").Text());
        Assert.Equal("older than 30 days", fleet.QuerySelector(".policy-mode").Text());
        Assert.Equal("always", fleet.QuerySelector(".policy-condition").Text());
        Assert.Equal("in 6 days", fleet.QuerySelector(".policy-next").Text());
        Assert.Null(doc.QuerySelector(".policies-empty"));
    }

    [Fact]
    public async Task PoliciesTable_DisabledPolicy_HasNoNextRun_ButStillShowsItsSchedule()
    {
        var doc = await PoliciesAsync(Policy(WebId, "paused", enabled: false));

        var row = Row(doc, "data-policy", "paused");
        Assert.Equal("disabled", row.QuerySelector(".policy-enabled").Text());
        Assert.Equal("—", row.QuerySelector(".policy-next").Text());
        Assert.Null(row.QuerySelector(".policy-next time"));
        Assert.Equal("Mon 2026-11-23 03:00, Tue 2026-11-24 03:00, Wed 2026-11-25 03:00", row.QuerySelector(".policy-fire-times").Text());
        Assert.Contains("text-secondary", row.ClassList);
    }

    [Fact]
    public async Task PoliciesTable_LastRun_ShowsItsStatusWhenAndBytesFreed_AndLinksToItsOperation()
    {
        var succeeded = Run(9, OperationStatus.Succeeded, freed: 3 * GiB / 2);
        var failed = Run(2, OperationStatus.Failed, error: "1 of 3 part(s) did not succeed");
        var doc = await PoliciesAsync(
            Policy(WebId, "good", runs: [succeeded, Run(33, OperationStatus.Failed)]),
            Policy(FleetId, "bad", runs: [failed]));

        var good = Row(doc, "data-policy", "good").QuerySelector(".policy-last-run")!;
        Assert.Equal(OperationStatus.Succeeded, good.QuerySelector(".status-badge")!.GetAttribute("data-status"));
        Assert.Equal("9 h ago", good.QuerySelector("time").Text());
        Assert.Equal("· freed 1.5 GiB", good.QuerySelector(".policy-freed").Text());
        Assert.Equal($"/operations/{succeeded.OperationId}", good.QuerySelector("a.policy-run-link")!.GetAttribute("href"));
        Assert.Null(good.QuerySelector(".policy-error"));

        var bad = Row(doc, "data-policy", "bad").QuerySelector(".policy-last-run")!;
        Assert.Equal("Failed", bad.QuerySelector(".status-badge").Text());
        Assert.Equal("2 h ago", bad.QuerySelector("time").Text());
        Assert.Null(bad.QuerySelector(".policy-freed"));
        Assert.Equal("1 of 3 part(s) did not succeed", bad.QuerySelector(".policy-error").Text());
        Assert.Equal($"/operations/{failed.OperationId}", bad.QuerySelector("a.policy-run-link")!.GetAttribute("href"));
    }

    [Fact]
    public async Task PoliciesTable_WithoutPolicies_SaysSo()
    {
        var doc = await PoliciesAsync();

        Assert.Empty(doc.QuerySelectorAll("tbody tr"));
        Assert.Equal("No maintenance policy yet. Create one with New policy.", doc.QuerySelector(".policies-empty").Text());
    }

    [Fact]
    public async Task PolicyRunsTable_ListsEachFiring_NewestFirst_WithItsOutcome()
    {
        var runs = new[] { Run(1, OperationStatus.Running), Run(25, OperationStatus.Succeeded, freed: 512L << 20), Run(49, OperationStatus.Failed, error: "host lost") };
        var doc = await Html.RenderAsync<PolicyRunsTable>(new()
        {
            [nameof(PolicyRunsTable.Runs)] = runs,
            [nameof(PolicyRunsTable.Now)] = Fakes.Now,
        });

        Assert.Equal(runs.Select(r => r.OperationId.ToString()), doc.QuerySelectorAll("tbody tr").Select(r => r.GetAttribute("data-run")));
        var ok = Row(doc, "data-run", runs[1].OperationId.ToString());
        Assert.Equal("Sat 2026-11-21 11:00", ok.QuerySelector(".run-scheduled").Text());
        Assert.Equal("512.0 MiB", ok.QuerySelector(".run-freed").Text());
        Assert.Equal($"/operations/{runs[1].OperationId}", ok.QuerySelector("a.run-operation")!.GetAttribute("href"));
        var running = Row(doc, "data-run", runs[0].OperationId.ToString());
        Assert.Equal(OperationStatus.Running, running.QuerySelector(".status-badge")!.GetAttribute("data-status"));
        Assert.Equal("—", running.QuerySelector(".run-freed").Text());
        Assert.Equal("host lost", Row(doc, "data-run", runs[2].OperationId.ToString()).QuerySelector(".run-error").Text());
    }

    [Fact]
    public async Task PolicyRunsTable_WithoutRuns_SaysSo()
    {
        var doc = await Html.RenderAsync<PolicyRunsTable>(new() { [nameof(PolicyRunsTable.Runs)] = Array.Empty<MaintenancePolicies.RunDto>() });

        Assert.Null(doc.QuerySelector("table"));
        Assert.Equal("This policy has not fired yet.", doc.QuerySelector(".policy-runs-empty").Text());
    }

    [Fact]
    public async Task ScopeTable_ShowsEachHostsFreePercent_StoreSize_AndInstallType()
    {
        var doc = await ScopeAsync(
        [
            Host("alpha", free: 5 * GiB, size: 20 * GiB),
            Host("beta", free: 1 * GiB, size: 40 * GiB, install: "single-user", store: 30 * GiB),
            Host("gamma", free: 2 * GiB, size: null, store: null),
        ]);

        Assert.Equal(["alpha", "beta", "gamma"], doc.QuerySelectorAll("tbody tr").Select(r => r.GetAttribute("data-host")));
        var alpha = Row(doc, "data-host", "alpha");
        Assert.Equal("25%", alpha.QuerySelector(".gc-free").Text());
        Assert.Equal("5.0 GiB free of 20.0 GiB", alpha.QuerySelector(".gc-free")!.GetAttribute("title"));
        Assert.Equal("5.0 GiB", alpha.QuerySelector(".gc-store").Text());
        Assert.Equal("multi-user", alpha.QuerySelector(".gc-install").Text());
        Assert.DoesNotContain("text-red", alpha.QuerySelector(".gc-free")!.ClassList);

        var beta = Row(doc, "data-host", "beta");
        Assert.Equal("2.5%", beta.QuerySelector(".gc-free").Text());
        // Under the fleet summary's 10%: stands out.
        Assert.Contains("text-red", beta.QuerySelector(".gc-free")!.ClassList);
        Assert.Equal("30.0 GiB", beta.QuerySelector(".gc-store").Text());
        Assert.Equal("single-user", beta.QuerySelector(".gc-install").Text());

        // Free bytes without the disk's size: no percentage is guessed.
        var gamma = Row(doc, "data-host", "gamma");
        Assert.Equal("—", gamma.QuerySelector(".gc-free").Text());
        Assert.Equal("—", gamma.QuerySelector(".gc-store").Text());

        Assert.Equal("3 host(s)", doc.QuerySelector(".gc-scope-count").Text());
        Assert.Null(doc.QuerySelector(".gc-condition"));
        Assert.Null(doc.QuerySelector(".gc-scope-below"));
    }

    [Fact]
    public async Task ScopeTable_WithLessThanXPercentFree_MarksWhichHostsAreUnderX()
    {
        var doc = await ScopeAsync(
        [
            Host("full", free: 1 * GiB, size: 100 * GiB),
            Host("edge", free: 15 * GiB, size: 100 * GiB),
            Host("roomy", free: 60 * GiB, size: 100 * GiB),
            Host("new", free: null, size: null),
        ], freeBelow: 15);

        Assert.Equal("yes", Row(doc, "data-host", "full").GetAttribute("data-free-below"));
        Assert.Equal("under 15%: collected", Row(doc, "data-host", "full").QuerySelector(".gc-condition").Text());
        // Exactly X% free is not "less than X%".
        Assert.Equal("no", Row(doc, "data-host", "edge").GetAttribute("data-free-below"));
        Assert.Equal("15% or more: skipped", Row(doc, "data-host", "edge").QuerySelector(".gc-condition").Text());
        Assert.Equal("no", Row(doc, "data-host", "roomy").GetAttribute("data-free-below"));
        Assert.Contains("text-secondary", Row(doc, "data-host", "roomy").ClassList);
        Assert.Equal("unknown", Row(doc, "data-host", "new").GetAttribute("data-free-below"));
        Assert.Equal("not known: measured when it runs", Row(doc, "data-host", "new").QuerySelector(".gc-condition").Text());

        Assert.Equal("4 host(s)", doc.QuerySelector(".gc-scope-count").Text());
        Assert.Equal("1", doc.QuerySelector(".gc-scope-below").Text());
        Assert.Contains("Under 15% free?", doc.QuerySelectorAll("th").Select(th => th.Text()));
        Assert.Contains("one with 15% or more free then is skipped", doc.QuerySelector(".gc-scope-summary").Text());
    }

    [Fact]
    public async Task ScopeTable_HostWithoutATrustedKey_IsMarkedSkipped()
    {
        var doc = await ScopeAsync([Host("ok", 5 * GiB, 20 * GiB), Host("changed", 5 * GiB, 20 * GiB, key: HostKeyStatus.Changed)], freeBelow: 50);

        Assert.Null(Row(doc, "data-host", "ok").QuerySelector(".gc-untrusted"));
        Assert.Equal($"skipped: key {HostKeyStatus.Changed}", Row(doc, "data-host", "changed").QuerySelector(".gc-untrusted").Text());
        Assert.Contains("1 skipped: host key not trusted", doc.QuerySelector(".gc-scope-summary").Text());
        // Under X% free, but the batch skips it all the same.
        Assert.Equal("under 50%: collected", Row(doc, "data-host", "ok").QuerySelector(".gc-condition").Text());
        Assert.Equal("skipped (host key)", Row(doc, "data-host", "changed").QuerySelector(".gc-condition").Text());
    }

    [Fact]
    public async Task ScopeTable_WithoutHosts_SaysSo()
    {
        var doc = await ScopeAsync([]);

        Assert.Equal("No host is in scope.", doc.QuerySelector(".gc-scope-empty").Text());
    }

    [Fact]
    public async Task PolicyPreview_ShowsTheWarnings_AndTheNextThreeFireTimes()
    {
        var doc = await Html.RenderAsync<PolicyPreview>(new()
        {
            [nameof(PolicyPreview.Cron)] = "0 0 4 ? * SUN",
            [nameof(PolicyPreview.Mode)] = GcMode.KeepLast,
            [nameof(PolicyPreview.KeepLast)] = 1,
            [nameof(PolicyPreview.Now)] = Fakes.Now,
        });

        Assert.Equal(MaintenanceInput.Warnings(GcMode.KeepLast, 1), doc.QuerySelectorAll(".policy-warning").Select(w => w.Text()));
        Assert.Equal(["Sun 2026-11-29 04:00", "Sun 2026-12-06 04:00", "Sun 2026-12-13 04:00"],
            doc.QuerySelectorAll(".policy-fire-times time").Select(t => t.Text()));
        Assert.Equal("(in 6 days)", doc.QuerySelector(".policy-fire-times li span").Text());
        Assert.Null(doc.QuerySelector(".policy-disabled-note"));
    }

    [Fact]
    public async Task PolicyPreview_WithoutWarnings_Disabled_SaysItDoesNotRun()
    {
        var doc = await Html.RenderAsync<PolicyPreview>(new()
        {
            [nameof(PolicyPreview.Cron)] = "0 0 3 * * ?",
            [nameof(PolicyPreview.Mode)] = GcMode.KeepLast,
            [nameof(PolicyPreview.KeepLast)] = 5,
            [nameof(PolicyPreview.Enabled)] = false,
            [nameof(PolicyPreview.Now)] = Fakes.Now,
        });

        Assert.Empty(doc.QuerySelectorAll(".policy-warning"));
        Assert.NotNull(doc.QuerySelector(".policy-disabled-note"));
        Assert.Equal(3, doc.QuerySelectorAll(".policy-fire-times li").Length);
    }

    [Fact]
    public void BatchForm_ChecksTheScopeInItsOwnTerms_AndQueuesNothingOnError()
    {
        var errors = new Dictionary<string, string[]>();
        var form = new BatchGcForm { Scope = BatchGcForm.ByTag, Mode = GcMode.Plain, Parallelism = "4" };

        Assert.Null(form.Read(errors));
        Assert.Equal(["tag"], errors.Keys);

        errors.Clear();
        form = new BatchGcForm { Scope = BatchGcForm.LowOnDisk, Mode = GcMode.Plain, Parallelism = "4" };
        Assert.Null(form.Read(errors));
        Assert.Equal(["onlyWhenFreeBelowPercent"], errors.Keys);

        errors.Clear();
        form = new BatchGcForm { Scope = BatchGcForm.LowOnDisk, FreeBelowPercent = "100", Mode = GcMode.KeepLast, KeepLast = "three", Parallelism = "0" };
        Assert.Null(form.Read(errors));
        Assert.Equal(MaintenanceInput.BadPercent, errors["onlyWhenFreeBelowPercent"].Single());
        Assert.Equal(MaintenanceInput.BadKeepLast, errors["keepLast"].Single());
        Assert.Equal(MaintenanceInput.BadParallelism, errors["parallelism"].Single());
    }

    [Fact]
    public void BatchForm_SendsOnlyTheChosenModesNumbers_AndEveryHostBelowX()
    {
        var form = new BatchGcForm
        {
            Scope = BatchGcForm.LowOnDisk, Tag = "web", FreeBelowPercent = "15", Mode = GcMode.OlderThan, OlderThanDays = "30", KeepLast = "2",
            Profiles = "/nix/var/nix/profiles/system\r\n\r\n /nix/var/nix/profiles/default \n", DryRun = true, OptimiseWeekly = true, Parallelism = "8",
        };
        var errors = new Dictionary<string, string[]>();

        var p = form.Read(errors);

        Assert.Empty(errors);
        Assert.NotNull(p);
        Assert.Null(p.HostIds);
        Assert.Null(p.Tag);
        Assert.Equal(new GcHandler.Parameters(GcMode.OlderThan, 30, null, p.Gc.Profiles, true, 15), p.Gc);
        Assert.Equal(["/nix/var/nix/profiles/system", "/nix/var/nix/profiles/default"], p.Gc.Profiles);
        Assert.Equal(8, p.Parallelism);
        Assert.True(p.OptimiseWeekly);
    }

    [Fact]
    public void BatchForm_RealDeleteOld_NeedsThePhraseTyped_ADryRunDoesNot()
    {
        var form = new BatchGcForm { Scope = BatchGcForm.AllHosts, Mode = GcMode.DeleteOld, Parallelism = "4" };
        Assert.True(form.NeedsTypedConfirmation);
        Assert.False(form.Confirmed);
        form.ConfirmText = "delete all old";
        Assert.False(form.Confirmed);
        form.ConfirmText = " delete all old generations ";
        Assert.True(form.Confirmed);

        Assert.False(new BatchGcForm { Mode = GcMode.DeleteOld, DryRun = true }.NeedsTypedConfirmation);
        Assert.False(new BatchGcForm { Mode = GcMode.KeepLast }.NeedsTypedConfirmation);
    }

    [Fact]
    public void PolicyChecks_FindFormErrors_BeforeSaving()
    {
        var form = PolicyForm.New();
        form.Name = "nightly";
        Assert.Empty(MaintenancePolicies.Check(form.ToRequest()));

        form.Cron = "0 3 * * *";
        form.Mode = GcMode.DeleteOld;
        form.FreeBelowPercent = "0";
        var errors = MaintenancePolicies.Check(form.ToRequest());
        Assert.Equal(["cron", "mode", "onlyWhenFreeBelowPercent"], errors.Keys.Order());

        // A number typed for another mode is left out rather than refused.
        form = PolicyForm.New();
        form.Name = "weekly";
        form.Mode = GcMode.KeepLast;
        form.KeepLast = "3";
        form.OlderThanDays = "30";
        var request = form.ToRequest();
        Assert.Empty(MaintenancePolicies.Check(request));
        Assert.Null(request.OlderThanDays);
        Assert.Equal(3, request.KeepLast!.Value.GetInt32());
        Assert.True(request.Enabled);
        Assert.Null(request.Tag);
    }

    [Fact]
    public void NextFireTimes_AreQuartzsInUtc_AndNoneForAnInvalidExpression()
    {
        Assert.Equal(
            [new DateTimeOffset(2026, 11, 23, 3, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 24, 3, 0, 0, TimeSpan.Zero)],
            MaintenanceUi.NextFireTimes("0 0 3 * * ?", Fakes.Now, 2));
        Assert.Empty(MaintenanceUi.NextFireTimes("0 3 * * *", Fakes.Now));
        Assert.Empty(MaintenanceUi.NextFireTimes(null, Fakes.Now));
        Assert.Equal("25%", MaintenanceUi.Percent(MaintenanceUi.FreePercent(5 * GiB, 20 * GiB)));
        Assert.Null(MaintenanceUi.FreePercent(5 * GiB, 0));
    }
}
