using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace NixFleet.EndToEnd;

/// <summary>
/// An approved fleet upgrade, in real browsers against three real NixOS stand-ins and a real
/// channel server: an Operator requests it by tag (one canary, then batches of one), reviews the
/// waves and creates it; an Approver finds it on the overview and approves it; the Operator's
/// request page shows the canary finish before any batch host starts, then every host and the
/// request succeed; the fleet's channels and each host's page show 24.11, and so does each host.
/// </summary>
/// <remarks>
/// A fleet (127.0.0.55-57), a channel server, a NixFleet and a browser of its own: the upgrade
/// changes the hosts for good. Its collection runs alone, after the parallel ones, like the
/// rollback tests.
/// </remarks>
[Collection(Name)]
public sealed class UpgradeBrowserTests(UpgradeBrowserTests.UpgradeFleet ug, ITestOutputHelper output) : IClassFixture<UpgradeBrowserTests.UpgradeFleet>
{
    public const string Name = "upgrade-browser";
    const string SystemProfile = "/nix/var/nix/profiles/system";

    public sealed class UpgradeFleet() : OwnFleet("ug",
        ("nixos", Names[0], "127.0.0.55"),
        ("nixos", Names[1], "127.0.0.56"),
        ("nixos", Names[2], "127.0.0.57"))
    {
        public const string OperatorEmail = "operator@example.test";
        public const string ApproverEmail = "approver@example.test";
        public const string Password = "Role-pass-123";
        /// <summary>By name: the canary is the first, then one batch each.</summary>
        public static readonly string[] Names = ["ug-web-1", "ug-web-2", "ug-web-3"];

        public ChannelServer Channels { get; private set; } = null!;

        public const string WebTag = "web";

        protected override string? Tag => WebTag;

        protected override async Task StartMoreAsync() => Channels = await ChannelServer.StartAsync();

        protected override async Task PrepareAsync()
        {
            await Admin.CreateUserAsync(OperatorEmail, Password, "Operator");
            await Admin.CreateUserAsync(ApproverEmail, Password, "Approver");
        }

        protected override async Task StopMoreAsync()
        {
            if (Channels is not null) await Channels.DisposeAsync();
        }
    }

    Task<string> Sh(string host, string script) => ug.Fleet.ShAsync(host, script);

    /// <summary>What the request page shows at one moment: the request's status, each host's wave and status, and whether it is still the marked document.</summary>
    sealed record Snapshot(string Status, bool SameDocument, IReadOnlyList<(string Host, int Wave, string Status)> Rows)
    {
        public string HostStatus(int wave) => Rows.Single(r => r.Wave == wave).Status;
        public override string ToString() => $"{Status} [{string.Join(", ", Rows.Select(r => $"{r.Host}/w{r.Wave}: {r.Status}"))}]{(SameDocument ? "" : " (reloaded)")}";
    }

    const string ReadProgress = """
        () => {
          const p = document.querySelector('#upgrade-progress');
          if (!p) return null;
          return JSON.stringify({
            status: p.dataset.upgradeStatus,
            same: window.__marker === 1,
            rows: [...p.querySelectorAll('tr[data-host-name]')].map(r => [r.dataset.hostName, r.dataset.wave, r.dataset.hostStatus]),
          });
        }
        """;

    /// <summary>The progress card as it is now; null while the page is between documents (htmx's refresh once the status changes).</summary>
    static async Task<Snapshot?> ReadAsync(IPage page)
    {
        string? json;
        try
        {
            json = await page.EvaluateAsync<string?>(ReadProgress);
        }
        catch (PlaywrightException)
        {
            return null;
        }
        if (json is null) return null;
        var e = JsonDocument.Parse(json).RootElement;
        return new Snapshot(e.GetProperty("status").GetString()!, e.GetProperty("same").GetBoolean(),
            [.. e.GetProperty("rows").EnumerateArray().Select(r => (r[0].GetString()!, int.Parse(r[1].GetString()!), r[2].GetString()!))]);
    }

    [Fact]
    public async Task Operator_RequestsByTag_Approver_ApprovesFromTheOverview_CanaryFinishesBeforeTheBatches_AndEveryHostRuns2411()
    {
        var url = ug.Channels.Url("nixos-24.11");
        var (canary, first, second) = (UpgradeFleet.Names[0], UpgradeFleet.Names[1], UpgradeFleet.Names[2]);
        var running = new Dictionary<string, string>();
        foreach (var h in UpgradeFleet.Names)
        {
            Assert.StartsWith("24.05", await Sh(h, "cat /run/current-system/nixos-version"));
            running[h] = await Sh(h, "readlink /run/current-system");
        }

        await using var operatorSession = await ug.OpenAsync(output, nameof(Operator_RequestsByTag_Approver_ApprovesFromTheOverview_CanaryFinishesBeforeTheBatches_AndEveryHostRuns2411) + "-operator");
        await using var approverSession = await ug.OpenAsync(output, nameof(Operator_RequestsByTag_Approver_ApprovesFromTheOverview_CanaryFinishesBeforeTheBatches_AndEveryHostRuns2411) + "-approver");
        var page = operatorSession.Page;
        await Ui.SignInAsync(page, UpgradeFleet.OperatorEmail, UpgradeFleet.Password);

        // Before: the fleet's channels page has every host on its nixos channel's 24.05.
        await page.GotoAsync("/channels");
        foreach (var h in UpgradeFleet.Names)
            await Expect(page.Locator($".channel-group[data-channel-name=nixos] tr[data-host-name='{h}'][data-user=root]")).ToHaveAttributeAsync("data-version", new Regex(@"^24\.05"));
        await Expect(page.Locator($".channel-group[data-channel-url='{url}']")).ToHaveCountAsync(0);

        // The request: hosts tagged web, channel nixos at the 24.11 release, switch, 1 canary, batches of 1, one at a time.
        await page.GotoAsync("/upgrades/new");
        await page.Locator("input[name='Form.Scope'][value=tag]").CheckAsync();
        await page.GetByLabel("Tag", new() { Exact = true }).SelectOptionAsync(UpgradeFleet.WebTag);
        await page.Locator("#channel-name").FillAsync("nixos");
        await page.Locator("#channel-url").FillAsync(url);
        await page.Locator("input[name='Form.Action'][value=switch]").CheckAsync();
        await page.Locator("#canary").FillAsync("1");
        await page.Locator("#batch-size").FillAsync("1");
        await page.Locator("#parallelism").FillAsync("1");
        await page.Locator("#reason").FillAsync("CHG-1124: web tier to NixOS 24.11");
        await page.Locator("button[data-action=review]").ClickAsync();

        // The review: three hosts, the canary alone first, then one batch per host; one approval needed; nothing saved yet.
        await Expect(page.Locator(".upgrade-review")).ToContainTextAsync("This asks to upgrade 3 host(s)");
        await Expect(page.Locator(".upgrade-review")).ToContainTextAsync("1 canary host(s) first, then 2 batch(es) of up to 1");
        await Expect(page.Locator(".upgrade-review")).ToContainTextAsync(url);
        await Expect(page.Locator(".upgrade-required-approvals")).ToHaveAttributeAsync("data-required-approvals", "1");
        for (var wave = 0; wave < 3; wave++)
            await Expect(page.Locator($"tbody.upgrade-wave[data-wave='{wave}'] tr[data-host-name]")).ToHaveAttributeAsync("data-host-name", UpgradeFleet.Names[wave]);
        Assert.Equal(0, (await ug.Admin.GetJsonAsync("/api/v1/upgrades")).GetArrayLength());

        await page.Locator("button[data-action=create]").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex(@"/upgrades/[0-9a-f-]{36}\?done=created$"));
        var id = Guid.Parse(Regex.Match(page.Url, @"/upgrades/([0-9a-f-]{36})").Groups[1].Value);
        var progress = page.Locator("#upgrade-progress");
        await Expect(progress).ToHaveAttributeAsync("data-upgrade-status", "pending");
        await Expect(page.Locator(".upgrade-requester")).ToHaveTextAsync(UpgradeFleet.OperatorEmail);
        await Expect(page.Locator("tr[data-host-name]")).ToHaveCountAsync(3);
        foreach (var (h, wave) in UpgradeFleet.Names.Select((h, i) => (h, i)))
        {
            await Expect(page.Locator($"tr[data-host-name='{h}']")).ToHaveAttributeAsync("data-wave", wave.ToString());
            await Expect(page.Locator($"tr[data-host-name='{h}']")).ToHaveAttributeAsync("data-host-status", "pending");
        }
        // An Operator cannot approve, their own request least of all.
        await Expect(page.Locator("button[data-action=approve]")).ToHaveCountAsync(0);
        await Expect(page.Locator(".approve-not-offered")).ToBeVisibleAsync();

        // Each activation is slowed down by its host, so that every step of the rollout stays on screen for a few polls.
        foreach (var h in UpgradeFleet.Names) await Sh(h, "echo 5 > /etc/nixfleet-test/slow-activation");
        try
        {
            // The Approver: the request waits on the overview, is opened from there, and approved.
            var approver = approverSession.Page;
            await Ui.SignInAsync(approver, UpgradeFleet.ApproverEmail, UpgradeFleet.Password);
            var waiting = approver.Locator($".waiting-approval tr[data-upgrade='{id}']");
            await Expect(waiting).ToHaveAttributeAsync("data-upgrade-status", "pending");
            await Expect(waiting.Locator(".upgrade-reason")).ToHaveTextAsync("CHG-1124: web tier to NixOS 24.11");
            await waiting.Locator("a.upgrade-link").ClickAsync();
            await Expect(approver).ToHaveURLAsync(new Regex($@"/upgrades/{id}$"));
            await Expect(approver.Locator(".upgrade-channel-url")).ToHaveTextAsync(url);
            await Expect(approver.Locator(".upgrade-canary")).ToHaveTextAsync("1");
            await Expect(approver.Locator(".upgrade-batch")).ToHaveTextAsync("1");
            await Expect(approver.Locator(".upgrade-parallelism")).ToHaveTextAsync("1");
            await approver.Locator("button[data-action=approve]").ClickAsync();
            await Expect(approver).ToHaveURLAsync(new Regex($@"/upgrades/{id}\?done=approved$"));
            await Expect(approver.Locator(".alert", new() { HasText = "Approved." })).ToContainTextAsync("the rollout has started");
            await Expect(approver.Locator($"tr[data-approver='{UpgradeFleet.ApproverEmail}']")).ToHaveAttributeAsync("data-approval-state", "counts");
            await Expect(approver.Locator("#upgrade-progress")).ToHaveAttributeAsync("data-upgrade-status", "running");

            // The Operator's page did not poll while the request waited: opened again, it runs and follows the rollout by itself.
            await page.GotoAsync($"/upgrades/{id}");
            await Expect(progress).ToHaveAttributeAsync("data-upgrade-status", "running");
            await Expect(progress).ToHaveAttributeAsync("data-polling", "true");
            await Ui.MarkDocumentAsync(page);

            // Every state the page shows, read often enough to see each poll's (one every 2 s), until the request has finished.
            var seen = new List<Snapshot>();
            var deadline = DateTime.UtcNow.AddMinutes(5);
            while (true)
            {
                if (await ReadAsync(page) is { } now)
                {
                    if (seen.Count == 0 || seen[^1].ToString() != now.ToString()) seen.Add(now);
                    if (IsFinished(now.Status)) break;
                }
                if (DateTime.UtcNow > deadline)
                {
                    output.WriteLine(string.Join('\n', seen));
                    output.WriteLine(ug.App.Output);
                    throw new TimeoutException($"the rollout did not finish; the page shows {seen.LastOrDefault()}");
                }
                await Task.Delay(200);
            }
            output.WriteLine("what the request page showed, in order:\n" + string.Join('\n', seen));

            Assert.True(seen[^1].Status == "succeeded", $"the request ended {seen[^1]}:\n{string.Join('\n', seen)}");
            // The order, in every state shown: no batch host started before the canary succeeded, nor the second batch before the first.
            foreach (var s in seen)
            {
                Assert.Equal(3, s.Rows.Count);
                if (s.HostStatus(1) != "pending" || s.HostStatus(2) != "pending") Assert.True(s.HostStatus(0) == "succeeded", $"a batch host started before the canary succeeded: {s}");
                if (s.HostStatus(2) != "pending") Assert.True(s.HostStatus(1) == "succeeded", $"the second batch started before the first succeeded: {s}");
            }
            // The canary running alone, then succeeded while both batch hosts were still to come or running: shown live, in the same document.
            Assert.Contains(seen, s => s.SameDocument && s.HostStatus(0) == "running" && s.HostStatus(1) == "pending" && s.HostStatus(2) == "pending");
            Assert.Contains(seen, s => s.SameDocument && s.Status == "running" && s.HostStatus(0) == "succeeded"
                && s.HostStatus(1) is "pending" or "running" && s.HostStatus(2) is "pending" or "running");
            Assert.Contains(seen, s => s.SameDocument && s.HostStatus(0) == "succeeded" && s.HostStatus(1) == "succeeded" && s.HostStatus(2) != "succeeded");
        }
        finally
        {
            foreach (var h in UpgradeFleet.Names) await Sh(h, "rm -f /etc/nixfleet-test/slow-activation");
        }

        // The finished request: succeeded, every host succeeded from generation 3 to 4; polling stopped.
        await Expect(progress).ToHaveAttributeAsync("data-upgrade-status", "succeeded");
        await Expect(page.Locator(".page-title .upgrade-status-badge")).ToHaveAttributeAsync("data-status", "succeeded");
        await Expect(progress).Not.ToHaveAttributeAsync("data-polling", "true");
        await Expect(progress.Locator(".upgrade-counts")).ToContainTextAsync("3 of 3 succeeded");
        foreach (var h in UpgradeFleet.Names)
        {
            var row = page.Locator($"tr[data-host-name='{h}']");
            await Expect(row).ToHaveAttributeAsync("data-host-status", "succeeded");
            await Expect(row.Locator(".upgrade-from")).ToHaveAttributeAsync("data-generation", "3");
            await Expect(row.Locator(".upgrade-to")).ToHaveAttributeAsync("data-generation", "4");
        }
        await Expect(page.Locator("button[data-action=rollback-all]")).ToHaveCountAsync(1);

        // The fleet's channels, from the facts each host's upgrade refreshed: every host's nixos channel follows the 24.11 URL and has 24.11.
        await page.GotoAsync("/channels");
        var group = page.Locator($".channel-group[data-channel-name=nixos][data-channel-url='{url}']");
        await Expect(group.Locator("tr[data-host-name]")).ToHaveCountAsync(3);
        foreach (var h in UpgradeFleet.Names)
        {
            await Expect(group.Locator($"tr[data-host-name='{h}']")).ToHaveAttributeAsync("data-version", new Regex(@"^24\.11"));
            await Expect(group.Locator($"tr[data-host-name='{h}']")).ToHaveAttributeAsync("data-behind", "false");
        }
        await Expect(page.Locator(".channel-group[data-channel-name=nixos] tr[data-version^='24.05']")).ToHaveCountAsync(0);

        // Each host's page shows the 24.11 system it runs, and the host itself runs it.
        foreach (var h in UpgradeFleet.Names)
        {
            var system = await Sh(h, "readlink /run/current-system");
            Assert.NotEqual(running[h], system);
            Assert.StartsWith("24.11", await Sh(h, "cat /run/current-system/nixos-version"));
            Assert.Equal("system-4-link", await Sh(h, $"readlink {SystemProfile}"));
            Assert.Equal(await Sh(h, $"readlink {SystemProfile}-4-link"), system);
            await page.GotoAsync($"/hosts/{ug.Ids[h]}");
            await Expect(page.Locator("[data-fact=system]")).ToHaveTextAsync(system);
            await Expect(page.Locator("[data-fact=system]")).ToContainTextAsync("-24.11.");
            await Expect(page.Locator("[data-fact=generation]")).ToContainTextAsync("4");
        }
        approverSession.Passed();
        operatorSession.Passed();
    }

    static bool IsFinished(string status) => status is "succeeded" or "failed" or "aborted" or "rejected";
}

/// <summary>Not beside the other browser tests: xunit runs this collection alone, after the parallel ones.</summary>
[CollectionDefinition(UpgradeBrowserTests.Name, DisableParallelization = true)]
public sealed class UpgradeBrowserCollectionDefinition;
