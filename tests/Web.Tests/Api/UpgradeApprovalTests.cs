using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace NixFleet.Web.Tests.Api;

/// <summary>
/// The approval rules over HTTP, as an outside client would meet them: self-approval, one user
/// counting once, expiry, edits voiding approvals, roles, racing approvals, bad input. The hosts
/// are unreachable addresses: these tests are about who may start what, not about the hosts.
/// </summary>
public sealed class UpgradeApprovalTests(UpgradeApprovalTests.Fixture fixture) : IClassFixture<UpgradeApprovalTests.Fixture>
{
    readonly NixFleetApp _app = fixture.App;
    readonly ApiClient _admin = fixture.Admin;

    public sealed class Fixture : AppFixture
    {
        public Dictionary<string, ApiClient> As { get; } = [];
        public List<Guid> Hosts { get; } = [];

        public override async Task InitializeAsync()
        {
            await base.InitializeAsync();
            foreach (var (name, roles) in new[] { ("requester", new[] { "Operator", "Approver" }), ("approver1", new[] { "Approver" }), ("approver2", new[] { "Approver" }),
                         ("operator", new[] { "Operator" }), ("viewer", new[] { "Viewer" }) })
            {
                await Admin.CreateUserAsync($"{name}@example.test", "Role-pass-123", roles);
                As[name] = await App.ClientAsync($"{name}@example.test", "Role-pass-123");
            }
            for (var i = 0; i < 3; i++)
                Hosts.Add((await Admin.AddHostAsync($"up-{i}", $"127.0.0.{240 + i}", tags: ["approvals"])).GetProperty("id").GetGuid());
            // Two distinct approvers for hosts tagged "approvals".
            await Admin.Http.PutAsJsonAsync("/api/v1/approval-policies", new[] { new { tag = "approvals", requiredApprovals = 2, approvalTtlMinutes = 60 } });
        }
    }

    ApiClient As(string who) => fixture.As[who];

    object Request(int batchSize = 1, string url = "https://channels.example.test/nixos-24.11", string name = "nixos", string reason = "move to 24.11") =>
        new { tag = "approvals", channel = new { name, url }, action = "switch", canary = 1, batchSize, parallelism = 1, autoRollback = true, reason };

    async Task<JsonElement> CreateAsync(object? body = null) =>
        await As("requester").PostJsonAsync("/api/v1/upgrades", body ?? Request(), HttpStatusCode.Created);

    async Task<HttpResponseMessage> ApproveAsync(string who, Guid id) => await As(who).PostAsync($"/api/v1/upgrades/{id}/approve", null);

    async Task<JsonElement> GetAsync(Guid id) => await _admin.GetJsonAsync($"/api/v1/upgrades/{id}");

    static int Counting(JsonElement upgrade) => upgrade.GetProperty("approvals").EnumerateArray().Count(a => a.GetProperty("counts").GetBoolean());

    [Fact]
    public async Task NewRequest_IsPending_WithItsHostsInWaves_AndTheTagsApprovalCount()
    {
        var created = await CreateAsync();

        Assert.Equal("pending", created.GetProperty("status").GetString());
        Assert.Equal(2, created.GetProperty("requiredApprovals").GetInt32());
        var hosts = created.GetProperty("hosts").EnumerateArray().ToList();
        Assert.Equal(fixture.Hosts.Order(), hosts.Select(h => h.GetProperty("hostId").GetGuid()).Order());
        Assert.Equal([0, 1, 2], hosts.Select(h => h.GetProperty("wave").GetInt32()));
        Assert.Equal(64, created.GetProperty("hash").GetString()!.Length);
    }

    [Fact]
    public async Task TheRequester_CannotApproveTheirOwnRequest_AndTheRefusalIsAudited()
    {
        var id = (await CreateAsync()).GetProperty("id").GetGuid();
        var before = await ValidationTests.AuditRows(_app.ConnectionString, "upgrade.approve");

        var response = await ApproveAsync("requester", id);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("someone else", await response.Content.ReadAsStringAsync());
        Assert.Equal(before + 1, await ValidationTests.AuditRows(_app.ConnectionString, "upgrade.approve"));
        Assert.Empty((await GetAsync(id)).GetProperty("approvals").EnumerateArray());
    }

    [Theory]
    [InlineData("viewer")]
    [InlineData("operator")]
    public async Task OnlyApprovers_MayApproveOrReject(string who)
    {
        var id = (await CreateAsync()).GetProperty("id").GetGuid();

        Assert.Equal(HttpStatusCode.Forbidden, (await ApproveAsync(who, id)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await As(who).PostAsync($"/api/v1/upgrades/{id}/reject", new { reason = "no" })).StatusCode);
        var now = await GetAsync(id);
        Assert.Equal("pending", now.GetProperty("status").GetString());
        Assert.Empty(now.GetProperty("approvals").EnumerateArray());
    }

    [Fact]
    public async Task OneUserApprovingTwice_CountsOnce()
    {
        var id = (await CreateAsync()).GetProperty("id").GetGuid();

        Assert.Equal(HttpStatusCode.OK, (await ApproveAsync("approver1", id)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ApproveAsync("approver1", id)).StatusCode);

        var now = await GetAsync(id);
        Assert.Equal("pending", now.GetProperty("status").GetString());
        Assert.Equal(1, Counting(now));
    }

    [Fact]
    public async Task AnExpiredApproval_NoLongerCounts()
    {
        var id = (await CreateAsync()).GetProperty("id").GetGuid();
        await ApproveAsync("approver1", id);
        await using (var conn = new Npgsql.NpgsqlConnection(_app.ConnectionString))
        {
            await conn.OpenAsync();
            await using var cmd = new Npgsql.NpgsqlCommand("""UPDATE upgrade_approvals SET "ExpiresAt" = now() - interval '1 second' WHERE "RequestId" = $1""", conn);
            cmd.Parameters.AddWithValue(id);
            await cmd.ExecuteNonQueryAsync();
        }

        await ApproveAsync("approver2", id);

        var now = await GetAsync(id);
        Assert.Equal("pending", now.GetProperty("status").GetString());
        Assert.Equal(1, Counting(now));
    }

    [Fact]
    public async Task ARequestChangedAfterAnApproval_VoidsThatApproval()
    {
        var created = await CreateAsync();
        var id = created.GetProperty("id").GetGuid();
        await ApproveAsync("approver1", id);

        var edited = await As("requester").Http.PutAsJsonAsync($"/api/v1/upgrades/{id}", Request(batchSize: 2));
        Assert.Equal(HttpStatusCode.OK, edited.StatusCode);
        await ApproveAsync("approver2", id);

        var now = await GetAsync(id);
        Assert.NotEqual(created.GetProperty("hash").GetString(), now.GetProperty("hash").GetString());
        Assert.Equal("pending", now.GetProperty("status").GetString());
        Assert.Equal(1, Counting(now));
        Assert.False(now.GetProperty("approvals").EnumerateArray().Single(a => a.GetProperty("approver").GetString() == "approver1@example.test").GetProperty("counts").GetBoolean());
        // Only the requester may change it.
        Assert.Equal(HttpStatusCode.Forbidden, (await As("operator").Http.PutAsJsonAsync($"/api/v1/upgrades/{id}", Request())).StatusCode);
    }

    [Fact]
    public async Task ARejection_EndsTheRequest_WithItsReason()
    {
        var id = (await CreateAsync()).GetProperty("id").GetGuid();

        Assert.Equal(HttpStatusCode.BadRequest, (await As("approver1").PostAsync($"/api/v1/upgrades/{id}/reject", new { reason = "" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await As("approver1").PostAsync($"/api/v1/upgrades/{id}/reject", new { reason = "not during the sale" })).StatusCode);

        var now = await GetAsync(id);
        Assert.Equal("rejected", now.GetProperty("status").GetString());
        Assert.Equal("not during the sale", now.GetProperty("decisionReason").GetString());
        Assert.Equal(HttpStatusCode.Conflict, (await ApproveAsync("approver2", id)).StatusCode);
    }

    [Fact]
    public async Task TwoApprovalsRacing_StartOneRollout()
    {
        var id = (await CreateAsync()).GetProperty("id").GetGuid();

        await Task.WhenAll(ApproveAsync("approver1", id), ApproveAsync("approver2", id));

        var now = await GetAsync(id);
        Assert.NotEqual("pending", now.GetProperty("status").GetString());
        var rollouts = (await _admin.GetJsonAsync("/api/v1/operations?limit=500")).EnumerateArray()
            .Where(o => o.GetProperty("kind").GetString() == "upgrade-rollout" && o.GetProperty("requestedBy").GetString() == $"upgrade:{id}").ToList();
        Assert.Single(rollouts);
        Assert.Equal(now.GetProperty("operationId").GetGuid(), rollouts[0].GetProperty("id").GetGuid());
        await _admin.PostAsync($"/api/v1/upgrades/{id}/abort", null);
        await _admin.WaitForOperationAsync(rollouts[0].GetProperty("id").GetGuid(), TimeSpan.FromMinutes(2));
    }

    [Fact]
    public async Task ARequestWhoseWindowPassed_IsNotStartedLate_ItWaitsForADecision()
    {
        var body = new
        {
            tag = "approvals", channel = new { name = "nixos", url = "https://channels.example.test/nixos-24.11" }, action = "switch", reason = "short window",
            notAfter = DateTimeOffset.UtcNow.AddSeconds(2),
        };
        var id = (await CreateAsync(body)).GetProperty("id").GetGuid();
        await ApproveAsync("approver1", id);
        await Task.Delay(TimeSpan.FromSeconds(3));
        var missed = await ValidationTests.AuditRows(_app.ConnectionString, "upgrade.window-missed");

        Assert.Equal(HttpStatusCode.OK, (await ApproveAsync("approver2", id)).StatusCode);

        var now = await GetAsync(id);
        Assert.Equal("pending", now.GetProperty("status").GetString());
        Assert.Equal(2, Counting(now));
        Assert.Equal(JsonValueKind.Null, now.GetProperty("operationId").ValueKind);
        Assert.Equal(missed + 1, await ValidationTests.AuditRows(_app.ConnectionString, "upgrade.window-missed"));
    }

    public static TheoryData<string, object> BadRequests() => new()
    {
        { "notAfter", new { tag = "approvals", channel = new { name = "nixos", url = "https://x.test/c" }, action = "switch", reason = "r", notAfter = DateTimeOffset.UtcNow.AddMinutes(-1) } },
        { "channel.name", new { tag = "approvals", channel = new { name = "nixos; rm -rf /", url = "https://x.test/c" }, action = "switch", reason = "r" } },
        { "channel.name", new { tag = "approvals", channel = new { name = "$(reboot)", url = "https://x.test/c" }, action = "switch", reason = "r" } },
        { "channel.name", new { tag = "approvals", channel = new { name = "-rf", url = "https://x.test/c" }, action = "switch", reason = "r" } },
        { "channel.url", new { tag = "approvals", channel = new { name = "nixos", url = "https://x.test/c`id`" }, action = "switch", reason = "r" } },
        { "channel.url", new { tag = "approvals", channel = new { name = "nixos", url = "https://x.test/c d" }, action = "switch", reason = "r" } },
        { "channel.url", new { tag = "approvals", channel = new { name = "nixos", url = "file:///etc/nixfleet-test/channels/nixos.tar.xz" }, action = "switch", reason = "r" } },
        { "channel.url", new { tag = "approvals", channel = new { name = "nixos", url = "ftp://x.test/c" }, action = "switch", reason = "r" } },
        { "channel.url", new { tag = "approvals", channel = new { name = "nixos", url = "" }, action = "switch", reason = "r" } },
        { "hostIds", new { hostIds = Array.Empty<Guid>(), channel = new { name = "nixos", url = "https://x.test/c" }, action = "switch", reason = "r" } },
        { "hostIds", new { hostIds = new[] { Guid.NewGuid() }, channel = new { name = "nixos", url = "https://x.test/c" }, action = "switch", reason = "r" } },
        { "tag", new { tag = "no-such-hosts", channel = new { name = "nixos", url = "https://x.test/c" }, action = "switch", reason = "r" } },
        { "batchSize", new { tag = "approvals", channel = new { name = "nixos", url = "https://x.test/c" }, action = "switch", batchSize = 0, reason = "r" } },
        { "action", new { tag = "approvals", channel = new { name = "nixos", url = "https://x.test/c" }, action = "test", reason = "r" } },
        { "canary", new { tag = "approvals", channel = new { name = "nixos", url = "https://x.test/c" }, action = "switch", canary = 9, reason = "r" } },
        { "healthCommand", new { tag = "approvals", channel = new { name = "nixos", url = "https://x.test/c" }, action = "switch", healthCommand = "true\nreboot", reason = "r" } },
        { "reason", new { tag = "approvals", channel = new { name = "nixos", url = "https://x.test/c" }, action = "switch", reason = "" } },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadRequest_Is400NamingTheField_AndNothingIsCreated(string field, object body)
    {
        var before = (await _admin.GetJsonAsync("/api/v1/upgrades")).GetArrayLength();

        var response = await As("requester").PostAsync("/api/v1/upgrades", body);

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode} {text}");
        Assert.True(JsonDocument.Parse(text).RootElement.GetProperty("errors").TryGetProperty(field, out _), $"expected an error for {field}: {text}");
        Assert.Equal(before, (await _admin.GetJsonAsync("/api/v1/upgrades")).GetArrayLength());
    }

    [Theory]
    [InlineData("nixos; rm -rf /", "https://x.test/c")]
    [InlineData("nixos", "https://x.test/$(reboot)")]
    [InlineData("nixos", "file:///etc/passwd")]
    public async Task ChannelAdd_WithHostileInput_Is400_AndNothingIsQueued(string name, string url)
    {
        var ops = (await _admin.GetJsonAsync("/api/v1/operations?limit=500")).GetArrayLength();
        var response = await As("operator").PostAsync($"/api/v1/hosts/{fixture.Hosts[0]}/channels", new { name, url });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(ops, (await _admin.GetJsonAsync("/api/v1/operations?limit=500")).GetArrayLength());
    }
}
