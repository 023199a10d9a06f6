using System.Net;
using System.Text;
using System.Text.Json;

namespace NixFleet.Web.Tests.Fleet;

/// <summary>
/// A host's channels over the API, from a real channel server on 127.0.0.1: every test reads the
/// host itself afterwards (<c>nix-channel --list</c> as the channels' user, their channels profile
/// and its generation links, the <c>.version</c> the channel unpacked). Root's channels on the
/// NixOS and multi-user hosts, alice's on the single-user host.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class ChannelTests(ChannelTests.Fixture fixture) : IClassFixture<ChannelTests.Fixture>
{
    const string Nixos = "ch-nixos";
    const string Multi = "ch-multi";
    const string Single = "ch-single";
    const string Tag = "chan";
    const string SystemProfile = "/nix/var/nix/profiles/system";
    readonly TestFleet _fleet = fixture.Fleet;
    readonly ApiClient _api = fixture.Admin;

    public sealed class Fixture : AppFixture
    {
        public TestFleet Fleet { get; private set; } = null!;
        public ChannelServer Channels { get; private set; } = null!;
        public Dictionary<string, Guid> Ids { get; } = [];

        public override async Task InitializeAsync()
        {
            Channels = await ChannelServer.StartAsync();
            Fleet = await TestFleet.StartAsync("channels",
                ("nixos", Nixos, "127.0.0.160"),
                ("multi", Multi, "127.0.0.161"),
                ("single", Single, "127.0.0.162"));
            await base.InitializeAsync();
            await Admin.ImportKeyAsync(Fleet.PrivateKey);
            foreach (var h in Fleet.Hosts) Ids[h.Name] = await Admin.AddTrustedHostAsync(h.Name, h.Address, Tag);
        }

        public override async Task DisposeAsync()
        {
            await base.DisposeAsync();
            await Fleet.DisposeAsync();
            await Channels.DisposeAsync();
        }
    }

    public static TheoryData<string> AllHosts() => new() { Nixos, Multi, Single };

    Task<string> Sh(string host, string script) => _fleet.ShAsync(host, script);

    string Url(string release) => fixture.Channels.Url(release);

    /// <summary>Whose channels NixFleet changes: the store's owner on the single-user host, else root.</summary>
    static string User(string host) => host == Single ? "alice" : "root";

    static string ChannelsProfile(string host) => $"/nix/var/nix/profiles/per-user/{User(host)}/channels";

    /// <summary>The channel the fleet gives the host, from a file:// tarball with .version 24.05.</summary>
    static string FleetChannel(string host) => host == Nixos ? "nixos" : "nixpkgs";

    /// <summary>Runs a script as the channels' user (alice on the single-user host, where root must not touch the store).</summary>
    async Task<string> AsUser(string host, string script)
    {
        var r = host == Single
            ? await _fleet.ExecAsync(host, "runuser", "-u", "alice", "--", "sh", "-c", "cd / && " + script)
            : await _fleet.ExecAsync(host, "sh", "-c", script);
        if (r.ExitCode != 0) throw new InvalidOperationException($"{host}: `{script}` as {User(host)} exited {r.ExitCode}: {r.StdErr}");
        return r.StdOut.Trim();
    }

    /// <summary>What a channel change may touch: the channel list, where the channels profile points, its generation links.</summary>
    Task<string> StateAsync(string host) => Sh(host, $"""
        {(host == Single ? "runuser -u alice -- " : "")}nix-channel --list
        readlink {ChannelsProfile(host)}
        for l in {ChannelsProfile(host)}-*-link; do echo "$l -> $(readlink $l)"; done
        """);

    async Task<int> CurrentGenerationAsync(string host)
    {
        var points = await Sh(host, $"readlink {ChannelsProfile(host)}");
        return int.Parse(points["channels-".Length..^"-link".Length]);
    }

    async Task<List<int>> GenerationNumbersAsync(string host) =>
        (await Sh(host, $"ls -d {ChannelsProfile(host)}-*-link | sed 's/.*channels-\\([0-9]*\\)-link$/\\1/' | sort -n"))
        .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();

    Task<string> VersionFileAsync(string host, string channel) => Sh(host, $"cat {ChannelsProfile(host)}/{channel}/.version");

    /// <summary>Only the fleet's channel, at its file:// release (24.05), installed in the channels profile.</summary>
    Task ResetAsync(string host)
    {
        var name = FleetChannel(host);
        return AsUser(host, $"""
            for c in $(nix-channel --list | cut -d' ' -f1); do
              [ "$c" = {name} ] || nix-channel --remove "$c" >/dev/null 2>&1
            done
            nix-channel --add file:///etc/nixfleet-test/channels/{name}.tar.xz {name}
            nix-channel --update {name} >/dev/null 2>&1
            """);
    }

    async Task<JsonElement> SendAsync(HttpMethod method, string path, string? json)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        var response = await _api.Http.SendAsync(request);
        await ApiClient.EnsureAsync(response, HttpStatusCode.Accepted);
        var op = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("operationId").GetGuid();
        return await _api.WaitForOperationAsync(op);
    }

    Task<JsonElement> AddAsync(string host, string name, string url) =>
        SendAsync(HttpMethod.Post, $"/api/v1/hosts/{fixture.Ids[host]}/channels", JsonSerializer.Serialize(new { name, url }));

    Task<JsonElement> UpdateAsync(string host, string name) =>
        SendAsync(HttpMethod.Post, $"/api/v1/hosts/{fixture.Ids[host]}/channels/update", JsonSerializer.Serialize(new { name }));

    Task<JsonElement> RollbackAsync(string host, int? generation) =>
        SendAsync(HttpMethod.Post, $"/api/v1/hosts/{fixture.Ids[host]}/channels/rollback", JsonSerializer.Serialize(new { generation }));

    async Task<JsonElement> Succeeded(JsonElement op)
    {
        Assert.True(op.GetProperty("status").GetString() == "succeeded", $"{op}\n{await _api.LogTextAsync(op.GetProperty("id").GetGuid())}");
        return op.GetProperty("result");
    }

    static JsonElement Channel(JsonElement report, string name) =>
        report.GetProperty("channels").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    async Task<JsonElement> ReportAsync(string host) =>
        Assert.Single((await _api.GetJsonAsync($"/api/v1/hosts/{fixture.Ids[host]}/channels")).EnumerateArray());

    async Task<List<Guid>> OperationIdsAsync(Guid hostId) =>
        (await _api.GetJsonAsync($"/api/v1/operations?hostId={hostId}&limit=500")).EnumerateArray().Select(o => o.GetProperty("id").GetGuid()).ToList();

    async Task AssertStoreStillAlicesAsync()
    {
        Assert.Equal("", await Sh(Single, "find /nix ! -user alice | head -5"));
        Assert.Equal("", await Sh(Single, "find /home/alice ! -user alice | head -5"));
    }

    [Theory]
    [MemberData(nameof(AllHosts))]
    public async Task List_ReportsEachChannelWithItsUrlVersionAndTheProfileGeneration_AsTheHostHasThem(string host)
    {
        await ResetAsync(host);
        // One channel from the server (with a version suffix and a revision), one added but never downloaded.
        await AsUser(host, $"nix-channel --add {Url("nixpkgs-new")} extras && nix-channel --update extras >/dev/null 2>&1 && nix-channel --add {Url("nixpkgs-old")} pending");
        try
        {
            var report = await ReportAsync(host);

            Assert.Equal(User(host), report.GetProperty("user").GetString());
            var listed = (await AsUser(host, "nix-channel --list")).Split('\n');
            Assert.Equal(3, listed.Length);
            Assert.Equal(listed, report.GetProperty("channels").EnumerateArray().Select(c => $"{c.GetProperty("name").GetString()} {c.GetProperty("url").GetString()}"));
            var generation = await CurrentGenerationAsync(host);
            Assert.Equal(generation, report.GetProperty("profileGeneration").GetInt32());
            Assert.Equal(await GenerationNumbersAsync(host), report.GetProperty("generations").EnumerateArray().Select(g => g.GetInt32()));
            Assert.Equal(long.Parse(await Sh(host, $"stat -c %Y {ChannelsProfile(host)}-{generation}-link")),
                report.GetProperty("updatedAt").GetDateTimeOffset().ToUnixTimeSeconds());
            foreach (var name in new[] { FleetChannel(host), "extras" })
            {
                var dir = $"{ChannelsProfile(host)}/{name}";
                var channel = Channel(report, name);
                Assert.Equal(await Sh(host, $"printf '%s%s' \"$(head -n 1 {dir}/.version)\" \"$(cat {dir}/.version-suffix 2>/dev/null)\""), channel.GetProperty("version").GetString());
                Assert.Equal(await Sh(host, $"readlink {dir}"), channel.GetProperty("storePath").GetString());
            }
            Assert.Equal("24.05", Channel(report, FleetChannel(host)).GetProperty("version").GetString());
            Assert.Equal("24.11pre712345.5f4e3d2c1b0a", Channel(report, "extras").GetProperty("version").GetString());
            Assert.Equal("5f4e3d2c1b0a98765432f1e0d9c8b7a654321098", Channel(report, "extras").GetProperty("revision").GetString());
            var pending = Channel(report, "pending");
            Assert.Equal(JsonValueKind.Null, pending.GetProperty("version").ValueKind);
            Assert.Equal("", await Sh(host, $"ls -d {ChannelsProfile(host)}/pending 2>/dev/null || true"));
        }
        finally
        {
            await ResetAsync(host);
        }
    }

    [Theory]
    [InlineData(Single)]
    [InlineData(Multi)]
    public async Task AddThenUpdate_InstallsTheRelease_AsTheChannelsUser(string host)
    {
        await ResetAsync(host);
        var gens = await GenerationNumbersAsync(host);
        Assert.Equal("24.05", await VersionFileAsync(host, "nixpkgs"));
        var url = Url("nixpkgs-new");

        await Succeeded(await AddAsync(host, "nixpkgs", url));

        // Subscribed, not yet downloaded.
        Assert.Equal($"nixpkgs {url}", await AsUser(host, "nix-channel --list"));
        Assert.Equal(gens, await GenerationNumbersAsync(host));
        Assert.Equal("24.05", await VersionFileAsync(host, "nixpkgs"));

        var result = await Succeeded(await UpdateAsync(host, "nixpkgs"));

        Assert.Equal(gens.Max() + 1, await CurrentGenerationAsync(host));
        Assert.Equal("24.11", await VersionFileAsync(host, "nixpkgs"));
        Assert.Equal("24.11pre712345.5f4e3d2c1b0a", Channel(result, "nixpkgs").GetProperty("version").GetString());
        Assert.Equal(gens.Max() + 1, result.GetProperty("profileGeneration").GetInt32());
        var report = await ReportAsync(host);
        Assert.Equal(User(host), report.GetProperty("user").GetString());
        Assert.Equal(url, Channel(report, "nixpkgs").GetProperty("url").GetString());
        Assert.Equal("24.11pre712345.5f4e3d2c1b0a", Channel(report, "nixpkgs").GetProperty("version").GetString());
        Assert.Contains(fixture.Channels.Requests, r => r.Contains("GET /nixpkgs-new "));
        if (host == Single)
        {
            await AssertStoreStillAlicesAsync();
            // root's own channels were not touched on alice's behalf.
            Assert.Equal("", await Sh(host, "ls -A /root/.nix-channels /nix/var/nix/profiles/per-user/root 2>/dev/null || true"));
        }
    }

    [Fact]
    public async Task SwitchToTheNextRelease_ThenRollback_PutsTheChannelsProfileBackOnThePreviousGeneration()
    {
        const string host = Nixos;
        await ResetAsync(host);
        try
        {
            await Succeeded(await AddAsync(host, "nixos", Url("nixos-24.05")));
            var old = await Succeeded(await UpdateAsync(host, "nixos"));
            var g1 = await CurrentGenerationAsync(host);
            Assert.Equal(g1, old.GetProperty("profileGeneration").GetInt32());
            Assert.Equal("24.05", await VersionFileAsync(host, "nixos"));
            Assert.Equal("24.05.7376.b134951a4c9f", Channel(old, "nixos").GetProperty("version").GetString());
            var oldPath = await Sh(host, $"readlink {ChannelsProfile(host)}/nixos");

            await Succeeded(await AddAsync(host, "nixos", Url("nixos-24.11")));
            var next = await Succeeded(await UpdateAsync(host, "nixos"));
            var g2 = await CurrentGenerationAsync(host);
            Assert.Equal(g1 + 1, g2);
            Assert.Equal("24.11", await VersionFileAsync(host, "nixos"));
            Assert.Equal("24.11.710315.b681065d0919", Channel(next, "nixos").GetProperty("version").GetString());
            Assert.Equal($"nixos {Url("nixos-24.11")}", await Sh(host, "nix-channel --list"));

            var back = await Succeeded(await RollbackAsync(host, null));

            Assert.Equal($"channels-{g1}-link", await Sh(host, $"readlink {ChannelsProfile(host)}"));
            Assert.Equal("24.05", await VersionFileAsync(host, "nixos"));
            Assert.Equal(oldPath, await Sh(host, $"readlink {ChannelsProfile(host)}/nixos"));
            Assert.Equal(g1, back.GetProperty("profileGeneration").GetInt32());
            Assert.Equal("24.05.7376.b134951a4c9f", Channel(back, "nixos").GetProperty("version").GetString());
            // The newer generation stays, to go forward again; the subscription is not a generation.
            Assert.Equal("kept", await Sh(host, $"test -L {ChannelsProfile(host)}-{g2}-link && echo kept"));
            Assert.Equal($"nixos {Url("nixos-24.11")}", await Sh(host, "nix-channel --list"));

            // Forward again, to a named generation.
            await Succeeded(await RollbackAsync(host, g2));
            Assert.Equal($"channels-{g2}-link", await Sh(host, $"readlink {ChannelsProfile(host)}"));
            Assert.Equal("24.11", await VersionFileAsync(host, "nixos"));
        }
        finally
        {
            await ResetAsync(host);
        }
    }

    [Fact]
    public async Task Remove_UnsubscribesTheChannel_AndDropsItFromTheChannelsProfile()
    {
        const string host = Multi;
        await ResetAsync(host);
        await AsUser(host, $"nix-channel --add {Url("nixpkgs-old")} extras && nix-channel --update extras >/dev/null 2>&1");
        Assert.Equal("24.05", await VersionFileAsync(host, "extras"));
        var gens = await GenerationNumbersAsync(host);

        var result = await Succeeded(await SendAsync(HttpMethod.Delete, $"/api/v1/hosts/{fixture.Ids[host]}/channels?name=extras", null));

        Assert.Equal("nixpkgs file:///etc/nixfleet-test/channels/nixpkgs.tar.xz", await AsUser(host, "nix-channel --list"));
        Assert.Equal("gone", await Sh(host, $"test -e {ChannelsProfile(host)}/extras && echo there || echo gone"));
        Assert.Equal("24.05", await VersionFileAsync(host, "nixpkgs"));
        Assert.Equal(gens.Max() + 1, await CurrentGenerationAsync(host));
        Assert.DoesNotContain(result.GetProperty("channels").EnumerateArray(), c => c.GetProperty("name").GetString() == "extras");
        Assert.Equal(new string?[] { "nixpkgs" }, (await ReportAsync(host)).GetProperty("channels").EnumerateArray().Select(c => c.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task FleetChange_ByTag_RunsOnePartPerHost_AndChangesEveryHost()
    {
        var hosts = new[] { Nixos, Multi, Single };
        foreach (var h in hosts) await ResetAsync(h);
        var before = new Dictionary<string, List<int>>();
        foreach (var h in hosts) before[h] = await GenerationNumbersAsync(h);
        var url = Url("nixpkgs-new");
        try
        {
            var add = await Succeeded(await SendAsync(HttpMethod.Post, "/api/v1/channel-changes", JsonSerializer.Serialize(new { tag = Tag, action = "add", name = "extras", url })));
            Assert.Equal(3, add.GetProperty("succeeded").GetInt32());
            foreach (var h in hosts)
            {
                Assert.Contains($"extras {url}", (await AsUser(h, "nix-channel --list")).Split('\n'));
                Assert.Equal(before[h], await GenerationNumbersAsync(h));
            }

            var update = await SendAsync(HttpMethod.Post, "/api/v1/channel-changes", JsonSerializer.Serialize(new { tag = Tag, action = "update", name = "extras" }));

            await Succeeded(update);
            var parts = (await _api.GetJsonAsync($"/api/v1/operations?parentId={update.GetProperty("id").GetGuid()}")).EnumerateArray().ToList();
            Assert.Equal(hosts.Select(h => fixture.Ids[h]).Order(), parts.Select(p => p.GetProperty("hostId").GetGuid()).Order());
            Assert.All(parts, p => Assert.Equal("channel-change", p.GetProperty("kind").GetString()));
            Assert.All(parts, p => Assert.Equal("succeeded", p.GetProperty("status").GetString()));
            foreach (var h in hosts)
            {
                Assert.Equal(before[h].Max() + 1, await CurrentGenerationAsync(h));
                Assert.Equal("24.11", await VersionFileAsync(h, "extras"));
                Assert.Equal("24.05", await VersionFileAsync(h, FleetChannel(h)));
                var part = parts.Single(p => p.GetProperty("hostId").GetGuid() == fixture.Ids[h]);
                Assert.Equal("24.11pre712345.5f4e3d2c1b0a", Channel(part.GetProperty("result"), "extras").GetProperty("version").GetString());
            }
            await AssertStoreStillAlicesAsync();
        }
        finally
        {
            foreach (var h in hosts) await ResetAsync(h);
        }
    }

    [Fact]
    public async Task ChangeWhileARollbackHoldsTheHost_IsRefusedNamingTheHolder_AndChangesNothing()
    {
        const string host = Nixos;
        var id = fixture.Ids[host];
        await ResetAsync(host);
        var before = await StateAsync(host);
        var opsBefore = await OperationIdsAsync(id);
        var system = await Sh(host, $"readlink {SystemProfile} | sed 's/system-\\([0-9]*\\)-link/\\1/'");
        await Sh(host, "echo 4 > /etc/nixfleet-test/slow-activation");
        try
        {
            // Test-activates the generation that already runs: it holds the host, and changes nothing.
            var rollback = (await _api.PostJsonAsync($"/api/v1/hosts/{id}/rollback",
                new { profile = SystemProfile, generation = int.Parse(system), mode = "test", reason = "hold the host" }, HttpStatusCode.Accepted)).GetProperty("operationId").GetGuid();

            var refused = new[]
            {
                await _api.PostAsync($"/api/v1/hosts/{id}/channels", new { name = "nixos", url = Url("nixos-24.11") }),
                await _api.PostAsync($"/api/v1/hosts/{id}/channels/update", new { name = "nixos" }),
                await _api.PostAsync($"/api/v1/hosts/{id}/channels/rollback", null),
                await _api.Http.DeleteAsync($"/api/v1/hosts/{id}/channels?name=nixos"),
            };
            // Through the fleet-wide endpoint, the host's part is skipped with the same reason.
            var batch = await SendAsync(HttpMethod.Post, "/api/v1/channel-changes", JsonSerializer.Serialize(new { hostIds = new[] { id }, action = "update", name = "nixos" }));

            foreach (var response in refused)
            {
                var body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.Conflict, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {body}");
                Assert.Contains($"is busy: a rollback operation ({rollback})", body);
            }
            Assert.Equal("failed", batch.GetProperty("status").GetString());
            var skipped = Assert.Single(batch.GetProperty("result").GetProperty("hosts").EnumerateArray());
            Assert.Equal("skipped", skipped.GetProperty("status").GetString());
            Assert.Contains(rollback.ToString(), skipped.GetProperty("error").GetString());
            Assert.Empty((await _api.GetJsonAsync($"/api/v1/operations?parentId={batch.GetProperty("id").GetGuid()}")).EnumerateArray());

            await Succeeded(await _api.WaitForOperationAsync(rollback));
            Assert.Equal(before, await StateAsync(host));
            // The rollback is the only operation the host got.
            Assert.Equal([rollback], (await OperationIdsAsync(id)).Except(opsBefore));
        }
        finally
        {
            await Sh(host, "rm -f /etc/nixfleet-test/slow-activation");
        }
    }

    [Theory]
    [InlineData("missing", "unable to download '{url}': HTTP error 404")]
    [InlineData("html", "failed to open archive: Unrecognized archive format")]
    [InlineData("truncated", "failed to open archive")]
    public async Task UpdateFromABrokenUrl_FailsWithNixsMessage_AndLeavesTheChannelsProfileAlone(string release, string expected)
    {
        const string host = Multi;
        await ResetAsync(host);
        var url = Url(release);
        try
        {
            await Succeeded(await AddAsync(host, "broken", url));
            var before = await StateAsync(host);
            var version = await VersionFileAsync(host, "nixpkgs");

            var op = await UpdateAsync(host, "broken");

            Assert.Equal("failed", op.GetProperty("status").GetString());
            Assert.Contains(expected.Replace("{url}", url), op.GetProperty("error").GetString());
            Assert.Equal(before, await StateAsync(host));
            Assert.Equal(version, await VersionFileAsync(host, "nixpkgs"));
            Assert.Equal(JsonValueKind.Null, Channel(await ReportAsync(host), "broken").GetProperty("version").ValueKind);
        }
        finally
        {
            await ResetAsync(host);
        }
    }

    public static TheoryData<string, string, string?, string> BadRequests() => new()
    {
        { "POST", "/channels", """{"name":"nixos;reboot","url":"http://127.0.0.1:1/nixos-24.11"}""", "name" },
        { "POST", "/channels", """{"name":"$(touch /tmp/pwned)","url":"http://127.0.0.1:1/nixos-24.11"}""", "name" },
        { "POST", "/channels", """{"name":"--remove","url":"http://127.0.0.1:1/nixos-24.11"}""", "name" },
        { "POST", "/channels", """{"name":"../../etc","url":"http://127.0.0.1:1/nixos-24.11"}""", "name" },
        { "POST", "/channels", """{"url":"http://127.0.0.1:1/nixos-24.11"}""", "name" },
        { "POST", "/channels", """{"name":"nixos","url":"http://127.0.0.1:1/$(touch /tmp/pwned)"}""", "url" },
        { "POST", "/channels", """{"name":"nixos","url":"http://127.0.0.1:1/a b"}""", "url" },
        { "POST", "/channels", """{"name":"nixos","url":"http://127.0.0.1:1/a\nb"}""", "url" },
        { "POST", "/channels", """{"name":"nixos","url":"file:///etc/nixfleet-test/channels/nixos.tar.xz"}""", "url" },
        { "POST", "/channels", """{"name":"nixos","url":"ftp://127.0.0.1/nixos-24.11"}""", "url" },
        { "POST", "/channels", """{"name":"nixos","url":"/etc/nixfleet-test/channels/nixos.tar.xz"}""", "url" },
        { "POST", "/channels", """{"name":"nixos","url":"http://user:secret@127.0.0.1:1/nixos-24.11"}""", "url" },
        { "POST", "/channels", """{"name":"nixos"}""", "url" },
        { "POST", "/channels/update", """{"name":"nixos && reboot"}""", "name" },
        { "POST", "/channels/rollback", """{"generation":0}""", "generation" },
        { "DELETE", "/channels?name=nixos%3Breboot", null, "name" },
        { "POST", "/api/v1/channel-changes", """{"hostIds":["{id}"],"action":"remove","name":"nixos","url":"http://127.0.0.1:1/nixos-24.11"}""", "url" },
        { "POST", "/api/v1/channel-changes", """{"hostIds":["{id}"],"action":"add","name":"nixos","url":"file:///etc/nixfleet-test/channels/nixos.tar.xz"}""", "url" },
        { "POST", "/api/v1/channel-changes", """{"hostIds":["{id}"],"action":"update;reboot","name":"nixos"}""", "action" },
        { "POST", "/api/v1/channel-changes", """{"hostIds":["{id}"],"action":"update","generation":2}""", "generation" },
        { "POST", "/api/v1/channel-changes", """{"hostIds":["{id}"],"tag":"chan","action":"update"}""", "hostIds" },
        { "POST", "/api/v1/channel-changes", """{"tag":"no-such-tag","action":"update"}""", "tag" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadInput_IsRefusedWith400_AndNothingIsQueuedOrRun(string method, string path, string? json, string field)
    {
        const string host = Nixos;
        var id = fixture.Ids[host];
        var before = await StateAsync(host);
        var operations = (await _api.GetJsonAsync("/api/v1/operations?limit=500")).GetArrayLength();
        var uri = path.StartsWith("/api/", StringComparison.Ordinal) ? path : $"/api/v1/hosts/{id}{path}";
        using var request = new HttpRequestMessage(new HttpMethod(method), uri);
        if (json is not null) request.Content = new StringContent(json.Replace("{id}", id.ToString()), Encoding.UTF8, "application/json");

        var response = await _api.Http.SendAsync(request);

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {body}");
        Assert.True(JsonDocument.Parse(body).RootElement.GetProperty("errors").TryGetProperty(field, out _), body);
        Assert.Equal(operations, (await _api.GetJsonAsync("/api/v1/operations?limit=500")).GetArrayLength());
        Assert.Equal(before, await StateAsync(host));
        Assert.Equal("absent", await Sh(host, "test -e /tmp/pwned && echo present || echo absent"));
    }
}
