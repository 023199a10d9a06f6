using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace NixFleet.Web.Tests.Fleet;

/// <summary>
/// Remote build machines through the API, on real hosts: a multi-user client and a builder host
/// (user "builder"). Each test reads the client's and the builder's files and stores before and
/// after. The hosts are this class's own, since builders change both for good.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class BuildersTests(BuildersTests.Fixture fixture) : IClassFixture<BuildersTests.Fixture>
{
    const string Client = "bld-client", Builder = "bld-builder", Tagged = "bld-tagged";
    const string ClientFiles = "sha256sum /etc/nix/nix.conf; cat /etc/nix/machines /root/.ssh/known_hosts /root/.ssh/config 2>&1; true";
    readonly TestFleet _fleet = fixture.Fleet;
    readonly ApiClient _api = fixture.Admin;

    public sealed class Fixture : AppFixture
    {
        public TestFleet Fleet { get; private set; } = null!;
        public Dictionary<string, Guid> Ids { get; } = [];

        public override async Task InitializeAsync()
        {
            Fleet = await TestFleet.StartAsync("builders", ("multi", Client, "127.0.0.210"), ("builder", Builder, "127.0.0.211"), ("multi", Tagged, "127.0.0.212"));
            await base.InitializeAsync();
            await Admin.ImportKeyAsync(Fleet.PrivateKey);
            // The tag "ci" is on a client and on the builder itself, which a tag-wide change must leave out.
            foreach (var h in Fleet.Hosts) Ids[h.Name] = h.Name == Client ? await Admin.AddTrustedHostAsync(h.Name, h.Address) : await Admin.AddTrustedHostAsync(h.Name, h.Address, "ci");
        }

        public override async Task DisposeAsync()
        {
            await base.DisposeAsync();
            await Fleet.DisposeAsync();
        }
    }

    Task<string> Sh(string host, string script) => _fleet.ShAsync(host, script);

    async Task<JsonElement> RunAsync(HttpMethod method, string path, object? body)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        var response = await _api.Http.SendAsync(request);
        await ApiClient.EnsureAsync(response, HttpStatusCode.Accepted);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("operationId").GetGuid();
        return await _api.WaitForOperationAsync(id, TimeSpan.FromMinutes(3));
    }

    async Task<Guid> AddBuilderAsync() =>
        (await _api.PostJsonAsync("/api/v1/builders", new { hostId = fixture.Ids[Builder], user = "builder", systems = new[] { "x86_64-linux" }, maxJobs = 2 }, HttpStatusCode.Created))
        .GetProperty("id").GetGuid();

    string HostBuilders => $"/api/v1/hosts/{fixture.Ids[Client]}/builders";

    [Fact]
    public async Task Configure_OffloadsARealBuildToTheBuilder_VerifyNamesIt_FailureIsNamedAndChangesNothing_AndRemoveRestoresTheHost()
    {
        var original = await Sh(Client, ClientFiles);
        var builderId = await AddBuilderAsync();
        var builderAddress = _fleet.Named(Builder).Address;

        // Configure: succeeded, and the client's files say so.
        var op = await RunAsync(HttpMethod.Put, HostBuilders, new { builderIds = new[] { builderId }, maxJobs = 0 });
        Assert.True(op.GetProperty("status").GetString() == "succeeded", $"{op}\n{await _api.LogTextAsync(op.GetProperty("id").GetGuid())}");
        var machines = (await Sh(Client, "grep -v '^#' /etc/nix/machines")).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal($"ssh://builder@{builderAddress}", machines[0]);
        Assert.Equal("x86_64-linux", machines[1]);
        Assert.Equal("/root/.ssh/nixfleet-builder_ed25519", machines[2]);
        Assert.Equal(["2", "1", "-", "-"], machines[3..7]);
        Assert.Equal(await Sh(Builder, "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub"), System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(machines[7])));
        var conf = await Sh(Client, "cat /etc/nix/nix.conf");
        Assert.Contains("builders = @/etc/nix/machines", conf);
        Assert.Contains("max-jobs = 0", conf);
        Assert.Contains("build-users-group = nixbld", conf);
        Assert.Equal("600 root:root", await Sh(Client, "stat -c '%a %U:%G' /root/.ssh/nixfleet-builder_ed25519"));
        Assert.Contains(await Sh(Client, "cut -d' ' -f2 /root/.ssh/nixfleet-builder_ed25519.pub"), await Sh(Builder, "cat /home/builder/.ssh/authorized_keys"));
        var assigned = await _api.GetJsonAsync(HostBuilders);
        Assert.Equal([builderId], assigned.GetProperty("builderIds").EnumerateArray().Select(e => e.GetGuid()));

        // Verify: the build ran on the builder (its output is the builder's hostname, and the path is in the builder's store).
        var verified = await RunAsync(HttpMethod.Post, HostBuilders + "/verify", null);
        Assert.True(verified.GetProperty("status").GetString() == "succeeded", $"{verified}\n{await _api.LogTextAsync(verified.GetProperty("id").GetGuid())}");
        var row = verified.GetProperty("result").GetProperty("builders")[0];
        Assert.Equal(builderId, row.GetProperty("builderId").GetGuid());
        Assert.True(row.GetProperty("reachable").GetBoolean());
        Assert.True(row.GetProperty("buildSucceeded").GetBoolean());
        Assert.Equal(Builder, row.GetProperty("ranOn").GetString());
        var listed = (await _api.GetJsonAsync($"/api/v1/builders/{builderId}"));
        Assert.True(listed.GetProperty("lastBuildSucceeded").GetBoolean());
        // A plain build through the client's daemon, with no local slot, is offloaded too.
        var output = await Sh(Client, "cd /tmp && NIX_REMOTE=daemon nix-build --no-out-link -E 'derivation { name = \"w\"; n = \"" + Guid.NewGuid().ToString("N") + "\"; system = builtins.currentSystem; builder = \"/bin/sh\"; args = [ \"-c\" \"read -r h < /etc/hostname; echo $h > $out\" ]; }' 2>/dev/null | tail -n 1");
        Assert.Equal(Builder, await Sh(Client, $"cat {output}"));
        Assert.Equal(output, await Sh(Builder, $"nix-store --check-validity --print-invalid {output}; test -e {output} && echo {output}"));

        // Deleting a builder in use is refused.
        var delete = await _api.Http.DeleteAsync($"/api/v1/builders/{builderId}");
        Assert.Equal(HttpStatusCode.Conflict, delete.StatusCode);

        // The builder is down: verification fails, named "unreachable".
        // Its sshd goes, and NixFleet's open connections with it, as when a machine drops off the network.
        await Sh(Builder, "kill $(cat /run/sshd.pid)");
        await SshMasters.KillAsync(Path.Combine(fixture.App.DataDir, "ssh", "cm"));
        try
        {
            var down = await RunAsync(HttpMethod.Post, HostBuilders + "/verify", null);
            Assert.Equal("failed", down.GetProperty("status").GetString());
            Assert.StartsWith("unreachable", down.GetProperty("result").GetProperty("builders")[0].GetProperty("error").GetString());
            // Configuring while it is down stops before the client's files are touched.
            var configured = await Sh(Client, ClientFiles);
            var again = await RunAsync(HttpMethod.Put, HostBuilders, new { builderIds = new[] { builderId } });
            Assert.Equal("failed", again.GetProperty("status").GetString());
            Assert.Contains("unreachable", again.GetProperty("error").GetString());
            Assert.Equal(configured, await Sh(Client, ClientFiles));
        }
        finally
        {
            await Sh(Builder, "/usr/sbin/sshd -f /etc/ssh/sshd_config -E /var/log/sshd.log");
        }

        // Remove: the client's files as they were before NixFleet, and the key off the builder.
        var removed = await RunAsync(HttpMethod.Put, HostBuilders, new { builderIds = Array.Empty<Guid>() });
        Assert.True(removed.GetProperty("status").GetString() == "succeeded", $"{removed}\n{await _api.LogTextAsync(removed.GetProperty("id").GetGuid())}");
        Assert.Equal(original, await Sh(Client, ClientFiles));
        Assert.DoesNotContain("nixfleet-builders", await Sh(Builder, "cat /home/builder/.ssh/authorized_keys"));
        Assert.Empty((await _api.GetJsonAsync(HostBuilders)).GetProperty("builderIds").EnumerateArray());
        Assert.Equal(HttpStatusCode.NoContent, (await _api.Http.DeleteAsync($"/api/v1/builders/{builderId}")).StatusCode);
    }

    [Fact]
    public async Task ByTag_EveryTaggedHostButTheBuilderGetsIt_WithAResultPerHost_AndAnEmptyListRestoresThem()
    {
        var original = await Sh(Tagged, ClientFiles);
        var builderOriginal = await Sh(Builder, "sha256sum /etc/nix/nix.conf");
        var builderId = await AddBuilderAsync();

        var op = await _api.WaitForOperationAsync((await _api.PostJsonAsync("/api/v1/builders/assign", new { tag = "ci", builderIds = new[] { builderId }, parallelism = 2 }, HttpStatusCode.Accepted))
            .GetProperty("operationId").GetGuid(), TimeSpan.FromMinutes(3));

        Assert.True(op.GetProperty("status").GetString() == "succeeded", $"{op}\n{await _api.LogTextAsync(op.GetProperty("id").GetGuid())}");
        var rows = op.GetProperty("result").GetProperty("hosts").EnumerateArray().ToList();
        Assert.Equal([Tagged], rows.Select(r => r.GetProperty("host").GetString()));
        Assert.Equal("succeeded", rows[0].GetProperty("status").GetString());
        Assert.StartsWith($"ssh://builder@{_fleet.Named(Builder).Address} ", await Sh(Tagged, "grep -v '^#' /etc/nix/machines"));
        Assert.Equal(builderOriginal, await Sh(Builder, "sha256sum /etc/nix/nix.conf"));

        var removed = await _api.WaitForOperationAsync((await _api.PostJsonAsync("/api/v1/builders/assign", new { tag = "ci", builderIds = Array.Empty<Guid>() }, HttpStatusCode.Accepted))
            .GetProperty("operationId").GetGuid(), TimeSpan.FromMinutes(3));
        Assert.Equal("succeeded", removed.GetProperty("status").GetString());
        Assert.Equal(original, await Sh(Tagged, ClientFiles));
        Assert.Equal(HttpStatusCode.NoContent, (await _api.Http.DeleteAsync($"/api/v1/builders/{builderId}")).StatusCode);
    }

    public static TheoryData<string, object> BadBuilders() => new()
    {
        { "systems", new { address = "10.0.0.9", hostKey = Key, user = "nix", systems = new[] { "x86_64" } } },
        { "systems", new { address = "10.0.0.9", hostKey = Key, user = "nix", systems = new[] { "x86_64-linux; reboot" } } },
        { "maxJobs", new { address = "10.0.0.9", hostKey = Key, user = "nix", systems = new[] { "x86_64-linux" }, maxJobs = -1 } },
        { "maxJobs", new { address = "10.0.0.9", hostKey = Key, user = "nix", systems = new[] { "x86_64-linux" }, maxJobs = 0 } },
        { "maxJobs", new { address = "10.0.0.9", hostKey = Key, user = "nix", systems = new[] { "x86_64-linux" }, maxJobs = 100000 } },
        { "maxJobs", new { address = "10.0.0.9", hostKey = Key, user = "nix", systems = new[] { "x86_64-linux" }, maxJobs = "four" } },
        { "supportedFeatures", new { address = "10.0.0.9", hostKey = Key, user = "nix", systems = new[] { "x86_64-linux" }, supportedFeatures = new[] { "big parallel" } } },
        { "mandatoryFeatures", new { address = "10.0.0.9", hostKey = Key, user = "nix", systems = new[] { "x86_64-linux" }, mandatoryFeatures = new[] { "kvm$(reboot)" } } },
        { "user", new { address = "10.0.0.9", hostKey = Key, user = "nix@evil", systems = new[] { "x86_64-linux" } } },
        { "user", new { address = "10.0.0.9", hostKey = Key, user = "-oProxyCommand=x", systems = new[] { "x86_64-linux" } } },
        { "address", new { address = "-oProxyCommand=x", hostKey = Key, user = "nix", systems = new[] { "x86_64-linux" } } },
        { "hostKey", new { address = "10.0.0.9", user = "nix", systems = new[] { "x86_64-linux" } } },
        { "hostKey", new { address = "10.0.0.9", hostKey = "ssh-ed25519 not-base64!", user = "nix", systems = new[] { "x86_64-linux" } } },
    };

    const string Key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHnrBj2x1DmG1P6CbLzYpSZoY3eUk5S4Jt9s8H6l4v1G";

    [Theory]
    [MemberData(nameof(BadBuilders))]
    public async Task BadBuilder_Is400_NamingTheField_AndNothingIsAdded(string field, object body)
    {
        var before = (await _api.GetJsonAsync("/api/v1/builders")).GetArrayLength();
        var response = await _api.PostAsync("/api/v1/builders", body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
        Assert.Equal(before, (await _api.GetJsonAsync("/api/v1/builders")).GetArrayLength());
    }

    [Fact]
    public async Task HostBuilders_UnknownBuilderOrBadMaxJobs_Is400_AndNothingIsQueued()
    {
        var before = (await _api.GetJsonAsync($"/api/v1/operations?hostId={fixture.Ids[Client]}&limit=500")).GetArrayLength();
        foreach (var body in new object[]
        {
            new { builderIds = new[] { Guid.NewGuid() } },
            new { builderIds = Array.Empty<Guid>(), maxJobs = -1 },
            new { builderIds = Array.Empty<Guid>(), maxJobs = "eight" },
            new { maxJobs = 2 },
        })
        {
            using var request = new HttpRequestMessage(HttpMethod.Put, HostBuilders) { Content = JsonContent.Create(body) };
            Assert.Equal(HttpStatusCode.BadRequest, (await _api.Http.SendAsync(request)).StatusCode);
        }
        Assert.Equal(before, (await _api.GetJsonAsync($"/api/v1/operations?hostId={fixture.Ids[Client]}&limit=500")).GetArrayLength());
    }
}
