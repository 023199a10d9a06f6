using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace NixFleet.Web.Tests.Api;

/// <summary>Bad maintenance requests get a 400 naming the field; nothing is queued, scheduled or audited.</summary>
public sealed class MaintenanceValidationTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    readonly NixFleetApp _app = fixture.App;
    readonly ApiClient _api = fixture.Admin;

    static readonly string[] Hostile =
    [
        "; rm -rf /", "$(reboot)", "`id`", "/nix/var/nix/profiles/../../etc/passwd", "relative/profile",
        "/nix/var/nix/profiles/system\n--delete-generations", "/nix/var/nix/profiles/a b", "-p", "/nix/var/nix/profiles/x;touch /tmp/pwn", "",
    ];

    public static TheoryData<string, object> BadGcs()
    {
        var data = new TheoryData<string, object>
        {
            { "mode", new { } },
            { "mode", new { mode = "everything" } },
            { "mode", new { mode = "PLAIN" } },
            { "olderThanDays", new { mode = "olderThan" } },
            { "olderThanDays", new { mode = "olderThan", olderThanDays = -3 } },
            { "olderThanDays", new { mode = "olderThan", olderThanDays = 0 } },
            { "olderThanDays", new { mode = "olderThan", olderThanDays = 1_000_000 } },
            { "olderThanDays", new { mode = "olderThan", olderThanDays = "30d" } },
            { "olderThanDays", new { mode = "olderThan", olderThanDays = 2.5 } },
            { "olderThanDays", new { mode = "plain", olderThanDays = 30 } },
            { "keepLast", new { mode = "keepLast", keepLast = 0 } },
            { "keepLast", new { mode = "keepLast", keepLast = -1 } },
            { "keepLast", new { mode = "keepLast" } },
            { "keepLast", new { mode = "keepLast", keepLast = 100_000 } },
            { "keepLast", new { mode = "deleteOld", keepLast = 3 } },
            { "profiles", new { mode = "plain", profiles = new[] { "/nix/var/nix/profiles/system" } } },
            { "profiles", new { mode = "keepLast", keepLast = 2, profiles = Enumerable.Range(0, 21).Select(i => $"/nix/var/nix/profiles/p{i}").ToArray() } },
        };
        foreach (var bad in Hostile) data.Add("profiles", new { mode = "keepLast", keepLast = 2, profiles = new[] { "/nix/var/nix/profiles/default", bad } });
        return data;
    }

    async Task<Guid> HostAsync() =>
        (await _api.AddHostAsync($"v-{Guid.NewGuid():N}"[..20], "127.0.0.250")).GetProperty("id").GetGuid();

    async Task<(int Operations, long Audit)> CountsAsync(string action) =>
        ((await _api.GetJsonAsync("/api/v1/operations?limit=500")).GetArrayLength(), await ValidationTests.AuditRows(_app.ConnectionString, action));

    static async Task AssertBadRequestNaming(HttpResponseMessage response, string field)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {body}");
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"expected an error for '{field}': {body}");
    }

    [Theory]
    [MemberData(nameof(BadGcs))]
    public async Task Gc_WithBadInput_Is400NamingTheField_AndNothingRuns(string field, object body)
    {
        var id = await HostAsync();
        var before = await CountsAsync("store.gc.request");

        await AssertBadRequestNaming(await _api.PostAsync($"/api/v1/hosts/{id}/gc", body), field);

        Assert.Equal(before, await CountsAsync("store.gc.request"));
    }

    [Theory]
    [MemberData(nameof(BadGcs))]
    public async Task FleetGc_WithBadInput_Is400NamingTheField_AndNothingRuns(string field, object body)
    {
        var request = JsonSerializer.SerializeToElement(body, JsonSerializerOptions.Web);
        var withHosts = new Dictionary<string, object?> { ["allHosts"] = true };
        foreach (var p in request.EnumerateObject()) withHosts[p.Name] = p.Value;
        var before = await CountsAsync("store.gc.batch.request");

        await AssertBadRequestNaming(await _api.PostAsync("/api/v1/maintenance/gc", withHosts), field);

        Assert.Equal(before, await CountsAsync("store.gc.batch.request"));
    }

    public static TheoryData<string, object> BadBatches() => new()
    {
        { "hostIds", new { mode = "plain" } },
        { "hostIds", new { mode = "plain", tag = "web", allHosts = true } },
        { "tag", new { mode = "plain", tag = "Web Servers" } },
        { "tag", new { mode = "plain", tag = "x;rm -rf /" } },
        { "onlyWhenFreeBelowPercent", new { mode = "plain", allHosts = true, onlyWhenFreeBelowPercent = 0 } },
        { "onlyWhenFreeBelowPercent", new { mode = "plain", allHosts = true, onlyWhenFreeBelowPercent = 100 } },
        { "parallelism", new { mode = "plain", allHosts = true, parallelism = 0 } },
        { "parallelism", new { mode = "plain", allHosts = true, parallelism = 1000 } },
    };

    [Theory]
    [MemberData(nameof(BadBatches))]
    public async Task FleetGc_WithBadScope_Is400NamingTheField_AndNothingRuns(string field, object body)
    {
        var before = await CountsAsync("store.gc.batch.request");
        await AssertBadRequestNaming(await _api.PostAsync("/api/v1/maintenance/gc", body), field);
        Assert.Equal(before, await CountsAsync("store.gc.batch.request"));
    }

    static object Policy(string? cron = "0 0 3 * * ?", string? mode = "plain", object? keepLast = null, object? days = null, string? name = "nightly",
        string? tag = null, object? free = null, object? parallelism = null, string[]? profiles = null) =>
        new { name, tag, cron, mode, keepLast, olderThanDays = days, onlyWhenFreeBelowPercent = free, parallelism, profiles };

    public static TheoryData<string, object> BadPolicies()
    {
        var data = new TheoryData<string, object>
        {
            { "cron", Policy(cron: null) },
            { "cron", Policy(cron: "every night") },
            { "cron", Policy(cron: "0 3 * * *") },
            { "cron", Policy(cron: "0 0 25 * * ?") },
            { "cron", Policy(cron: "0 0 3 * * ? 2001") },
            { "cron", Policy(cron: "0 0 3 * * ?\n0 0 4 * * ?") },
            { "mode", Policy(mode: "deleteOld") },
            { "mode", Policy(mode: "nuke") },
            { "keepLast", Policy(mode: "keepLast", keepLast: 0) },
            { "olderThanDays", Policy(mode: "olderThan", days: -1) },
            { "olderThanDays", Policy(mode: "olderThan", days: 99_999) },
            { "name", Policy(name: "") },
            { "name", Policy(name: new string('n', 101)) },
            { "name", Policy(name: "a $(reboot) b") },
            { "tag", Policy(tag: "Not A Tag") },
            { "onlyWhenFreeBelowPercent", Policy(free: 150) },
            { "parallelism", Policy(parallelism: -2) },
        };
        foreach (var bad in Hostile) data.Add("profiles", Policy(mode: "keepLast", keepLast: 3, profiles: ["/nix/var/nix/profiles/default", bad]));
        return data;
    }

    [Theory]
    [MemberData(nameof(BadPolicies))]
    public async Task Policy_WithBadInput_Is400NamingTheField_AndNothingIsSavedOrScheduled(string field, object body)
    {
        var policies = (await _api.GetJsonAsync("/api/v1/maintenance-policies")).GetArrayLength();
        var audit = await ValidationTests.AuditRows(_app.ConnectionString, "maintenance.policy.create");
        var jobs = await ScheduledPolicyJobsAsync();

        await AssertBadRequestNaming(await _api.PostAsync("/api/v1/maintenance-policies", body), field);

        Assert.Equal(policies, (await _api.GetJsonAsync("/api/v1/maintenance-policies")).GetArrayLength());
        Assert.Equal(audit, await ValidationTests.AuditRows(_app.ConnectionString, "maintenance.policy.create"));
        Assert.Equal(jobs, await ScheduledPolicyJobsAsync());
    }

    [Fact]
    public async Task Policy_Update_WithBadInput_ChangesNothing()
    {
        var created = await _api.PostJsonAsync("/api/v1/maintenance-policies", Policy(name: "keep", mode: "keepLast", keepLast: 1), HttpStatusCode.Created);
        var id = created.GetProperty("id").GetGuid();
        Assert.Contains("nothing is left to roll back", created.GetProperty("warnings")[0].GetString());

        var response = await _api.Http.PutAsJsonAsync($"/api/v1/maintenance-policies/{id}", Policy(name: "keep", cron: "0 61 * * * ?"));

        await AssertBadRequestNaming(response, "cron");
        var now = await _api.GetJsonAsync($"/api/v1/maintenance-policies/{id}");
        Assert.Equal("0 0 3 * * ?", now.GetProperty("cron").GetString());
        Assert.Equal("keepLast", now.GetProperty("mode").GetString());
        Assert.Equal(HttpStatusCode.NoContent, (await _api.Http.DeleteAsync($"/api/v1/maintenance-policies/{id}")).StatusCode);
        Assert.Equal(0, await ScheduledPolicyJobsAsync(id));
    }

    [Fact]
    public async Task Policy_CreatedAndDeleted_HasATriggerOnlyWhileItExists_AndSaysWhenItRunsNext()
    {
        var created = await _api.PostJsonAsync("/api/v1/maintenance-policies", Policy(name: "sunday", cron: "0 0 4 ? * SUN"), HttpStatusCode.Created);
        var id = created.GetProperty("id").GetGuid();
        var next = created.GetProperty("nextRunAt").GetDateTimeOffset();

        Assert.Equal(DayOfWeek.Sunday, next.UtcDateTime.DayOfWeek);
        Assert.Equal(4, next.UtcDateTime.Hour);
        Assert.InRange(next, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(7));
        Assert.Equal(1, await ScheduledPolicyJobsAsync(id));
        var duplicate = await _api.PostAsync("/api/v1/maintenance-policies", Policy(name: "sunday"));
        await AssertBadRequestNaming(duplicate, "name");

        Assert.Equal(HttpStatusCode.NoContent, (await _api.Http.DeleteAsync($"/api/v1/maintenance-policies/{id}")).StatusCode);
        Assert.Equal(0, await ScheduledPolicyJobsAsync(id));
        Assert.Equal(HttpStatusCode.NotFound, (await _api.Http.GetAsync($"/api/v1/maintenance-policies/{id}")).StatusCode);
    }

    /// <summary>Policy jobs in Quartz's store (all, or one policy's).</summary>
    async Task<long> ScheduledPolicyJobsAsync(Guid? policy = null)
    {
        await using var conn = new Npgsql.NpgsqlConnection(_app.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand(
            "SELECT count(*) FROM qrtz_job_details WHERE job_group = 'maintenance' AND ($1 = '' OR job_name = $1)", conn);
        cmd.Parameters.AddWithValue(policy?.ToString() ?? "");
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
