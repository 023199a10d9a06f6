using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace NixFleet.Web.Tests.Api;

/// <summary>Every API route enforces its role: anonymous gets 401, a role below the minimum 403.</summary>
public sealed class RoleTests(RoleTests.Fixture fixture) : IClassFixture<RoleTests.Fixture>
{
    readonly NixFleetApp _app = fixture.App;
    readonly Dictionary<string, ApiClient> _as = fixture.As;

    public sealed class Fixture : AppFixture
    {
        public Dictionary<string, ApiClient> As { get; } = [];

        public override async Task InitializeAsync()
        {
            await base.InitializeAsync();
            As["Admin"] = Admin;
            foreach (var role in new[] { "Viewer", "Operator", "Approver" })
            {
                var email = $"{role.ToLowerInvariant()}@example.test";
                await Admin.CreateUserAsync(email, "Role-pass-123", role);
                As[role] = await App.ClientAsync(email, "Role-pass-123");
            }
        }
    }

    // Every route in the OpenAPI document must appear here with the least role that may call it.
    static readonly (string Method, string Path, string MinRole)[] Routes =
    [
        ("GET", "/api/v1/hosts", "Viewer"),
        ("POST", "/api/v1/hosts", "Operator"),
        ("GET", "/api/v1/hosts/{id}", "Viewer"),
        ("DELETE", "/api/v1/hosts/{id}", "Operator"),
        ("GET", "/api/v1/hosts/{id}/facts", "Viewer"),
        ("POST", "/api/v1/hosts/{id}/host-key/scan", "Operator"),
        ("POST", "/api/v1/hosts/{id}/host-key/accept", "Operator"),
        ("POST", "/api/v1/hosts/{id}/refresh", "Operator"),
        ("POST", "/api/v1/fleet/refresh", "Operator"),
        ("GET", "/api/v1/operations", "Viewer"),
        ("GET", "/api/v1/operations/{id}", "Viewer"),
        ("GET", "/api/v1/operations/{id}/log", "Viewer"),
        ("GET", "/api/v1/operations/{id}/stream", "Viewer"),
        ("POST", "/api/v1/operations/{id}/cancel", "Operator"),
        ("GET", "/api/v1/ssh-key", "Viewer"),
        ("POST", "/api/v1/ssh-key/import", "Admin"),
        ("GET", "/api/v1/hosts/{id}/generations", "Viewer"),
        ("GET", "/api/v1/hosts/{id}/generations/diff", "Viewer"),
        ("POST", "/api/v1/hosts/{id}/rollback", "Operator"),
        ("POST", "/api/v1/hosts/{id}/generations/delete", "Operator"),
        ("POST", "/api/v1/rollbacks", "Operator"),
        ("POST", "/api/v1/hosts/{id}/gc", "Operator"),
        ("POST", "/api/v1/hosts/{id}/optimise", "Operator"),
        ("POST", "/api/v1/hosts/{id}/verify", "Operator"),
        ("POST", "/api/v1/maintenance/gc", "Operator"),
        ("GET", "/api/v1/maintenance-policies", "Viewer"),
        ("POST", "/api/v1/maintenance-policies", "Operator"),
        ("GET", "/api/v1/maintenance-policies/{id}", "Viewer"),
        ("PUT", "/api/v1/maintenance-policies/{id}", "Operator"),
        ("DELETE", "/api/v1/maintenance-policies/{id}", "Operator"),
        ("GET", "/api/v1/hosts/{id}/channels", "Viewer"),
        ("POST", "/api/v1/hosts/{id}/channels", "Operator"),
        ("DELETE", "/api/v1/hosts/{id}/channels", "Operator"),
        ("POST", "/api/v1/hosts/{id}/channels/update", "Operator"),
        ("POST", "/api/v1/hosts/{id}/channels/rollback", "Operator"),
        ("POST", "/api/v1/channel-changes", "Operator"),
        ("GET", "/api/v1/upgrades", "Viewer"),
        ("POST", "/api/v1/upgrades", "Operator"),
        ("GET", "/api/v1/upgrades/{id}", "Viewer"),
        ("PUT", "/api/v1/upgrades/{id}", "Operator"),
        ("POST", "/api/v1/upgrades/{id}/approve", "Approver"),
        ("POST", "/api/v1/upgrades/{id}/reject", "Approver"),
        ("POST", "/api/v1/upgrades/{id}/abort", "Operator"),
        ("POST", "/api/v1/upgrades/{id}/pause", "Operator"),
        ("POST", "/api/v1/upgrades/{id}/resume", "Operator"),
        ("POST", "/api/v1/upgrades/{id}/rollback", "Operator"),
        ("GET", "/api/v1/approval-policies", "Viewer"),
        ("PUT", "/api/v1/approval-policies", "Admin"),
        ("POST", "/api/v1/hosts/{id}/convert", "Admin"),
        ("POST", "/api/v1/hosts/{id}/convert/revert", "Admin"),
        ("GET", "/api/v1/hosts/{id}/convert/receipt", "Viewer"),
        ("POST", "/api/v1/convert", "Admin"),
        ("GET", "/api/v1/builders", "Viewer"),
        ("POST", "/api/v1/builders", "Admin"),
        ("GET", "/api/v1/builders/{id}", "Viewer"),
        ("PUT", "/api/v1/builders/{id}", "Admin"),
        ("DELETE", "/api/v1/builders/{id}", "Admin"),
        ("POST", "/api/v1/builders/assign", "Admin"),
        ("GET", "/api/v1/hosts/{id}/builders", "Viewer"),
        ("PUT", "/api/v1/hosts/{id}/builders", "Admin"),
        ("POST", "/api/v1/hosts/{id}/builders/verify", "Operator"),
        ("GET", "/api/v1/users", "Admin"),
        ("POST", "/api/v1/users", "Admin"),
    ];

    static readonly string[] Ladder = ["Viewer", "Operator", "Admin"];


    [Fact]
    public async Task EveryRouteInTheOpenApiDocument_IsInTheRoleTable()
    {
        using var anon = _app.AnonymousClient();
        var doc = await anon.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var documented = doc.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject().Select(m => (m.Name.ToUpperInvariant(), p.Name.Replace("{id}", "{id}"))))
            .Where(r => r.Item2 != "/api/v1/tokens")
            .ToHashSet();
        var table = Routes.Select(r => (r.Method, r.Path)).ToHashSet();
        Assert.Empty(documented.Except(table));
        Assert.Empty(table.Except(documented));
    }

    [Fact]
    public async Task Anonymous_Gets401_OnEveryRoute()
    {
        using var anon = _app.AnonymousClient();
        foreach (var (method, path, _) in Routes)
        {
            var response = await anon.SendAsync(new HttpRequestMessage(new HttpMethod(method), Concrete(path)) { Content = method is "POST" or "PUT" ? JsonContent.Create(new { }) : null });
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{method} {path}: {(int)response.StatusCode}");
        }
    }

    [Fact]
    public async Task RolesBelowTheMinimum_Get403_AndNothingChanges()
    {
        var hostsBefore = (await _as["Admin"].GetJsonAsync("/api/v1/hosts")).GetProperty("total").GetInt32();
        var usersBefore = (await _as["Admin"].GetJsonAsync("/api/v1/users")).GetArrayLength();
        var opsBefore = (await _as["Admin"].GetJsonAsync("/api/v1/operations")).GetArrayLength();
        foreach (var (method, path, minRole) in Routes)
        {
            // Approver approves upgrades and confers nothing else beyond viewing; Admin includes it.
            var below = minRole == "Approver" ? ["Viewer", "Operator"] : Ladder.TakeWhile(r => r != minRole).ToList();
            if (minRole is not ("Viewer" or "Approver")) below.Add("Approver");
            foreach (var role in below)
            {
                var response = await _as[role].Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), Concrete(path))
                    { Content = method is "POST" or "PUT" ? JsonContent.Create(new { name = "x", address = "127.0.0.250", email = "x@example.test", password = "Xx-123456789", roles = new[] { "Admin" } }) : null });
                Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{role} {method} {path}: {(int)response.StatusCode}");
            }
        }
        Assert.Equal(hostsBefore, (await _as["Admin"].GetJsonAsync("/api/v1/hosts")).GetProperty("total").GetInt32());
        Assert.Equal(usersBefore, (await _as["Admin"].GetJsonAsync("/api/v1/users")).GetArrayLength());
        Assert.Equal(opsBefore, (await _as["Admin"].GetJsonAsync("/api/v1/operations")).GetArrayLength());
    }

    [Fact]
    public async Task Viewer_CanRead_ButNotRefreshOrAddHosts()
    {
        var host = await _as["Operator"].AddHostAsync("viewed", "127.0.0.250");
        var id = host.GetProperty("id").GetGuid();
        var opsBefore = (await _as["Admin"].GetJsonAsync("/api/v1/operations")).GetArrayLength();

        Assert.Equal(HttpStatusCode.OK, (await _as["Viewer"].Http.GetAsync($"/api/v1/hosts/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await _as["Viewer"].PostAsync($"/api/v1/hosts/{id}/refresh", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await _as["Viewer"].PostAsync("/api/v1/hosts", new { name = "v2", address = "127.0.0.250" })).StatusCode);
        Assert.Equal(opsBefore, (await _as["Admin"].GetJsonAsync("/api/v1/operations")).GetArrayLength());
    }

    [Fact]
    public async Task Token_WithWrongPassword_Is401_AndTheAccountLocksAfterFiveFailures()
    {
        await _as["Admin"].CreateUserAsync("locked@example.test", "Right-pass-123", "Viewer");
        using var anon = _app.AnonymousClient();
        for (var i = 0; i < 5; i++)
            Assert.Equal(HttpStatusCode.Unauthorized, (await Token(anon, "locked@example.test", "wrong")).StatusCode);
        // Locked out now: even the right password is refused.
        Assert.Equal(HttpStatusCode.Unauthorized, (await Token(anon, "locked@example.test", "Right-pass-123")).StatusCode);
        Assert.True(await ValidationTests.AuditRows(_app.ConnectionString, "token.create") >= 6);
    }

    static Task<HttpResponseMessage> Token(HttpClient http, string email, string password)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/tokens");
        request.Headers.Authorization = new("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{email}:{password}")));
        return http.SendAsync(request);
    }

    static string Concrete(string path) => path.Replace("{id}", Guid.NewGuid().ToString());
}
