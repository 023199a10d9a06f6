using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace NixFleet.Web.Tests.Api;

/// <summary>
/// Conversion requests checked at the edge: bad options get a 400 naming the field, only an admin
/// may plan, convert or revert, and a host that cannot be used or does not exist is refused;
/// in every case nothing is queued or audited.
/// </summary>
public sealed class ConversionValidationTests(ConversionValidationTests.Fixture fixture) : IClassFixture<ConversionValidationTests.Fixture>
{
    readonly NixFleetApp _app = fixture.App;
    readonly ApiClient _api = fixture.Admin;

    public sealed class Fixture : AppFixture
    {
        public ApiClient Operator { get; private set; } = null!;
        public ApiClient Viewer { get; private set; } = null!;

        public override async Task InitializeAsync()
        {
            await base.InitializeAsync();
            await Admin.CreateUserAsync("operator@example.test", "Role-pass-123", "Operator");
            await Admin.CreateUserAsync("viewer@example.test", "Role-pass-123", "Viewer");
            Operator = await App.ClientAsync("operator@example.test", "Role-pass-123");
            Viewer = await App.ClientAsync("viewer@example.test", "Role-pass-123");
        }

        public override async Task DisposeAsync()
        {
            Operator.Dispose();
            Viewer.Dispose();
            await base.DisposeAsync();
        }
    }

    public static TheoryData<string, object> BadOptions() => new()
    {
        { "dryRun", new { } },
        { "dryRun", new { buildUsers = 4 } },
        { "buildUsers", new { dryRun = true, buildUsers = 0 } },
        { "buildUsers", new { dryRun = true, buildUsers = -1 } },
        { "buildUsers", new { dryRun = true, buildUsers = 257 } },
        { "buildUsers", new { dryRun = true, buildUsers = 10_000_000_000L } },
        { "buildUsers", new { dryRun = true, buildUsers = "32" } },
        { "buildUsers", new { dryRun = true, buildUsers = 2.5 } },
        { "groupId", new { dryRun = true, groupId = 0 } },
        { "groupId", new { dryRun = false, groupId = -30000 } },
        { "groupId", new { dryRun = true, groupId = 3_000_000_000L } },
        { "groupId", new { dryRun = true, groupId = "30000; reboot" } },
        { "firstUserId", new { dryRun = true, firstUserId = 0 } },
        { "firstUserId", new { dryRun = false, firstUserId = 2_000_000_001 } },
        { "firstUserId", new { dryRun = true, firstUserId = new[] { 1 } } },
    };

    async Task<Guid> HostAsync() =>
        (await _api.AddHostAsync($"c-{Guid.NewGuid():N}"[..20], "127.0.0.250")).GetProperty("id").GetGuid();

    async Task<(int Operations, long Requests, long Reverts)> CountsAsync() => (
        (await _api.GetJsonAsync("/api/v1/operations?limit=500")).GetArrayLength(),
        await ValidationTests.AuditRows(_app.ConnectionString, "host.convert.request"),
        await ValidationTests.AuditRows(_app.ConnectionString, "host.convert.revert.request"));

    static async Task AssertBadRequestNaming(HttpResponseMessage response, string field)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {body}");
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"expected an error for '{field}': {body}");
    }

    [Theory]
    [MemberData(nameof(BadOptions))]
    public async Task Convert_WithBadOptions_Is400NamingTheField_AndNothingIsQueued(string field, object body)
    {
        var id = await HostAsync();
        var before = await CountsAsync();

        await AssertBadRequestNaming(await _api.PostAsync($"/api/v1/hosts/{id}/convert", body), field);

        Assert.Equal(before, await CountsAsync());
    }

    [Theory]
    [MemberData(nameof(BadOptions))]
    public async Task FleetConvert_WithBadOptions_Is400NamingTheField_AndNothingIsQueued(string field, object body)
    {
        var request = new Dictionary<string, object?> { ["hostIds"] = new[] { await HostAsync() } };
        foreach (var p in JsonSerializer.SerializeToElement(body, JsonSerializerOptions.Web).EnumerateObject()) request[p.Name] = p.Value;
        var before = await CountsAsync();

        await AssertBadRequestNaming(await _api.PostAsync("/api/v1/convert", request), field);

        Assert.Equal(before, await CountsAsync());
    }

    public static TheoryData<string, object> BadBatches() => new()
    {
        { "hostIds", new { dryRun = true } },
        { "hostIds", new { dryRun = true, hostIds = new[] { Guid.NewGuid() }, tag = "web" } },
        { "tag", new { dryRun = true, tag = "x;rm -rf /" } },
        { "parallelism", new { dryRun = true, tag = "web", parallelism = 0 } },
        { "parallelism", new { dryRun = true, tag = "web", parallelism = "4" } },
    };

    [Theory]
    [MemberData(nameof(BadBatches))]
    public async Task FleetConvert_WithBadScope_Is400NamingTheField_AndNothingIsQueued(string field, object body)
    {
        var before = await CountsAsync();
        await AssertBadRequestNaming(await _api.PostAsync("/api/v1/convert", body), field);
        Assert.Equal(before, await CountsAsync());
    }

    [Fact]
    public async Task Convert_WithDryRunNotABoolean_Is400_AndNothingIsQueued()
    {
        var id = await HostAsync();
        var before = await CountsAsync();

        var response = await _api.PostAsync($"/api/v1/hosts/{id}/convert", new { dryRun = "yes" });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(before, await CountsAsync());
    }

    [Fact]
    public async Task OperatorAndViewer_Get403_OnConvertPlanAndRevert_AndNothingIsQueued()
    {
        var id = await HostAsync();
        var before = await CountsAsync();

        foreach (var client in new[] { fixture.Operator, fixture.Viewer })
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsync($"/api/v1/hosts/{id}/convert", new { dryRun = true })).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsync($"/api/v1/hosts/{id}/convert", new { dryRun = false })).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsync($"/api/v1/hosts/{id}/convert/revert", null)).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsync("/api/v1/convert", new { dryRun = true, hostIds = new[] { id } })).StatusCode);
        }
        // Reading a receipt is for every role: this host has none.
        Assert.Equal(HttpStatusCode.NotFound, (await fixture.Viewer.Http.GetAsync($"/api/v1/hosts/{id}/convert/receipt")).StatusCode);
        Assert.Equal(before, await CountsAsync());
    }

    [Fact]
    public async Task UnknownHost_Is404()
    {
        var id = Guid.NewGuid();
        Assert.Equal(HttpStatusCode.NotFound, (await _api.PostAsync($"/api/v1/hosts/{id}/convert", new { dryRun = true })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.PostAsync($"/api/v1/hosts/{id}/convert/revert", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.Http.GetAsync($"/api/v1/hosts/{id}/convert/receipt")).StatusCode);
    }

    [Fact]
    public async Task HostWhoseKeyIsNotTrusted_Is409_AndNothingIsQueued()
    {
        var id = await HostAsync();
        var before = await CountsAsync();

        foreach (var response in new[]
        {
            await _api.PostAsync($"/api/v1/hosts/{id}/convert", new { dryRun = true }),
            await _api.PostAsync($"/api/v1/hosts/{id}/convert", new { dryRun = false, buildUsers = 4 }),
            await _api.PostAsync($"/api/v1/hosts/{id}/convert/revert", null),
        })
        {
            Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
            Assert.Contains("host key is unverified", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
        }
        Assert.Equal(before, await CountsAsync());
    }
}
