using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace NixFleet.Web.Tests.Fleet;

/// <summary>
/// Maintenance policies and fleet-wide GC on real hosts: schedules fire through Quartz on time,
/// once per scheduled time across web processes, with the parallelism and free-disk rules kept.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class MaintenancePolicyTests(MaintenancePolicyTests.Fixture fixture) : IClassFixture<MaintenancePolicyTests.Fixture>
{
    const string Garbage = "/var/lib/nixfleet-test/nixfleet-garbage-1MiB";
    readonly TestFleet _fleet = fixture.Fleet;
    readonly ApiClient _api = fixture.Admin;

    public sealed class Fixture : AppFixture
    {
        public TestFleet Fleet { get; private set; } = null!;
        public Dictionary<string, Guid> Ids { get; } = [];

        public override async Task InitializeAsync()
        {
            Fleet = await TestFleet.StartAsync("policies",
                ("multi", "pol-a", "127.0.0.85"),
                ("multi", "pol-b", "127.0.0.86"),
                ("single", "pol-c", "127.0.0.87"));
            await base.InitializeAsync();
            await Admin.ImportKeyAsync(Fleet.PrivateKey);
            foreach (var h in Fleet.Hosts) Ids[h.Name] = await Admin.AddTrustedHostAsync(h.Name, h.Address, "pol");
        }

        public override async Task DisposeAsync()
        {
            await base.DisposeAsync();
            await Fleet.DisposeAsync();
        }
    }

    /// <summary>Puts the 1 MiB garbage path back on every host; returns its store path per host.</summary>
    async Task<Dictionary<string, string>> MakeGarbageAsync()
    {
        var paths = new Dictionary<string, string>();
        foreach (var h in _fleet.Hosts)
            paths[h.Name] = await _fleet.ShAsync(h.Name, $"{(h.Kind == "single" ? "runuser -u alice -- " : "")}nix-store --add {Garbage}");
        return paths;
    }

    Task<string> ExistsAsync(string host, string path) => _fleet.ShAsync(host, $"test -e {path} && echo there || echo gone");

    async Task<JsonElement> CreatePolicyAsync(object body) =>
        await _api.PostJsonAsync("/api/v1/maintenance-policies", body, HttpStatusCode.Created);

    /// <summary>Deletes the policy, then waits for any run it started to end, so the next test has the hosts to itself.</summary>
    async Task DeletePolicyAsync(JsonElement policy)
    {
        await _api.Http.DeleteAsync($"/api/v1/maintenance-policies/{policy.GetProperty("id").GetGuid()}");
        var requestedBy = $"policy:{policy.GetProperty("name").GetString()}";
        foreach (var op in (await _api.GetJsonAsync("/api/v1/operations?limit=500")).EnumerateArray())
            if (op.GetProperty("requestedBy").GetString() == requestedBy)
                await _api.WaitForOperationAsync(op.GetProperty("id").GetGuid(), TimeSpan.FromMinutes(3));
    }

    /// <summary>Waits until the policy has a finished run, and returns that run's operation.</summary>
    async Task<JsonElement> FirstFinishedRunAsync(Guid policyId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var policy = await _api.GetJsonAsync($"/api/v1/maintenance-policies/{policyId}");
            var runs = policy.GetProperty("lastRuns").EnumerateArray().ToList();
            if (runs.Count > 0)
                return await _api.WaitForOperationAsync(runs[^1].GetProperty("operationId").GetGuid(), TimeSpan.FromMinutes(3));
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"policy {policyId} never fired: {policy}");
            await Task.Delay(500);
        }
    }

    async Task<List<JsonElement>> PartsAsync(Guid operationId) =>
        (await _api.GetJsonAsync($"/api/v1/operations?parentId={operationId}")).EnumerateArray().ToList();

    [Fact]
    public async Task Policy_FiresOnItsSchedule_CollectsOnEveryHostWithTheTag_OneHostAtATime()
    {
        var garbage = await MakeGarbageAsync();
        var body = new { name = "every-10s", tag = "pol", cron = "0/10 * * * * ?", mode = "plain", parallelism = 1 };
        var policy = await CreatePolicyAsync(body);
        var next = policy.GetProperty("nextRunAt").GetDateTimeOffset();
        try
        {
            var run = await FirstFinishedRunAsync(policy.GetProperty("id").GetGuid(), TimeSpan.FromSeconds(40));

            Assert.True(run.GetProperty("status").GetString() == "succeeded", $"{run}\n{await _api.LogTextAsync(run.GetProperty("id").GetGuid())}");
            Assert.Equal("policy:every-10s", run.GetProperty("requestedBy").GetString());
            // It fired at its scheduled time, not long after.
            Assert.InRange(run.GetProperty("createdAt").GetDateTimeOffset(), next.AddSeconds(-1), next.AddSeconds(20));
            var parts = await PartsAsync(run.GetProperty("id").GetGuid());
            Assert.Equal(_fleet.Hosts.Select(h => fixture.Ids[h.Name]).Order(), parts.Select(p => p.GetProperty("hostId").GetGuid()).Order());
            Assert.All(parts, p => Assert.Equal("gc", p.GetProperty("kind").GetString()));
            // Parallelism 1: no two hosts' parts overlap in time.
            var spans = parts.Select(p => (Start: p.GetProperty("startedAt").GetDateTimeOffset(), End: p.GetProperty("finishedAt").GetDateTimeOffset())).OrderBy(s => s.Start).ToList();
            for (var i = 1; i < spans.Count; i++) Assert.True(spans[i].Start >= spans[i - 1].End, $"parts overlap: {spans[i - 1]} and {spans[i]}");
            foreach (var h in _fleet.Hosts) Assert.Equal("gone", await ExistsAsync(h.Name, garbage[h.Name]));
            Assert.InRange(run.GetProperty("result").GetProperty("bytesFreed").GetInt64(), 3 * 1048576 - 3 * 5243, long.MaxValue);
        }
        finally
        {
            await DeletePolicyAsync(policy);
        }
    }

    [Fact]
    public async Task Policy_WithAFreeDiskCondition_LeavesHostsWithRoomAlone()
    {
        var garbage = await MakeGarbageAsync();
        // This machine's disk has more than 1% free: every host has room.
        var policy = await CreatePolicyAsync(new { name = "only-when-full", tag = "pol", cron = "0/10 * * * * ?", mode = "plain", onlyWhenFreeBelowPercent = 1, parallelism = 3 });
        try
        {
            var run = await FirstFinishedRunAsync(policy.GetProperty("id").GetGuid(), TimeSpan.FromSeconds(40));

            Assert.Equal("succeeded", run.GetProperty("status").GetString());
            var parts = await PartsAsync(run.GetProperty("id").GetGuid());
            Assert.Equal(3, parts.Count);
            Assert.All(parts, p => Assert.True(p.GetProperty("result").GetProperty("skipped").GetBoolean(), p.ToString()));
            Assert.All(parts, p => Assert.Contains("not below 1%", p.GetProperty("result").GetProperty("skipReason").GetString()));
            foreach (var h in _fleet.Hosts) Assert.Equal("there", await ExistsAsync(h.Name, garbage[h.Name]));
        }
        finally
        {
            await DeletePolicyAsync(policy);
        }
    }

    [Fact]
    public async Task TwoWebProcesses_FireEachScheduledTimeOnce_AndSkipNone()
    {
        await using var second = await NixFleetApp.StartAsync(fixture.App.ConnectionString);
        await using var conn = new Npgsql.NpgsqlConnection(fixture.App.ConnectionString);
        await conn.OpenAsync();
        await using (var nodes = new Npgsql.NpgsqlCommand("SELECT count(*) FROM qrtz_scheduler_state", conn))
            Assert.Equal(2L, (long)(await nodes.ExecuteScalarAsync())!);
        // No host has this tag: each run is quick, and only the firings are counted.
        var policy = await CreatePolicyAsync(new { name = "two-nodes", tag = "nobody", cron = "0/3 * * * * ?", mode = "plain" });
        var id = policy.GetProperty("id").GetGuid();
        await Task.Delay(TimeSpan.FromSeconds(20));
        await DeletePolicyAsync(policy);

        await using var cmd = new Npgsql.NpgsqlCommand("""
            SELECT o."CreatedAt", o."Node"
            FROM operations o WHERE o."Kind" = 'gc-batch' AND o."RequestedBy" = 'policy:two-nodes' ORDER BY o."CreatedAt"
            """, conn);
        var fired = new List<(DateTimeOffset At, string? Node)>();
        await using (var reader = await cmd.ExecuteReaderAsync())
            while (await reader.ReadAsync()) fired.Add((reader.GetFieldValue<DateTimeOffset>(0), reader.IsDBNull(1) ? null : reader.GetString(1)));

        // About one firing per 3 s while it existed, each one operation, none twice and none skipped.
        Assert.InRange(fired.Count, 5, 8);
        var gaps = fired.Zip(fired.Skip(1), (a, b) => (b.At - a.At).TotalSeconds).ToList();
        Assert.All(gaps, g => Assert.InRange(g, 1.5, 4.5));
    }

    [Fact]
    public async Task FleetGc_OnHostsWithLessThanXPercentFree_HasAResultRowPerHost()
    {
        var garbage = await MakeGarbageAsync();

        var started = await _api.PostJsonAsync("/api/v1/maintenance/gc",
            new { allHosts = true, onlyWhenFreeBelowPercent = 99, mode = "plain", parallelism = 2 }, HttpStatusCode.Accepted);
        var run = await _api.WaitForOperationAsync(started.GetProperty("operationId").GetGuid(), TimeSpan.FromMinutes(3));

        Assert.True(run.GetProperty("status").GetString() == "succeeded", $"{run}\n{await _api.LogTextAsync(run.GetProperty("id").GetGuid())}");
        var rows = run.GetProperty("result").GetProperty("hosts").EnumerateArray().ToList();
        Assert.Equal(_fleet.Hosts.Select(h => h.Name).Order(), rows.Select(r => r.GetProperty("host").GetString()).Order());
        Assert.All(rows, r => Assert.Equal("succeeded", r.GetProperty("status").GetString()));
        foreach (var h in _fleet.Hosts) Assert.Equal("gone", await ExistsAsync(h.Name, garbage[h.Name]));
        var spans = (await PartsAsync(run.GetProperty("id").GetGuid()))
            .Select(p => (Start: p.GetProperty("startedAt").GetDateTimeOffset(), End: p.GetProperty("finishedAt").GetDateTimeOffset())).ToList();
        // At each moment a part started, how many were running then.
        var mostAtOnce = spans.Max(s => spans.Count(o => o.Start <= s.Start && s.Start < o.End));
        Assert.True(mostAtOnce <= 2, $"{mostAtOnce} at once: {string.Join("; ", spans.Select(s => $"{s.Start:O} - {s.End:O}"))}\n{await _api.LogTextAsync(run.GetProperty("id").GetGuid())}");
    }
}
