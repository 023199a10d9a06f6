using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace NixFleet.Testing;

/// <summary>Intent methods over NixFleet's REST API, the way an automation would use it.</summary>
public sealed class ApiClient(HttpClient http) : IDisposable
{
    public HttpClient Http { get; } = http;

    public async Task<JsonElement> GetJsonAsync(string path)
    {
        var response = await Http.GetAsync(path);
        await EnsureAsync(response, HttpStatusCode.OK);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public async Task<HttpResponseMessage> PostAsync(string path, object? body) =>
        await Http.PostAsync(path, body is null ? null : JsonContent.Create(body));

    public async Task<JsonElement> PostJsonAsync(string path, object? body, HttpStatusCode expected)
    {
        var response = await PostAsync(path, body);
        await EnsureAsync(response, expected);
        var text = await response.Content.ReadAsStringAsync();
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    public static async Task EnsureAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        if (response.StatusCode != expected)
            throw new Xunit.Sdk.XunitException(
                $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: expected {(int)expected}, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    public Task<JsonElement> CreateUserAsync(string email, string password, params string[] roles) =>
        PostJsonAsync("/api/v1/users", new { email, password, roles }, HttpStatusCode.Created);

    public Task<JsonElement> ImportKeyAsync(string privateKey) =>
        PostJsonAsync("/api/v1/ssh-key/import", new { privateKey }, HttpStatusCode.OK);

    public Task<JsonElement> AddHostAsync(string name, string address, int port = 22, string user = "root", params string[] tags) =>
        PostJsonAsync("/api/v1/hosts", new { name, address, port, user, tags }, HttpStatusCode.Created);

    /// <summary>Adds the host and accepts the key it showed, as an operator reading the fingerprint would.</summary>
    public async Task<Guid> AddTrustedHostAsync(string name, string address, params string[] tags)
    {
        var host = await AddHostAsync(name, address, tags: tags);
        var fingerprint = host.GetProperty("hostKey").GetProperty("fingerprint").GetString();
        Xunit.Assert.False(string.IsNullOrEmpty(fingerprint), $"no key scanned from {address}: {host}");
        var id = host.GetProperty("id").GetGuid();
        await PostJsonAsync($"/api/v1/hosts/{id}/host-key/accept", new { fingerprint }, HttpStatusCode.OK);
        return id;
    }

    public async Task<Guid> RefreshAsync(Guid hostId) =>
        (await PostJsonAsync($"/api/v1/hosts/{hostId}/refresh", null, HttpStatusCode.Accepted)).GetProperty("operationId").GetGuid();

    public async Task<JsonElement> WaitForOperationAsync(Guid id, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(120));
        while (true)
        {
            var op = await GetJsonAsync($"/api/v1/operations/{id}");
            var status = op.GetProperty("status").GetString();
            if (status is "succeeded" or "failed" or "cancelled") return op;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"operation {id} still {status}: {op}");
            await Task.Delay(250);
        }
    }

    public async Task<string> LogTextAsync(Guid id)
    {
        var lines = await GetJsonAsync($"/api/v1/operations/{id}/log");
        return string.Join("\n", lines.EnumerateArray().Select(l => l.GetProperty("text").GetString()));
    }

    public void Dispose() => Http.Dispose();
}
