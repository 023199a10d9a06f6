using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace NixFleet.Web.Tests.Fleet;

/// <summary>
/// Approved upgrades on real NixOS stand-ins, from a real channel server on 127.0.0.1: each test
/// reads the hosts' channel lists, channels profiles, system profiles and running systems.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class UpgradeTests(UpgradeTests.Fixture fixture) : IClassFixture<UpgradeTests.Fixture>
{
    const string SystemProfile = "/nix/var/nix/profiles/system";
    readonly TestFleet _fleet = fixture.Fleet;
    readonly ApiClient _api = fixture.Admin;

    public sealed class Fixture : AppFixture
    {
        public TestFleet Fleet { get; private set; } = null!;
        public ChannelServer Channels { get; private set; } = null!;
        public Dictionary<string, Guid> Ids { get; } = [];
        public ApiClient Approver { get; private set; } = null!;

        public override async Task InitializeAsync()
        {
            Channels = await ChannelServer.StartAsync();
            Fleet = await TestFleet.StartAsync("upgrades",
                ("nixos", "up-a", "127.0.0.150"),
                ("nixos", "up-b", "127.0.0.151"),
                ("nixos", "up-c", "127.0.0.152"));
            await base.InitializeAsync();
            await Admin.ImportKeyAsync(Fleet.PrivateKey);
            foreach (var h in Fleet.Hosts) Ids[h.Name] = await Admin.AddTrustedHostAsync(h.Name, h.Address, "up");
            await Admin.CreateUserAsync("approver@example.test", "Role-pass-123", "Approver");
            Approver = await App.ClientAsync("approver@example.test", "Role-pass-123");
        }

        public override async Task DisposeAsync()
        {
            Approver.Dispose();
            await base.DisposeAsync();
            await Fleet.DisposeAsync();
            await Channels.DisposeAsync();
        }
    }

    Task<string> Sh(string host, string script) => _fleet.ShAsync(host, script);

    /// <summary>What a host's upgrade-relevant state is: channels, channels profile, system profile, running system.</summary>
    async Task<(string Channels, string ChannelsProfile, string Profile, string Running)> StateAsync(string host) => (
        await Sh(host, "nix-channel --list"),
        await Sh(host, "readlink /nix/var/nix/profiles/per-user/root/channels"),
        await Sh(host, $"readlink {SystemProfile}"),
        await Sh(host, "readlink /run/current-system"));

    /// <summary>Back to the fleet's start: generation 3 running and booting, the file:// nixos channel.</summary>
    async Task ResetAsync(string host)
    {
        await Sh(host, $$"""
            rm -f /etc/nixfleet-test/fail-activation /etc/nixfleet-test/slow-activation
            nix-channel --add file:///etc/nixfleet-test/channels/nixos.tar.xz nixos
            nix-channel --update nixos >/dev/null 2>&1
            nix-env -p {{SystemProfile}} --switch-generation 3 >/dev/null 2>&1
            for l in {{SystemProfile}}-*-link; do
              n=${l%-link}; n=${n##*-}
              [ "$n" -gt 3 ] && nix-env -p {{SystemProfile}} --delete-generations "$n" >/dev/null 2>&1
            done
            ln -sfn "$(readlink -f {{SystemProfile}}-3-link)" /run/current-system
            """);
    }

    async Task<JsonElement> RequestAndApproveAsync(object body)
    {
        var created = await _api.PostJsonAsync("/api/v1/upgrades", body, HttpStatusCode.Created);
        var id = created.GetProperty("id").GetGuid();
        var approved = await fixture.Approver.PostJsonAsync($"/api/v1/upgrades/{id}/approve", null, HttpStatusCode.OK);
        Assert.Equal("running", approved.GetProperty("status").GetString());
        var op = await _api.WaitForOperationAsync(approved.GetProperty("operationId").GetGuid(), TimeSpan.FromMinutes(5));
        var upgrade = await _api.GetJsonAsync($"/api/v1/upgrades/{id}");
        return JsonSerializer.SerializeToElement(new { op, upgrade, log = await _api.LogTextAsync(op.GetProperty("id").GetGuid()) });
    }

    static JsonElement HostRow(JsonElement upgrade, Guid hostId) =>
        upgrade.GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("hostId").GetGuid() == hostId);

    [Fact]
    public async Task ApprovedRollout_SwitchesEveryHostToTheNextRelease_CanaryFirst_ThenOneHostAtATime_AndCanBeRolledBackInOneClick()
    {
        foreach (var h in _fleet.Hosts) await ResetAsync(h.Name);
        var before = new Dictionary<string, (string Channels, string ChannelsProfile, string Profile, string Running)>();
        foreach (var h in _fleet.Hosts) before[h.Name] = await StateAsync(h.Name);
        var url = fixture.Channels.Url("nixos-24.11");

        var run = await RequestAndApproveAsync(new
        {
            tag = "up", channel = new { name = "nixos", url }, action = "switch", canary = 1, batchSize = 1, parallelism = 1,
            healthCommand = "test -e /run/current-system/bin/switch-to-configuration", autoRollback = true, reason = "move to 24.11",
        });

        var upgrade = run.GetProperty("upgrade");
        Assert.True(upgrade.GetProperty("status").GetString() == "succeeded", run.ToString());
        foreach (var h in _fleet.Hosts)
        {
            var (channels, channelsProfile, profile, running) = await StateAsync(h.Name);
            Assert.Equal($"nixos {url}", channels);
            Assert.NotEqual(before[h.Name].ChannelsProfile, channelsProfile);
            Assert.Equal("24.11", await Sh(h.Name, "cat /nix/var/nix/profiles/per-user/root/channels/nixos/.version"));
            Assert.Equal("system-4-link", profile);
            Assert.Equal(await Sh(h.Name, $"readlink {SystemProfile}-4-link"), running);
            Assert.StartsWith("24.11", await Sh(h.Name, "cat /run/current-system/nixos-version"));
            var row = HostRow(upgrade, fixture.Ids[h.Name]);
            Assert.Equal("succeeded", row.GetProperty("status").GetString());
            Assert.Equal(3, row.GetProperty("fromGeneration").GetInt32());
            Assert.Equal(4, row.GetProperty("toGeneration").GetInt32());
            Assert.Equal(before[h.Name].Running, row.GetProperty("fromStorePath").GetString());
            Assert.Equal(running, row.GetProperty("toStorePath").GetString());
        }
        // The canary (wave 0) ended before any batch host started, and the batches ran one after another.
        var parts = (await _api.GetJsonAsync($"/api/v1/operations?parentId={upgrade.GetProperty("operationId").GetGuid()}")).EnumerateArray()
            .OrderBy(p => p.GetProperty("startedAt").GetDateTimeOffset()).ToList();
        Assert.Equal(3, parts.Count);
        for (var i = 1; i < parts.Count; i++)
            Assert.True(parts[i].GetProperty("startedAt").GetDateTimeOffset() >= parts[i - 1].GetProperty("finishedAt").GetDateTimeOffset());
        var canary = upgrade.GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("wave").GetInt32() == 0).GetProperty("hostId").GetGuid();
        Assert.Equal(canary, parts[0].GetProperty("hostId").GetGuid());

        // One click: every host that took it goes back to the generation it ran before.
        var rollback = await _api.PostJsonAsync($"/api/v1/upgrades/{upgrade.GetProperty("id").GetGuid()}/rollback", new { reason = "24.11 breaks the app" }, HttpStatusCode.Accepted);
        var back = await _api.WaitForOperationAsync(rollback.GetProperty("operationId").GetGuid(), TimeSpan.FromMinutes(3));
        Assert.True(back.GetProperty("status").GetString() == "succeeded", back.ToString());
        foreach (var h in _fleet.Hosts)
        {
            Assert.Equal("system-3-link", await Sh(h.Name, $"readlink {SystemProfile}"));
            Assert.Equal(before[h.Name].Running, await Sh(h.Name, "readlink /run/current-system"));
        }
    }

    [Fact]
    public async Task FailingHealthCheckOnTheCanary_StopsTheRollout_RollsTheCanaryBack_AndLeavesTheRestUntouched()
    {
        foreach (var h in _fleet.Hosts) await ResetAsync(h.Name);
        var before = new Dictionary<string, (string Channels, string ChannelsProfile, string Profile, string Running)>();
        foreach (var h in _fleet.Hosts) before[h.Name] = await StateAsync(h.Name);

        var run = await RequestAndApproveAsync(new
        {
            tag = "up", channel = new { name = "nixos", url = fixture.Channels.Url("nixos-24.11") }, action = "switch", canary = 1, batchSize = 2,
            parallelism = 2, healthCommand = "echo 'the app does not answer' >&2; exit 3", autoRollback = true, reason = "try 24.11",
        });

        var upgrade = run.GetProperty("upgrade");
        Assert.Equal("failed", upgrade.GetProperty("status").GetString());
        var canaryRow = upgrade.GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("wave").GetInt32() == 0);
        Assert.Equal("rolled-back", canaryRow.GetProperty("status").GetString());
        Assert.Contains("exited 3", canaryRow.GetProperty("error").GetString());
        foreach (var h in _fleet.Hosts)
        {
            var now = await StateAsync(h.Name);
            Assert.Equal(before[h.Name].Running, now.Running);
            if (fixture.Ids[h.Name] == canaryRow.GetProperty("hostId").GetGuid()) continue;
            Assert.Equal("not-started", HostRow(upgrade, fixture.Ids[h.Name]).GetProperty("status").GetString());
            Assert.Equal(before[h.Name], now);
        }
    }

    [Theory]
    [InlineData("missing", "404")]
    [InlineData("html", "")]
    [InlineData("truncated", "")]
    public async Task ABrokenChannelDownload_FailsTheHostWithNixsMessage_AndChangesNothing(string release, string expected)
    {
        const string host = "up-a";
        await ResetAsync(host);
        var before = await StateAsync(host);
        var activations = await Sh(host, "cat /var/lib/nixfleet-test/activations 2>/dev/null | wc -l");

        var run = await RequestAndApproveAsync(new
        {
            hostIds = new[] { fixture.Ids[host] }, channel = new { name = "nixos", url = fixture.Channels.Url(release) }, action = "switch", reason = $"broken {release}",
        });

        var upgrade = run.GetProperty("upgrade");
        Assert.Equal("failed", upgrade.GetProperty("status").GetString());
        var error = HostRow(upgrade, fixture.Ids[host]).GetProperty("error").GetString()!;
        Assert.Contains("nix-channel --update failed", error);
        Assert.Contains(expected, error);
        Assert.Equal(before, await StateAsync(host));
        Assert.Equal(activations, await Sh(host, "cat /var/lib/nixfleet-test/activations 2>/dev/null | wc -l"));
        Assert.Equal("", await Sh(host, "ls -A /root | grep nixfleet || true"));
    }

    [Fact]
    public async Task AHostUnreachableMidRollout_StopsIt_AfterTheHostsAlreadyDone()
    {
        foreach (var h in _fleet.Hosts) await ResetAsync(h.Name);
        var first = _fleet.Hosts.OrderBy(h => h.Name).First();
        var lost = _fleet.Hosts.OrderBy(h => h.Name).Last();
        await _fleet.StopHostAsync(lost.Name);
        try
        {
            var run = await RequestAndApproveAsync(new
            {
                hostIds = new[] { fixture.Ids[first.Name], fixture.Ids[lost.Name] }, channel = new { name = "nixos", url = fixture.Channels.Url("nixos-24.11") },
                action = "boot", batchSize = 1, parallelism = 1, reason = "boot into 24.11",
            });

            var upgrade = run.GetProperty("upgrade");
            Assert.Equal("failed", upgrade.GetProperty("status").GetString());
            Assert.Equal("succeeded", HostRow(upgrade, fixture.Ids[first.Name]).GetProperty("status").GetString());
            Assert.Equal("failed", HostRow(upgrade, fixture.Ids[lost.Name]).GetProperty("status").GetString());
            // boot: the profile moved, what runs did not.
            Assert.Equal("system-4-link", await Sh(first.Name, $"readlink {SystemProfile}"));
            Assert.Equal(await Sh(first.Name, $"readlink -f {SystemProfile}-3-link"), await Sh(first.Name, "readlink /run/current-system"));
        }
        finally
        {
            await _fleet.StartHostAsync(lost.Name);
            var id = fixture.Ids[lost.Name];
            var scanned = await _api.PostJsonAsync($"/api/v1/hosts/{id}/host-key/scan", null, HttpStatusCode.OK);
            await _api.PostJsonAsync($"/api/v1/hosts/{id}/host-key/accept", new { fingerprint = scanned.GetProperty("hostKey").GetProperty("fingerprint").GetString() }, HttpStatusCode.OK);
        }
    }
}
