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
        public WebhookReceiver Webhook { get; } = new();

        protected override IDictionary<string, string>? Environment => new Dictionary<string, string> { ["NixFleet__WebhookUrl"] = Webhook.Url };

        public override async Task InitializeAsync()
        {
            Channels = await ChannelServer.StartAsync();
            Fleet = await TestFleet.StartAsync("upgrades",
                ("nixos", "up-a", "127.0.0.150"),
                ("nixos", "up-b", "127.0.0.151"),
                ("nixos", "up-c", "127.0.0.152"),
                ("multi", "up-nix", "127.0.0.153"));
            await base.InitializeAsync();
            await Admin.ImportKeyAsync(Fleet.PrivateKey);
            foreach (var h in Fleet.Hosts) Ids[h.Name] = await Admin.AddTrustedHostAsync(h.Name, h.Address, h.Kind == "nixos" ? "up" : "up-nix");
            await Admin.CreateUserAsync("approver@example.test", "Role-pass-123", "Approver");
            Approver = await App.ClientAsync("approver@example.test", "Role-pass-123");
        }

        public override async Task DisposeAsync()
        {
            Approver.Dispose();
            await base.DisposeAsync();
            await Fleet.DisposeAsync();
            await Channels.DisposeAsync();
            Webhook.Dispose();
        }
    }

    /// <summary>Receives NixFleet's webhook POSTs on 127.0.0.1 and keeps their JSON bodies.</summary>
    public sealed class WebhookReceiver : IDisposable
    {
        readonly HttpListener _listener = new();
        readonly List<JsonElement> _events = [];

        public WebhookReceiver()
        {
            var port = System.Net.Sockets.TcpListener.Create(0) is var probe ? Start(probe) : 0;
            Url = $"http://127.0.0.1:{port}/hooks/";
            _listener.Prefixes.Add(Url);
            _listener.Start();
            _ = Task.Run(LoopAsync);
        }

        static int Start(System.Net.Sockets.TcpListener probe)
        {
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            return port;
        }

        public string Url { get; }

        public IReadOnlyList<JsonElement> Events { get { lock (_events) return _events.ToList(); } }

        async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await _listener.GetContextAsync(); }
                catch (Exception) { return; }
                using (var reader = new StreamReader(context.Request.InputStream))
                {
                    var body = JsonDocument.Parse(await reader.ReadToEndAsync()).RootElement.Clone();
                    lock (_events) _events.Add(body);
                }
                context.Response.StatusCode = 204;
                context.Response.Close();
            }
        }

        public void Dispose() => _listener.Close();
    }

    Task<string> Sh(string host, string script) => _fleet.ShAsync(host, script);

    IEnumerable<FleetHostInfo> NixosHosts => _fleet.Hosts.Where(h => h.Kind == "nixos");

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
        foreach (var h in NixosHosts) await ResetAsync(h.Name);
        var before = new Dictionary<string, (string Channels, string ChannelsProfile, string Profile, string Running)>();
        foreach (var h in NixosHosts) before[h.Name] = await StateAsync(h.Name);
        var url = fixture.Channels.Url("nixos-24.11");

        var run = await RequestAndApproveAsync(new
        {
            tag = "up", channel = new { name = "nixos", url }, action = "switch", canary = 1, batchSize = 1, parallelism = 1,
            healthCommand = "test -e /run/current-system/bin/switch-to-configuration", autoRollback = true, reason = "move to 24.11",
        });

        var upgrade = run.GetProperty("upgrade");
        Assert.True(upgrade.GetProperty("status").GetString() == "succeeded", run.ToString());
        // The outside heard the whole story, in order.
        var upgradeId = upgrade.GetProperty("id").GetGuid();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        List<string?> events;
        while ((events = fixture.Webhook.Events.Where(e => e.GetProperty("upgradeId").GetGuid() == upgradeId).Select(e => e.GetProperty("event").GetString()).ToList()).Count < 4 && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.Equal(["requested", "approved", "started", "finished"], events);
        foreach (var h in NixosHosts)
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
        Assert.Equal(HttpStatusCode.Conflict, (await _api.PostAsync($"/api/v1/upgrades/{upgrade.GetProperty("id").GetGuid()}/rollback", new { reason = "again" })).StatusCode);
        var back = await _api.WaitForOperationAsync(rollback.GetProperty("operationId").GetGuid(), TimeSpan.FromMinutes(3));
        Assert.True(back.GetProperty("status").GetString() == "succeeded", back.ToString());
        foreach (var h in NixosHosts)
        {
            Assert.Equal("system-3-link", await Sh(h.Name, $"readlink {SystemProfile}"));
            Assert.Equal(before[h.Name].Running, await Sh(h.Name, "readlink /run/current-system"));
        }
    }

    [Fact]
    public async Task FailingHealthCheckOnTheCanary_StopsTheRollout_RollsTheCanaryBack_AndLeavesTheRestUntouched()
    {
        foreach (var h in NixosHosts) await ResetAsync(h.Name);
        var before = new Dictionary<string, (string Channels, string ChannelsProfile, string Profile, string Running)>();
        foreach (var h in NixosHosts) before[h.Name] = await StateAsync(h.Name);

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
        foreach (var h in NixosHosts)
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
    [InlineData("html", "Unrecognized archive format")]
    [InlineData("truncated", "failed to open archive")]
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
        foreach (var h in NixosHosts) await ResetAsync(h.Name);
        var first = NixosHosts.OrderBy(h => h.Name).First();
        var lost = NixosHosts.OrderBy(h => h.Name).Last();
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

    [Fact]
    public async Task NixOnlyHost_UpdatesItsChannel_AndUpgradesTheProfileWithNixEnv()
    {
        const string host = "up-nix";
        var before = await Sh(host, "nix-env -q | sort");
        Assert.Contains("hello-1.0", before);
        var generation = await Sh(host, "readlink /nix/var/nix/profiles/default");

        var run = await RequestAndApproveAsync(new
        {
            tag = "up-nix", channel = new { name = "nixpkgs", url = fixture.Channels.Url("nixpkgs-new") }, action = "switch",
            healthCommand = "/nix/var/nix/profiles/default/bin/hello | grep -q v2", reason = "newer hello",
        });

        var upgrade = run.GetProperty("upgrade");
        Assert.True(upgrade.GetProperty("status").GetString() == "succeeded", run.ToString());
        var after = await Sh(host, "nix-env -q | sort");
        Assert.Contains("hello-2.0", after);
        Assert.DoesNotContain("hello-1.0", after);
        var row = HostRow(upgrade, fixture.Ids[host]);
        Assert.Equal("/nix/var/nix/profiles/default", row.GetProperty("profile").GetString());
        Assert.Equal(int.Parse(generation.Split('-')[1]), row.GetProperty("fromGeneration").GetInt32());
        Assert.Equal($"default-{row.GetProperty("toGeneration").GetInt32()}-link", await Sh(host, "readlink /nix/var/nix/profiles/default"));
        Assert.Contains(fixture.Channels.Url("nixpkgs-new"), await Sh(host, "nix-channel --list"));
    }

    [Fact]
    public async Task WebProcessKilledMidRollout_ResumesAndFinishes_WithoutUpgradingAHostTwice()
    {
        var h = _fleet.Named("up-c");
        await ResetAsync(h.Name);
        await Sh(h.Name, "echo 8 > /etc/nixfleet-test/slow-activation");
        var activations = int.Parse(await Sh(h.Name, "cat /var/lib/nixfleet-test/activations 2>/dev/null | wc -l"));
        try
        {
            // The only node on its database, so that it is the one running the rollout when it is killed.
            var database = await TestPostgres.NewDatabaseAsync();
            var doomed = await NixFleetApp.StartAsync(database);
            Guid upgradeId, rolloutId;
            using (var api = await doomed.ClientAsync())
            {
                await api.ImportKeyAsync(_fleet.PrivateKey);
                var id = await api.AddTrustedHostAsync("killed-mid-upgrade", h.Address);
                await api.CreateUserAsync("approver@example.test", "Role-pass-123", "Approver");
                upgradeId = (await api.PostJsonAsync("/api/v1/upgrades", new
                {
                    hostIds = new[] { id }, channel = new { name = "nixos", url = fixture.Channels.Url("nixos-24.11") }, action = "switch", reason = "kill test",
                }, HttpStatusCode.Created)).GetProperty("id").GetGuid();
                using var approver = await doomed.ClientAsync("approver@example.test", "Role-pass-123");
                rolloutId = (await approver.PostJsonAsync($"/api/v1/upgrades/{upgradeId}/approve", null, HttpStatusCode.OK)).GetProperty("operationId").GetGuid();
                // Wait until the host's activation runs (detached, slowed down by the host).
                var deadline = DateTime.UtcNow.AddSeconds(90);
                while (!await ActivatingAsync(api, rolloutId))
                {
                    if (DateTime.UtcNow > deadline) throw new TimeoutException("the activation never started");
                    await Task.Delay(200);
                }
            }
            await doomed.KillAsync();
            await doomed.DisposeAsync();

            await using var restarted = await NixFleetApp.StartAsync(database);
            using var survivor = await restarted.ClientAsync();
            var done = await survivor.WaitForOperationAsync(rolloutId, TimeSpan.FromMinutes(3));

            var upgrade = await survivor.GetJsonAsync($"/api/v1/upgrades/{upgradeId}");
            Assert.True(upgrade.GetProperty("status").GetString() == "succeeded", $"{done}\n{upgrade}\n{await survivor.LogTextAsync(rolloutId)}");
            Assert.Equal("system-4-link", await Sh(h.Name, $"readlink {SystemProfile}"));
            Assert.Equal("", await Sh(h.Name, $"ls -d {SystemProfile}-5-link 2>/dev/null || true"));
            // One activation, by the first attempt, followed to its end by the second.
            Assert.Equal(activations + 1, int.Parse(await Sh(h.Name, "wc -l < /var/lib/nixfleet-test/activations")));
            Assert.Equal(await Sh(h.Name, "readlink /run/current-system"), await Sh(h.Name, $"readlink -f {SystemProfile}-4-link"));
        }
        finally
        {
            await ResetAsync(h.Name);
        }
    }

    static async Task<bool> ActivatingAsync(ApiClient api, Guid rolloutId)
    {
        foreach (var part in (await api.GetJsonAsync($"/api/v1/operations?parentId={rolloutId}")).EnumerateArray())
            if ((await api.LogTextAsync(part.GetProperty("id").GetGuid())).Contains("detached from this connection")) return true;
        return false;
    }

    [Fact]
    public async Task BeforeApproval_ThePreviewBuildsTheNewSystem_ShowsTheClosureDifference_AndChangesNothing()
    {
        const string host = "up-b";
        await ResetAsync(host);
        var before = await StateAsync(host);
        var storeBefore = await Sh(host, "ls /nix/var/nix/profiles/per-user/root");

        var created = await _api.PostJsonAsync("/api/v1/upgrades", new
        {
            hostIds = new[] { fixture.Ids[host] }, channel = new { name = "nixos", url = fixture.Channels.Url("nixos-24.11") }, action = "switch", reason = "preview only",
        }, HttpStatusCode.Created);
        var preview = await _api.WaitForOperationAsync(created.GetProperty("previewOperationId").GetGuid(), TimeSpan.FromMinutes(3));

        Assert.True(preview.GetProperty("status").GetString() == "succeeded", $"{preview}\n{await _api.LogTextAsync(preview.GetProperty("id").GetGuid())}");
        var result = preview.GetProperty("result");
        Assert.StartsWith("24.11", result.GetProperty("newVersion").GetString());
        Assert.Equal(before.Running, result.GetProperty("currentSystem").GetString());
        Assert.NotEmpty(result.GetProperty("diff").GetProperty("changes").EnumerateArray());
        Assert.Equal(before, await StateAsync(host));
        Assert.Equal(storeBefore, await Sh(host, "ls /nix/var/nix/profiles/per-user/root"));
        await fixture.Approver.PostJsonAsync($"/api/v1/upgrades/{created.GetProperty("id").GetGuid()}/reject", new { reason = "only a preview" }, HttpStatusCode.OK);
    }
}
