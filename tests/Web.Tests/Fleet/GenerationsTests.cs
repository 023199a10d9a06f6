using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace NixFleet.Web.Tests.Fleet;

/// <summary>
/// Generations and rollback on real hosts: every test reads the host's real state afterwards
/// (profile links, /run/current-system, the stand-in's activation record, nix-env -q).
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class GenerationsTests(GenerationsTests.Fixture fixture) : IClassFixture<GenerationsTests.Fixture>
{
    const string SystemProfile = "/nix/var/nix/profiles/system";
    const string Nixos = "nixos1";
    readonly TestFleet _fleet = fixture.Fleet;
    readonly ApiClient _api = fixture.Admin;

    public sealed class Fixture : FleetAppFixture
    {
        public Guid NixosId { get; private set; }
        public Guid SingleId { get; private set; }
        public Guid MultiId { get; private set; }

        public override async Task InitializeAsync()
        {
            await base.InitializeAsync();
            NixosId = await Admin.AddTrustedHostAsync("gen-nixos", Fleet.Named(Nixos).Address);
            SingleId = await Admin.AddTrustedHostAsync("gen-single", Fleet.Host("single").Address);
            MultiId = await Admin.AddTrustedHostAsync("gen-multi", Fleet.Host("multi").Address);
        }
    }

    Task<string> Sh(string host, string script) => _fleet.ShAsync(host, script);

    async Task<List<JsonElement>> GenerationsAsync(Guid hostId, string profile) =>
        (await _api.GetJsonAsync($"/api/v1/hosts/{hostId}/generations")).EnumerateArray()
            .Where(g => g.GetProperty("profile").GetString() == profile).ToList();

    /// <summary>Store path of generation N of the system profile, as the host says.</summary>
    Task<string> SystemPath(int n) => Sh(Nixos, $"readlink {SystemProfile}-{n}-link");

    async Task<JsonElement> RollbackAsync(Guid hostId, string profile, int? generation, string mode, bool reactivate = false)
    {
        var started = await _api.PostJsonAsync($"/api/v1/hosts/{hostId}/rollback",
            new { profile, generation, mode, reason = "on-call: test rollback", reactivateOnFailure = reactivate }, HttpStatusCode.Accepted);
        return await _api.WaitForOperationAsync(started.GetProperty("operationId").GetGuid(), TimeSpan.FromSeconds(120));
    }

    async Task AssertSucceeded(JsonElement op) =>
        Assert.True(op.GetProperty("status").GetString() == "succeeded", $"{op}\n{await _api.LogTextAsync(op.GetProperty("id").GetGuid())}");

    /// <summary>Back to generation 3 running and booting, as the fleet starts.</summary>
    async Task ResetNixosAsync()
    {
        await Sh(Nixos, "rm -f /etc/nixfleet-test/fail-activation /etc/nixfleet-test/slow-activation");
        var three = await SystemPath(3);
        if (await Sh(Nixos, "readlink /run/current-system") != three || await Sh(Nixos, $"readlink {SystemProfile}") != "system-3-link")
            await AssertSucceeded(await RollbackAsync(fixture.NixosId, SystemProfile, 3, "switch"));
    }

    [Fact]
    public async Task NixosHost_ListsSystemGenerations_WithCurrentBootDefaultVersionAndKernel()
    {
        await ResetNixosAsync();
        var gens = await GenerationsAsync(fixture.NixosId, SystemProfile);

        var onHost = (await Sh(Nixos, $"ls -d {SystemProfile}-*-link | sed 's/.*system-\\([0-9]*\\)-link/\\1/' | sort -n")).Split('\n').Select(int.Parse).ToList();
        Assert.Equal(onHost.OrderDescending(), gens.Select(g => g.GetProperty("number").GetInt32()));
        var current = gens.Single(g => g.GetProperty("current").GetBoolean());
        Assert.Equal(await Sh(Nixos, "readlink /run/current-system"), current.GetProperty("storePath").GetString());
        var boot = gens.Single(g => g.GetProperty("bootDefault").GetBoolean());
        Assert.Equal(await Sh(Nixos, $"readlink -f {SystemProfile}"), boot.GetProperty("storePath").GetString());
        Assert.Equal(await Sh(Nixos, $"cat {SystemProfile}-3-link/nixos-version"), gens[0].GetProperty("nixosVersion").GetString());
        Assert.Equal(await Sh(Nixos, $"cat {SystemProfile}-3-link/kernel-version"), gens[0].GetProperty("kernelVersion").GetString());
    }

    [Theory]
    [InlineData("switch")]
    [InlineData("boot")]
    [InlineData("test")]
    public async Task NixosRollback_InEachMode_ChangesExactlyWhatTheModePromises_AndRollsForwardAgain(string mode)
    {
        await ResetNixosAsync();
        var three = await SystemPath(3);
        var two = await SystemPath(2);
        var activationsBefore = await Sh(Nixos, "cat /var/lib/nixfleet-test/activations 2>/dev/null | wc -l");

        // Previous generation (omitted number) in this mode.
        await AssertSucceeded(await RollbackAsync(fixture.NixosId, SystemProfile, null, mode));

        var running = await Sh(Nixos, "readlink /run/current-system");
        var profile = await Sh(Nixos, $"readlink {SystemProfile}");
        Assert.Equal(mode is "switch" or "test" ? two : three, running);
        Assert.Equal(mode is "switch" or "boot" ? "system-2-link" : "system-3-link", profile);
        var lastActivation = await Sh(Nixos, "tail -n 1 /var/lib/nixfleet-test/activations");
        Assert.EndsWith($" {mode} {two}", lastActivation);
        Assert.Equal(int.Parse(activationsBefore) + 1, int.Parse(await Sh(Nixos, "wc -l < /var/lib/nixfleet-test/activations")));

        // The host page shows the new state without another click: facts were refreshed.
        var facts = (await _api.GetJsonAsync($"/api/v1/hosts/{fixture.NixosId}")).GetProperty("facts");
        Assert.Equal(running, facts.GetProperty("currentSystemPath").GetString());

        // Roll forward again.
        await AssertSucceeded(await RollbackAsync(fixture.NixosId, SystemProfile, 3, "switch"));
        Assert.Equal(three, await Sh(Nixos, "readlink /run/current-system"));
        Assert.Equal("system-3-link", await Sh(Nixos, $"readlink {SystemProfile}"));
    }

    [Fact]
    public async Task SingleUserProfile_RollsBackAndForward_AsTheStoreOwner()
    {
        var profile = (await _api.GetJsonAsync($"/api/v1/hosts/{fixture.SingleId}/generations")).EnumerateArray()
            .First(g => g.GetProperty("owner").GetString() == "alice" && g.GetProperty("bootDefault").GetBoolean());
        var path = profile.GetProperty("profile").GetString()!;
        var current = profile.GetProperty("number").GetInt32();
        var before = await Sh("single1", "runuser -u alice -- nix-env -q | sort");

        await AssertSucceeded(await RollbackAsync(fixture.SingleId, path, null, "switch"));
        var back = await Sh("single1", "runuser -u alice -- nix-env -q | sort");
        Assert.NotEqual(before, back);
        Assert.Equal($"profile-{current - 1}-link", await Sh("single1", $"readlink {path}"));
        // Nothing in alice's store became root's.
        Assert.Equal("", await Sh("single1", "find /nix -not -user alice | head -5"));

        await AssertSucceeded(await RollbackAsync(fixture.SingleId, path, current, "switch"));
        Assert.Equal(before, await Sh("single1", "runuser -u alice -- nix-env -q | sort"));
    }

    [Fact]
    public async Task MultiUserDefaultProfile_RollsBackAndForward()
    {
        const string profile = "/nix/var/nix/profiles/default";
        var current = (await GenerationsAsync(fixture.MultiId, profile)).Single(g => g.GetProperty("bootDefault").GetBoolean()).GetProperty("number").GetInt32();
        var before = await Sh("multi1", $"nix-env -p {profile} -q | sort");

        await AssertSucceeded(await RollbackAsync(fixture.MultiId, profile, null, "switch"));
        Assert.NotEqual(before, await Sh("multi1", $"nix-env -p {profile} -q | sort"));
        await AssertSucceeded(await RollbackAsync(fixture.MultiId, profile, current, "switch"));
        Assert.Equal(before, await Sh("multi1", $"nix-env -p {profile} -q | sort"));
    }

    [Fact]
    public async Task Diff_BetweenTwoSystemGenerations_ListsPackageChanges()
    {
        await ResetNixosAsync();
        var diff = await _api.GetJsonAsync($"/api/v1/hosts/{fixture.NixosId}/generations/diff?profile={Uri.EscapeDataString(SystemProfile)}&from=2&to=3");

        var raw = await Sh(Nixos, $"nix --extra-experimental-features nix-command store diff-closures {await SystemPath(2)} {await SystemPath(3)}");
        Assert.Equal(raw.Trim(), diff.GetProperty("raw").GetString()!.Trim());
        Assert.Contains(diff.GetProperty("changes").EnumerateArray(), c => c.GetProperty("name").GetString() == "cowsay");
    }

    [Fact]
    public async Task TargetDeletedBetweenListingAndClick_FailsClearly_AndChangesNothing()
    {
        await ResetNixosAsync();
        var listed = await GenerationsAsync(fixture.NixosId, SystemProfile);
        var oldest = listed.Min(g => g.GetProperty("number").GetInt32());
        Assert.True(oldest < 3, "the stand-in should have an old generation to delete");
        await Sh(Nixos, $"nix-env -p {SystemProfile} --delete-generations {oldest}");
        var activations = await Sh(Nixos, "cat /var/lib/nixfleet-test/activations 2>/dev/null | wc -l");

        var op = await RollbackAsync(fixture.NixosId, SystemProfile, oldest, "switch");

        Assert.Equal("failed", op.GetProperty("status").GetString());
        Assert.Contains($"Generation {oldest} of {SystemProfile} does not exist", op.GetProperty("error").GetString());
        Assert.Contains("Nothing was changed", op.GetProperty("error").GetString());
        Assert.Equal(await SystemPath(3), await Sh(Nixos, "readlink /run/current-system"));
        Assert.Equal("system-3-link", await Sh(Nixos, $"readlink {SystemProfile}"));
        Assert.Equal(activations, await Sh(Nixos, "cat /var/lib/nixfleet-test/activations 2>/dev/null | wc -l"));
    }

    [Fact]
    public async Task FailingActivation_IsReportedWithItsOutput_AndThePreviousGenerationIsReactivated()
    {
        await ResetNixosAsync();
        var two = await SystemPath(2);
        await Sh(Nixos, $"echo {two} > /etc/nixfleet-test/fail-activation");
        try
        {
            var op = await RollbackAsync(fixture.NixosId, SystemProfile, 2, "switch", reactivate: true);

            Assert.Equal("failed", op.GetProperty("status").GetString());
            Assert.Contains("exited 1", op.GetProperty("error").GetString());
            var log = await _api.LogTextAsync(op.GetProperty("id").GetGuid());
            Assert.Contains("fault injected by NixFleet test host", log);
            Assert.Contains("re-activated", log);
            // Back where it was: running and booting generation 3.
            Assert.Equal(await SystemPath(3), await Sh(Nixos, "readlink /run/current-system"));
            Assert.Equal("system-3-link", await Sh(Nixos, $"readlink {SystemProfile}"));
            Assert.EndsWith($" switch {await SystemPath(3)}", await Sh(Nixos, "tail -n 1 /var/lib/nixfleet-test/activations"));
        }
        finally
        {
            await ResetNixosAsync();
        }
    }

    [Fact]
    public async Task SshConnectionKilledDuringActivation_ReconcilesAndRecordsTheRealOutcome()
    {
        await ResetNixosAsync();
        var two = await SystemPath(2);
        await Sh(Nixos, "echo 6 > /etc/nixfleet-test/slow-activation");
        var testActivations = int.Parse(await Sh(Nixos, $"grep -c ' test {two}$' /var/lib/nixfleet-test/activations || true"));
        try
        {
            var started = await _api.PostJsonAsync($"/api/v1/hosts/{fixture.NixosId}/rollback",
                new { profile = SystemProfile, generation = 2, mode = "test", reason = "connection-loss test" }, HttpStatusCode.Accepted);
            var id = started.GetProperty("operationId").GetGuid();
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!(await _api.LogTextAsync(id)).Contains("detached from this connection") && DateTime.UtcNow < deadline) await Task.Delay(200);
            await Task.Delay(1000);

            // The host's sshd goes away and NixFleet's connection with it; the activation, detached, goes on.
            await Sh(Nixos, "kill $(cat /run/sshd.pid)");
            var killed = await SshMasters.KillAsync(Path.Combine(fixture.App.DataDir, "ssh", "cm"));
            Assert.True(killed > 0, "no SSH master connection to kill");
            await Task.Delay(TimeSpan.FromSeconds(4));
            Assert.Equal("reconciling", (await _api.GetJsonAsync($"/api/v1/operations/{id}")).GetProperty("status").GetString());
            await Sh(Nixos, "/usr/sbin/sshd -f /etc/ssh/sshd_config -E /var/log/sshd.log");
            var op = await _api.WaitForOperationAsync(id, TimeSpan.FromSeconds(120));

            await AssertSucceeded(op);
            var log = await _api.LogTextAsync(id);
            Assert.Contains("connection to the host lost", log);
            Assert.Contains("reconnected", log);
            Assert.Equal(two, await Sh(Nixos, "readlink /run/current-system"));
            Assert.Equal("system-3-link", await Sh(Nixos, $"readlink {SystemProfile}"));
            // Activated once, not again after the reconnect.
            Assert.Equal(testActivations + 1, int.Parse(await Sh(Nixos, $"grep -c ' test {two}$' /var/lib/nixfleet-test/activations")));
        }
        finally
        {
            await ResetNixosAsync();
        }
    }

    [Fact]
    public async Task WebProcessKilledDuringActivation_AnotherNodeFinishesTheRollback_WithoutActivatingTwice()
    {
        await ResetNixosAsync();
        var two = await SystemPath(2);
        await Sh(Nixos, "echo 5 > /etc/nixfleet-test/slow-activation");
        var testActivations = int.Parse(await Sh(Nixos, $"grep -c ' test {two}$' /var/lib/nixfleet-test/activations || true"));
        try
        {
            // A node of its own on a database of its own, so that it is the one running the job.
            var database = await TestPostgres.NewDatabaseAsync();
            var doomed = await NixFleetApp.StartAsync(database);
            Guid id;
            using (var api = await doomed.ClientAsync())
            {
                await api.ImportKeyAsync(_fleet.PrivateKey);
                var hostId = await api.AddTrustedHostAsync("crash-nixos", _fleet.Named(Nixos).Address);
                var started = await api.PostJsonAsync($"/api/v1/hosts/{hostId}/rollback",
                    new { profile = SystemProfile, generation = 2, mode = "test", reason = "node-crash test" }, HttpStatusCode.Accepted);
                id = started.GetProperty("operationId").GetGuid();
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (!(await api.LogTextAsync(id)).Contains("detached from this connection") && DateTime.UtcNow < deadline) await Task.Delay(200);
            }
            await doomed.KillAsync();
            await doomed.DisposeAsync();

            // Restarted on the same database, the node recovers the job and continues from its checkpoint.
            await using var restarted = await NixFleetApp.StartAsync(database);
            using var survivor = await restarted.ClientAsync();
            var op = await survivor.WaitForOperationAsync(id, TimeSpan.FromSeconds(120));

            Assert.True(op.GetProperty("status").GetString() == "succeeded", $"{op}\n{await survivor.LogTextAsync(id)}");
            Assert.Equal(2, op.GetProperty("attempt").GetInt32());
            var log = await survivor.LogTextAsync(id);
            // Killed before or after it recorded the start: either way the activation ran once.
            Assert.True(log.Contains("continuing an interrupted rollback from step"), log);
            Assert.Equal(two, await Sh(Nixos, "readlink /run/current-system"));
            Assert.Equal(testActivations + 1, int.Parse(await Sh(Nixos, $"grep -c ' test {two}$' /var/lib/nixfleet-test/activations")));
        }
        finally
        {
            await ResetNixosAsync();
        }
    }

    [Fact]
    public async Task UnreachableHost_RollbackFailsWithSshsError_AndNothingIsLeftRunning()
    {
        var victim = _fleet.Named("victim1");
        var id = await _api.AddTrustedHostAsync("gen-victim", victim.Address);
        await _api.GetJsonAsync($"/api/v1/hosts/{id}/generations");
        await _fleet.StopHostAsync(victim.Name);
        try
        {
            var op = await RollbackAsync(id, "/nix/var/nix/profiles/default", null, "switch");

            Assert.Equal("failed", op.GetProperty("status").GetString());
            Assert.Matches("unreachable|Connection refused|lost", op.GetProperty("error").GetString()!);
            // The host is free again for the next change.
            var next = await _api.PostAsync($"/api/v1/hosts/{id}/rollback", new { profile = "/nix/var/nix/profiles/default", reason = "again" });
            Assert.Equal(HttpStatusCode.Accepted, next.StatusCode);
            await _api.WaitForOperationAsync((await next.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("operationId").GetGuid());
        }
        finally
        {
            await _fleet.StartHostAsync(victim.Name);
        }
    }

    [Fact]
    public async Task SecondChange_WhileOneRuns_IsRefusedWithAClearMessage()
    {
        await ResetNixosAsync();
        await Sh(Nixos, "echo 4 > /etc/nixfleet-test/slow-activation");
        try
        {
            var first = await _api.PostJsonAsync($"/api/v1/hosts/{fixture.NixosId}/rollback",
                new { profile = SystemProfile, generation = 2, mode = "test", reason = "first" }, HttpStatusCode.Accepted);

            var second = await _api.PostAsync($"/api/v1/hosts/{fixture.NixosId}/rollback",
                new { profile = SystemProfile, generation = 3, mode = "test", reason = "second" });

            Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
            Assert.Contains("is busy", await second.Content.ReadAsStringAsync());
            await AssertSucceeded(await _api.WaitForOperationAsync(first.GetProperty("operationId").GetGuid()));
        }
        finally
        {
            await ResetNixosAsync();
        }
    }

    public static TheoryData<string, object> BadRollbacks => new()
    {
        { "generation", new { profile = SystemProfile, generation = -1, mode = "switch", reason = "r" } },
        { "generation", new { profile = SystemProfile, generation = 0, mode = "switch", reason = "r" } },
        { "generation", new { profile = SystemProfile, generation = 99999999999L, mode = "switch", reason = "r" } },
        { "generation", new { profile = SystemProfile, generation = "three", mode = "switch", reason = "r" } },
        { "generation", new { profile = SystemProfile, generation = 4242, mode = "switch", reason = "r" } },
        { "profile", new { profile = "/nix/var/nix/profiles/../../../../etc", generation = 2, mode = "switch", reason = "r" } },
        { "profile", new { profile = "/home/alice/.local/state/nix/profiles/not-listed", generation = 2, mode = "switch", reason = "r" } },
        { "mode", new { profile = SystemProfile, generation = 2, mode = "dry-activate; reboot", reason = "r" } },
        { "reason", new { profile = SystemProfile, generation = 2, mode = "switch", reason = "" } },
        { "reason", new { profile = SystemProfile, generation = 2, mode = "switch", reason = "$(touch /tmp/pwn)" } },
        { "reason", new { profile = SystemProfile, generation = 2, mode = "switch", reason = "`reboot`" } },
        { "reason", new { profile = SystemProfile, generation = 2, mode = "switch", reason = "line one\nline two\u001b[2J" } },
    };

    [Theory]
    [MemberData(nameof(BadRollbacks))]
    public async Task BadRollbackInput_Is400NamingTheField_AndNothingRuns(string field, object body)
    {
        var opsBefore = (await _api.GetJsonAsync($"/api/v1/operations?hostId={fixture.NixosId}&limit=500")).GetArrayLength();

        var response = await _api.Http.PostAsJsonAsync($"/api/v1/hosts/{fixture.NixosId}/rollback", body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(problem.TryGetProperty("errors", out var errors) && errors.TryGetProperty(field, out _), $"expected an error for {field}: {problem}");
        Assert.Equal(opsBefore, (await _api.GetJsonAsync($"/api/v1/operations?hostId={fixture.NixosId}&limit=500")).GetArrayLength());
    }

    [Fact]
    public async Task Viewer_CannotRollBack()
    {
        await _api.CreateUserAsync("gen-viewer@example.test", "Viewer-pass-123", "Viewer");
        using var viewer = await fixture.App.ClientAsync("gen-viewer@example.test", "Viewer-pass-123");
        var response = await viewer.PostAsync($"/api/v1/hosts/{fixture.NixosId}/rollback", new { profile = SystemProfile, generation = 2, mode = "switch", reason = "r" });
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task DeleteByPolicy_PreviewsFirst_ThenDeletesExactlyThat_NeverTheCurrentOne()
    {
        // Alice's profile on the multi-user host (through the daemon), with one more generation made now.
        await Sh("multi1", "runuser -u alice -- env NIX_REMOTE=daemon nix-env -f /etc/nixfleet-test/pkgs.nix -iA figlet >/dev/null 2>&1");
        var alice = (await _api.GetJsonAsync($"/api/v1/hosts/{fixture.MultiId}/generations")).EnumerateArray()
            .First(g => g.GetProperty("owner").GetString() == "alice" && g.GetProperty("bootDefault").GetBoolean());
        var profile = alice.GetProperty("profile").GetString()!;
        var before = await Sh("multi1", $"ls -d {profile}-*-link | wc -l");
        Assert.True(int.Parse(before) >= 2, $"alice should have generations to delete: {before}");

        var preview = await _api.PostJsonAsync($"/api/v1/hosts/{fixture.MultiId}/generations/delete", new { profile, keepLast = 1, dryRun = true }, HttpStatusCode.OK);
        var would = preview.GetProperty("wouldDelete").EnumerateArray().Select(e => e.GetInt32()).ToList();
        Assert.NotEmpty(would);
        Assert.Equal(before, await Sh("multi1", $"ls -d {profile}-*-link | wc -l"));
        Assert.DoesNotContain(alice.GetProperty("number").GetInt32(), would);

        var started = await _api.PostJsonAsync($"/api/v1/hosts/{fixture.MultiId}/generations/delete", new { profile, keepLast = 1, dryRun = false }, HttpStatusCode.Accepted);
        await AssertSucceeded(await _api.WaitForOperationAsync(started.GetProperty("operationId").GetGuid()));

        var left = (await Sh("multi1", $"ls -d {profile}-*-link | sed 's/.*-\\([0-9]*\\)-link/\\1/'")).Split('\n').Select(int.Parse).ToList();
        Assert.Empty(would.Intersect(left));
        Assert.Equal([alice.GetProperty("number").GetInt32()], left);
        Assert.Equal($"profile-{alice.GetProperty("number").GetInt32()}-link", await Sh("multi1", $"readlink {profile}").ContinueWith(t => Path.GetFileName(t.Result)));
    }

    [Theory]
    [InlineData("{\"profile\":\"/nix/var/nix/profiles/system\",\"keepLast\":0}", "keepLast")]
    [InlineData("{\"profile\":\"/nix/var/nix/profiles/system\",\"olderThanDays\":-3}", "olderThanDays")]
    [InlineData("{\"profile\":\"/nix/var/nix/profiles/system\",\"olderThanDays\":\"1d; rm -rf /\"}", "olderThanDays")]
    [InlineData("{\"profile\":\"/nix/var/nix/profiles/system\",\"olderThanDays\":5,\"keepLast\":2}", "keepLast")]
    [InlineData("{\"profile\":\"/etc/passwd\",\"keepLast\":2}", "profile")]
    public async Task BadDeleteInput_Is400(string json, string field)
    {
        var response = await _api.Http.PostAsync($"/api/v1/hosts/{fixture.NixosId}/generations/delete", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(field, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task FleetRollback_ByTag_RunsOneRollbackPerHost_WithACombinedResult()
    {
        // Root's default profile on two multi-user hosts, by tag, two at a time.
        var builderId = await _api.AddTrustedHostAsync("gen-builder", _fleet.Host("builder").Address, "batch-rollback");
        var multiTagged = await _api.AddTrustedHostAsync("gen-multi-tagged", _fleet.Host("multi").Address, "batch-rollback");
        const string profile = "/nix/var/nix/profiles/default";
        var before = new Dictionary<string, string>
        {
            ["multi1"] = await Sh("multi1", $"readlink {profile}"),
            ["builder1"] = await Sh("builder1", $"readlink {profile}"),
        };

        var started = await _api.PostJsonAsync("/api/v1/rollbacks",
            new { tag = "batch-rollback", profile, mode = "switch", reason = "bad deploy", parallelism = 2 }, HttpStatusCode.Accepted);
        var batch = await _api.WaitForOperationAsync(started.GetProperty("operationId").GetGuid(), TimeSpan.FromSeconds(180));

        await AssertSucceeded(batch);
        var result = batch.GetProperty("result");
        Assert.Equal(2, result.GetProperty("succeeded").GetInt32());
        var children = (await _api.GetJsonAsync($"/api/v1/operations?parentId={batch.GetProperty("id").GetGuid()}")).EnumerateArray().ToList();
        Assert.Equal(2, children.Count);
        Assert.All(children, c => Assert.Equal("rollback", c.GetProperty("kind").GetString()));
        Assert.Equal(new[] { builderId, multiTagged }.Order(), children.Select(c => c.GetProperty("hostId").GetGuid()).Order());
        foreach (var (host, link) in before)
        {
            var n = int.Parse(System.Text.RegularExpressions.Regex.Match(link, @"-(\d+)-link").Groups[1].Value);
            Assert.Equal($"default-{n - 1}-link", await Sh(host, $"readlink {profile}"));
            await Sh(host, $"nix-env -p {profile} --switch-generation {n}");
        }
    }

    [Fact]
    public async Task FleetRollback_WithNoHostsOrBadParallelism_Is400()
    {
        Assert.Equal(HttpStatusCode.BadRequest, (await _api.PostAsync("/api/v1/rollbacks", new { tag = "no-such-tag", reason = "r" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await _api.PostAsync("/api/v1/rollbacks", new { hostIds = new[] { fixture.NixosId }, reason = "r", parallelism = 0 })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await _api.PostAsync("/api/v1/rollbacks", new { hostIds = new[] { Guid.NewGuid() }, reason = "r" })).StatusCode);
    }
}
