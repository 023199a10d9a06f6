using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace NixFleet.Web.Tests.Api;

/// <summary>Bad input gets a 400 naming the field, and nothing is saved.</summary>
public sealed class ValidationTests(AppFixture fixture) : IClassFixture<AppFixture>
{
    readonly NixFleetApp _app = fixture.App;
    readonly ApiClient _api = fixture.Admin;

    public static TheoryData<string, object> BadHosts => new()
    {
        { "name", new { name = "", address = "127.0.0.1", port = 22 } },
        { "name", new { name = new string('a', 64), address = "127.0.0.1", port = 22 } },
        { "name", new { name = "; touch /tmp/pwn", address = "127.0.0.1", port = 22 } },
        { "name", new { name = "$(reboot)", address = "127.0.0.1", port = 22 } },
        { "address", new { name = "h", address = "127.0.0.1 -oProxyCommand=x", port = 22 } },
        { "address", new { name = "h", address = "-oProxyCommand=touch /tmp/pwn", port = 22 } },
        { "address", new { name = "h", address = "host`id`", port = 22 } },
        { "address", new { name = "h", address = "", port = 22 } },
        { "port", new { name = "h", address = "127.0.0.1", port = 0 } },
        { "port", new { name = "h", address = "127.0.0.1", port = 70000 } },
        { "user", new { name = "h", address = "127.0.0.1", port = 22, user = "-oProxyCommand" } },
        { "user", new { name = "h", address = "127.0.0.1", port = 22, user = "root@evil" } },
        { "tags", new { name = "h", address = "127.0.0.1", port = 22, tags = new[] { "Bad Tag" } } },
        { "tags", new { name = "h", address = "127.0.0.1", port = 22, tags = new[] { "ok", "x;rm -rf /" } } },
        { "hostKey", new { name = "h", address = "127.0.0.1", port = 22, hostKey = "ssh-ed25519 AAAA\nmalicious" } },
    };

    [Theory]
    [MemberData(nameof(BadHosts))]
    public async Task AddHost_WithBadField_Returns400NamingTheField_AndSavesNothing(string field, object body)
    {
        var hostsBefore = (await _api.GetJsonAsync("/api/v1/hosts")).GetProperty("total").GetInt32();
        var auditBefore = await AuditRows(_app.ConnectionString, "host.add");
        var response = await _api.Http.PostAsJsonAsync("/api/v1/hosts", body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"expected an error for '{field}': {problem}");
        var hosts = await _api.GetJsonAsync("/api/v1/hosts");
        Assert.Equal(hostsBefore, hosts.GetProperty("total").GetInt32());
        Assert.Equal(auditBefore, await AuditRows(_app.ConnectionString, "host.add"));
    }

    [Fact]
    public async Task AddHost_WithDuplicateName_Returns400()
    {
        await _api.AddHostAsync("dup", "127.0.0.250");
        var response = await _api.Http.PostAsJsonAsync("/api/v1/hosts", new { name = "dup", address = "127.0.0.251", port = 22 });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("exists already", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Search_TreatsUnderscoreAndPercentAsText()
    {
        await _api.AddHostAsync("my_host", "127.0.0.250");
        await _api.AddHostAsync("myxhost", "127.0.0.250");

        var found = await _api.GetJsonAsync("/api/v1/hosts?q=my_host");
        Assert.Equal(["my_host"], found.GetProperty("items").EnumerateArray().Select(h => h.GetProperty("name").GetString()));
        Assert.Equal(0, (await _api.GetJsonAsync("/api/v1/hosts?q=%25")).GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task AcceptKey_WithAFingerprintOtherThanTheScannedOne_IsRefusedAndNothingIsTrusted()
    {
        var host = await _api.AddHostAsync("nokey", "127.0.0.250");
        var id = host.GetProperty("id").GetGuid();
        var response = await _api.Http.PostAsJsonAsync($"/api/v1/hosts/{id}/host-key/accept", new { fingerprint = "SHA256:forged" });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var after = await _api.GetJsonAsync($"/api/v1/hosts/{id}");
        Assert.Equal("unverified", after.GetProperty("hostKey").GetProperty("status").GetString());
    }

    [Fact]
    public async Task AuditTrail_RefusesUpdateAndDelete()
    {
        await _api.AddHostAsync("audited", "127.0.0.250");
        var rows = await AuditRows(_app.ConnectionString, "host.add");
        await using var conn = new Npgsql.NpgsqlConnection(_app.ConnectionString);
        await conn.OpenAsync();
        foreach (var sql in new[] { "UPDATE audit SET \"Actor\" = 'someone else'", "DELETE FROM audit", "TRUNCATE audit" })
        {
            await using var cmd = new Npgsql.NpgsqlCommand(sql, conn);
            var e = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => cmd.ExecuteNonQueryAsync());
            Assert.Contains("append-only", e.MessageText);
        }
        Assert.Equal(rows, await AuditRows(_app.ConnectionString, "host.add"));
    }

    internal static async Task<long> AuditRows(string connectionString, string action)
    {
        await using var conn = new Npgsql.NpgsqlConnection(connectionString);
        await conn.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand("SELECT count(*) FROM audit WHERE \"Action\" = $1", conn);
        cmd.Parameters.AddWithValue(action);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
