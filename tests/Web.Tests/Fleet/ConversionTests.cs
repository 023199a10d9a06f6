using System.Net;
using System.Text.Json;

namespace NixFleet.Web.Tests.Fleet;

/// <summary>
/// Conversion to multi-user on real single-user installs (alice's store, three profile generations,
/// channel nixpkgs), through the API: every test reads the host's real state before and after.
/// The hosts are this class's own, since a conversion changes them for good.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class ConversionTests(ConversionTests.Fixture fixture) : IClassFixture<ConversionTests.Fixture>
{
    const string Single = "conv-single", Crash = "conv-crash", Batch = "conv-batch", Systemd = "conv-systemd", Multi = "conv-multi", Planned = "conv-plan";
    const string AliceEnv = "runuser -u alice -- sh -c 'PATH=$HOME/.nix-profile/bin:$PATH; nix-env -q'";
    const string AliceGenerations = "ls /nix/var/nix/profiles/per-user/alice | grep '^profile-.*-link$'";
    const string BuildAccounts = "getent group nixbld | cut -d: -f1,3; getent passwd | awk -F: '$1 ~ /^nixbld[0-9]+$/ { print $1, $3, $4 }'";
    readonly TestFleet _fleet = fixture.Fleet;
    readonly ApiClient _api = fixture.Admin;

    public sealed class Fixture : AppFixture
    {
        public TestFleet Fleet { get; private set; } = null!;
        public Dictionary<string, Guid> Ids { get; } = [];

        public override async Task InitializeAsync()
        {
            Fleet = await TestFleet.StartAsync("conversion",
                ("single", Single, "127.0.0.180"),
                ("single", Crash, "127.0.0.181"),
                ("single", Batch, "127.0.0.182"),
                ("systemd", Systemd, "127.0.0.183"),
                ("multi", Multi, "127.0.0.184"),
                ("single", Planned, "127.0.0.185"));
            await base.InitializeAsync();
            await Admin.ImportKeyAsync(Fleet.PrivateKey);
            foreach (var h in Fleet.Hosts) Ids[h.Name] = await Admin.AddTrustedHostAsync(h.Name, h.Address, "conv");
            foreach (var id in Ids.Values) await Admin.WaitForOperationAsync(await Admin.RefreshAsync(id));
        }

        public override async Task DisposeAsync()
        {
            await base.DisposeAsync();
            await Fleet.DisposeAsync();
        }
    }

    Task<string> Sh(string host, string script) => _fleet.ShAsync(host, script);

    /// <summary>/etc's files, who owns what under /nix with its modes, and NixFleet's traces: what "nothing changed" compares.</summary>
    Task<string> StateAsync(string host) => Sh(host, """
        find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum
        find /nix -path /nix/var/nix/temproots -prune -o -printf '%u:%g %m %p\n' | sort | sha256sum
        ls /var/lib/nixfleet/convert /nix/var/nix/nixfleet-receipt.json 2>&1
        pgrep -x nix-daemon >/dev/null && echo daemon runs || echo no daemon
        """);

    async Task<JsonElement> RunAsync(ApiClient api, string path, object? body)
    {
        var started = await api.PostJsonAsync(path, body, HttpStatusCode.Accepted);
        return await api.WaitForOperationAsync(started.GetProperty("operationId").GetGuid(), TimeSpan.FromMinutes(3));
    }

    async Task<JsonElement> Succeeded(ApiClient api, JsonElement op)
    {
        Assert.True(op.GetProperty("status").GetString() == "succeeded", $"{op}\n{await api.LogTextAsync(op.GetProperty("id").GetGuid())}");
        return op.GetProperty("result");
    }

    /// <summary>The preflight's checks as "name: status".</summary>
    static List<string> ChecksOf(JsonElement result) =>
        result.GetProperty("preflight").GetProperty("checks").EnumerateArray()
            .Select(c => $"{c.GetProperty("name").GetString()}: {c.GetProperty("status").GetString()}").ToList();

    async Task<string?> InstallTypeAsync(Guid id) =>
        (await _api.GetJsonAsync($"/api/v1/hosts/{id}")).GetProperty("facts").GetProperty("installType").GetString();

    /// <summary>What a converted host must show: the group and N users, the store root's, nix.conf, the daemon, alice's software, the profile script.</summary>
    async Task AssertMultiUserAsync(string host, string packagesBefore, string generationsBefore)
    {
        Assert.Equal("nixbld:30000\nnixbld1 30001 30000\nnixbld2 30002 30000\nnixbld3 30003 30000\nnixbld4 30004 30000", await Sh(host, BuildAccounts));
        Assert.Equal("root:nixbld 1775", await Sh(host, "stat -c '%U:%G %a' /nix/store"));
        Assert.Equal("", await Sh(host, "find /nix/store -maxdepth 1 ! -user root | head -3"));
        Assert.Equal("build-users-group = nixbld", await Sh(host, "grep '^build-users-group' /etc/nix/nix.conf"));
        Assert.NotEqual("", await Sh(host, "pgrep -x nix-daemon || true"));
        Assert.Equal(packagesBefore, await Sh(host, AliceEnv.Replace("nix-env -q", "NIX_REMOTE=daemon nix-env -q")));
        Assert.Equal(generationsBefore, await Sh(host, AliceGenerations));
        Assert.Equal("present", await Sh(host, "test -f /etc/profile.d/nix-daemon.sh && echo present"));
    }

    [Fact]
    public async Task DryRun_ReturnsThePlanAndPreflight_AndChangesNothing()
    {
        var id = fixture.Ids[Planned];
        var before = await StateAsync(Planned);

        var result = await Succeeded(_api, await RunAsync(_api, $"/api/v1/hosts/{id}/convert", new { dryRun = true, buildUsers = 4 }));

        var steps = result.GetProperty("plan").GetProperty("steps").EnumerateArray().ToList();
        Assert.Equal(["build-users", "nix-conf", "store-ownership", "user-profile", "daemon", "login-profile", "verify"], steps.Select(s => s.GetProperty("name").GetString()));
        Assert.All(steps, s => Assert.StartsWith($"# apply {s.GetProperty("name").GetString()} owner=alice users=4 ", s.GetProperty("commands").GetString()));
        var preflight = result.GetProperty("preflight");
        Assert.True(preflight.GetProperty("canConvert").GetBoolean(), preflight.ToString());
        Assert.Equal("alice", preflight.GetProperty("owner").GetString());
        Assert.Equal("none", preflight.GetProperty("initSystem").GetString());
        Assert.Equal(3, preflight.GetProperty("generations").GetArrayLength());
        Assert.Equal((await Sh(Planned, AliceEnv)).Split('\n'), preflight.GetProperty("packages").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal(before, await StateAsync(Planned));
        Assert.Equal(HttpStatusCode.NotFound, (await _api.Http.GetAsync($"/api/v1/hosts/{id}/convert/receipt")).StatusCode);
    }

    [Fact]
    public async Task Convert_MultiUserHost_IsRefusedByThePreflight_AndChangesNothing()
    {
        var before = await StateAsync(Multi);

        var op = await RunAsync(_api, $"/api/v1/hosts/{fixture.Ids[Multi]}/convert", new { dryRun = false, buildUsers = 4 });

        Assert.Equal("failed", op.GetProperty("status").GetString());
        Assert.Contains("already multi-user", op.GetProperty("error").GetString());
        Assert.Equal("refused", op.GetProperty("result").GetProperty("outcome").GetString());
        Assert.Equal(before, await StateAsync(Multi));
    }

    [Fact]
    public async Task Convert_ThenAgain_ThenRevert_LeavesTheSingleUserInstallAsItWas()
    {
        var id = fixture.Ids[Single];
        var nixConf = await Sh(Single, "sha256sum /etc/nix/nix.conf /home/alice/.profile /home/alice/.bashrc");
        var packages = await Sh(Single, AliceEnv);
        var generations = await Sh(Single, AliceGenerations);
        Assert.Equal("single-user", await InstallTypeAsync(id));

        var started = await _api.PostJsonAsync($"/api/v1/hosts/{id}/convert", new { dryRun = false, buildUsers = 4 }, HttpStatusCode.Accepted);
        // While it runs, the host takes no other change.
        Assert.Equal(HttpStatusCode.Conflict, (await _api.PostAsync($"/api/v1/hosts/{id}/convert", new { dryRun = false, buildUsers = 4 })).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await _api.PostAsync($"/api/v1/hosts/{id}/gc", new { mode = "plain" })).StatusCode);
        var conversion = started.GetProperty("operationId").GetGuid();
        var result = await Succeeded(_api, await _api.WaitForOperationAsync(conversion, TimeSpan.FromMinutes(3)));

        Assert.Equal("converted", result.GetProperty("outcome").GetString());
        Assert.Equal("multi-user", result.GetProperty("installType").GetString());
        var receipt = result.GetProperty("receipt");
        Assert.Equal(conversion.ToString("N"), receipt.GetProperty("id").GetString());
        Assert.All(receipt.GetProperty("steps").EnumerateArray(), s => Assert.Equal("done", s.GetProperty("status").GetString()));
        Assert.Matches("^nixbld[1-4]$", receipt.GetProperty("after").GetProperty("buildUser").GetString());
        await AssertMultiUserAsync(Single, packages, generations);
        Assert.Equal("multi-user", await InstallTypeAsync(id));

        // Again: nothing to do, and nothing is touched.
        var converted = await StateAsync(Single);
        var again = await Succeeded(_api, await RunAsync(_api, $"/api/v1/hosts/{id}/convert", new { dryRun = false, buildUsers = 4 }));
        Assert.Equal("already-converted", again.GetProperty("outcome").GetString());
        Assert.Equal(converted, await StateAsync(Single));
        // The daemon this conversion started is not a build in progress.
        Assert.DoesNotContain(ChecksOf(again), c => c.EndsWith(": failed"));

        var stored = await _api.GetJsonAsync($"/api/v1/hosts/{id}/convert/receipt");
        Assert.Equal(conversion.ToString("N"), stored.GetProperty("id").GetString());
        Assert.Equal("converted", stored.GetProperty("status").GetString());

        var reverted = await Succeeded(_api, await RunAsync(_api, $"/api/v1/hosts/{id}/convert/revert", null));

        Assert.Equal("reverted", reverted.GetProperty("outcome").GetString());
        Assert.DoesNotContain(ChecksOf(reverted), c => c.EndsWith(": failed"));
        Assert.Equal("single-user", reverted.GetProperty("installType").GetString());
        Assert.Equal("alice", await Sh(Single, "stat -c %U /nix/store"));
        Assert.Equal("", await Sh(Single, "find /nix ! -user alice | head -3"));
        Assert.Equal("", await Sh(Single, "pgrep -x nix-daemon; pgrep -x nixfleet-nix-da; getent group nixbld; true"));
        Assert.Equal(nixConf, await Sh(Single, "sha256sum /etc/nix/nix.conf /home/alice/.profile /home/alice/.bashrc"));
        Assert.Equal(packages, await Sh(Single, AliceEnv));
        Assert.Equal(generations, await Sh(Single, AliceGenerations));
        Assert.Equal("single-user", await InstallTypeAsync(id));
        Assert.Equal("reverted", (await _api.GetJsonAsync($"/api/v1/hosts/{id}/convert/receipt")).GetProperty("status").GetString());
    }

    [Fact]
    public async Task WebProcessKilledMidConversion_AnotherNodeResumesFromTheReceipt_AndFinishes()
    {
        // Each build user takes 2 s: the conversion is still creating them when NixFleet dies.
        await Sh(Crash, "printf '#!/bin/sh\\nsleep 2\\nexec /usr/sbin/useradd \"$@\"\\n' >/usr/local/sbin/useradd && chmod 755 /usr/local/sbin/useradd");
        var packages = await Sh(Crash, AliceEnv);
        var generations = await Sh(Crash, AliceGenerations);
        try
        {
            // A node of its own on a database of its own, so that it is the one running the job.
            var database = await TestPostgres.NewDatabaseAsync();
            var doomed = await NixFleetApp.StartAsync(database);
            Guid id;
            using (var api = await doomed.ClientAsync())
            {
                await api.ImportKeyAsync(_fleet.PrivateKey);
                var hostId = await api.AddTrustedHostAsync("crash-single", _fleet.Named(Crash).Address);
                var started = await api.PostJsonAsync($"/api/v1/hosts/{hostId}/convert", new { dryRun = false, buildUsers = 4 }, HttpStatusCode.Accepted);
                id = started.GetProperty("operationId").GetGuid();
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (!(await api.LogTextAsync(id)).Contains("step 1/7 build-users") && DateTime.UtcNow < deadline) await Task.Delay(200);
                Assert.Equal("", await Sh(Crash, "getent passwd nixbld4 || true"));
            }
            await doomed.KillAsync();
            await doomed.DisposeAsync();

            await using var restarted = await NixFleetApp.StartAsync(database);
            using var survivor = await restarted.ClientAsync();
            var op = await survivor.WaitForOperationAsync(id, TimeSpan.FromMinutes(3));

            var result = await Succeeded(survivor, op);
            Assert.Equal(2, op.GetProperty("attempt").GetInt32());
            Assert.Contains($"resuming conversion {id:N} from its receipt", await survivor.LogTextAsync(id));
            Assert.Equal("converted", result.GetProperty("outcome").GetString());
            await AssertMultiUserAsync(Crash, packages, generations);
        }
        finally
        {
            await Sh(Crash, "rm -f /usr/local/sbin/useradd");
        }
    }

    [Fact]
    public async Task Batch_OfTwoHosts_ConvertsBothAtOnce_WithAResultPerHost()
    {
        var packages = await Sh(Batch, AliceEnv);
        var generations = await Sh(Batch, AliceGenerations);
        var ids = new[] { fixture.Ids[Batch], fixture.Ids[Systemd] };

        var op = await RunAsync(_api, "/api/v1/convert", new { hostIds = ids, dryRun = false, buildUsers = 4, parallelism = 2 });

        var result = await Succeeded(_api, op);
        var rows = result.GetProperty("hosts").EnumerateArray().ToList();
        Assert.Equal([Batch, Systemd], rows.Select(r => r.GetProperty("host").GetString()));
        Assert.All(rows, r => Assert.Equal(("succeeded", "converted"), (r.GetProperty("status").GetString(), r.GetProperty("outcome").GetString())));
        // Two at a time: each host's part started before the other ended.
        var parts = (await _api.GetJsonAsync($"/api/v1/operations?parentId={op.GetProperty("id").GetGuid()}")).EnumerateArray()
            .Select(p => (Start: p.GetProperty("startedAt").GetDateTimeOffset(), End: p.GetProperty("finishedAt").GetDateTimeOffset())).ToList();
        Assert.Equal(2, parts.Count);
        Assert.True(parts[0].Start < parts[1].End && parts[1].Start < parts[0].End, string.Join("; ", parts));
        await AssertMultiUserAsync(Batch, packages, generations);
        Assert.Equal("root:nixbld 1775", await Sh(Systemd, "stat -c '%U:%G %a' /nix/store"));
        Assert.Equal("active\nactive\nenabled\nenabled",
            await Sh(Systemd, "systemctl is-active nix-daemon.socket nix-daemon.service; systemctl is-enabled nix-daemon.socket nix-daemon.service"));
        foreach (var id in ids)
        {
            Assert.Equal("multi-user", await InstallTypeAsync(id));
            Assert.Equal("converted", (await _api.GetJsonAsync($"/api/v1/hosts/{id}/convert/receipt")).GetProperty("status").GetString());
        }
    }
}
