using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace NixFleet.Web.Tests.Fleet;

/// <summary>
/// Store maintenance on real hosts with real stores: every test measures the host itself (which
/// store paths exist, their sizes, the profiles' generation links) before and after.
/// The hosts are this class's own, since GC changes them for good.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class MaintenanceTests(MaintenanceTests.Fixture fixture) : IClassFixture<MaintenanceTests.Fixture>
{
    const string Garbage = "/var/lib/nixfleet-test/nixfleet-garbage-1MiB";
    const string SystemProfile = "/nix/var/nix/profiles/system";
    const string DefaultProfile = "/nix/var/nix/profiles/default";
    readonly TestFleet _fleet = fixture.Fleet;
    readonly ApiClient _api = fixture.Admin;

    public sealed class Fixture : AppFixture
    {
        public TestFleet Fleet { get; private set; } = null!;
        public Dictionary<string, Guid> Ids { get; } = [];

        public override async Task InitializeAsync()
        {
            Fleet = await TestFleet.StartAsync("maintenance",
                ("single", "gc-single", "127.0.0.81"),
                ("multi", "gc-multi", "127.0.0.82"),
                ("nixos", "gc-nixos", "127.0.0.83"),
                ("multi", "gc-victim", "127.0.0.84"));
            await base.InitializeAsync();
            await Admin.ImportKeyAsync(Fleet.PrivateKey);
            foreach (var h in Fleet.Hosts) Ids[h.Name] = await Admin.AddTrustedHostAsync(h.Name, h.Address, "gc");
        }

        public override async Task DisposeAsync()
        {
            await base.DisposeAsync();
            await Fleet.DisposeAsync();
        }
    }

    public static TheoryData<string> Kinds() => new() { "gc-single", "gc-multi", "gc-nixos" };

    Task<string> Sh(string host, string script) => _fleet.ShAsync(host, script);

    /// <summary>How Nix runs on the host: as alice on the single-user store, else as root.</summary>
    static string AsStoreOwner(string host) => host == "gc-single" ? "runuser -u alice -- " : "";

    /// <summary>An unrooted 1 MiB store path (again, if a GC took it): real garbage of known size.</summary>
    async Task<string> MakeGarbageAsync(string host) =>
        await Sh(host, $"{AsStoreOwner(host)}nix-store --add {Garbage}");

    /// <summary>Every store path and every generation link on the host: what "nothing changed" compares.</summary>
    Task<string> StoreAndProfilesAsync(string host) =>
        Sh(host, "ls /nix/store | sort; find /nix/var/nix/profiles -name '*-link' | sort");

    /// <summary>What Nix 2.8 counts as freed for these paths: the sizes of their non-directory entries with one link.</summary>
    Task<string> NixCountedBytesAsync(string host, IEnumerable<string> paths) =>
        Sh(host, $"for p in {string.Join(' ', paths)}; do find \"$p\" ! -type d -links 1 -printf '%s\\n'; done | awk '{{s+=$1}} END {{print s+0}}'");

    async Task<JsonElement> GcAsync(string host, object body, HttpStatusCode expected = HttpStatusCode.Accepted)
    {
        var started = await _api.PostJsonAsync($"/api/v1/hosts/{fixture.Ids[host]}/gc", body, expected);
        return await _api.WaitForOperationAsync(started.GetProperty("operationId").GetGuid(), TimeSpan.FromMinutes(3));
    }

    async Task<JsonElement> SucceededResult(JsonElement op)
    {
        Assert.True(op.GetProperty("status").GetString() == "succeeded", $"{op}\n{await _api.LogTextAsync(op.GetProperty("id").GetGuid())}");
        return op.GetProperty("result");
    }

    async Task<List<int>> GenerationNumbersAsync(string host, string profile) =>
        (await Sh(host, $"ls -d {profile}-*-link 2>/dev/null | sed 's/.*-\\([0-9]*\\)-link$/\\1/' | sort -n")).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();

    /// <summary>Generations 1..count of root's default profile (current = the newest), each a real new user environment.</summary>
    async Task MakeGenerationsAsync(string host, int count)
    {
        await Sh(host, $"""
            p={DefaultProfile}
            for n in $(ls -d $p-*-link 2>/dev/null | sed 's/.*-\([0-9]*\)-link$/\1/'); do
              [ "$(readlink $p)" = "default-$n-link" ] || nix-env --delete-generations $n >/dev/null 2>&1
            done
            i=0
            while [ "$(ls -d $p-*-link | wc -l)" -lt {count} ]; do
              i=$((i+1))
              if [ $((i % 2)) -eq 1 ]; then nix-env -f /etc/nixfleet-test/pkgs.nix -iA figlet; else nix-env -e figlet; fi >/dev/null 2>&1
            done
            """);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task DryRun_ReportsTheGarbageAndWhatItFrees_AndDeletesNothing(string host)
    {
        var garbage = await MakeGarbageAsync(host);
        var dead = (await Sh(host, $"{AsStoreOwner(host)}nix-store --gc --print-dead 2>/dev/null")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var before = await StoreAndProfilesAsync(host);

        var result = await SucceededResult(await GcAsync(host, new { mode = "plain", dryRun = true }));

        Assert.True(result.GetProperty("dryRun").GetBoolean());
        Assert.Equal(0, result.GetProperty("pathsDeleted").GetInt32());
        Assert.Equal(dead.Length, result.GetProperty("pathsWouldDelete").GetInt32());
        Assert.Contains(garbage, result.GetProperty("paths").EnumerateArray().Select(p => p.GetString()));
        // NAR sizes: the garbage's 1 MiB of file data plus the archive's framing.
        var narSizes = long.Parse(await Sh(host, $"{AsStoreOwner(host)}nix-store -q --size {string.Join(' ', dead)} | awk '{{s+=$1}} END {{print s}}'"));
        Assert.Equal(narSizes, result.GetProperty("wouldFree").GetInt64());
        Assert.InRange(result.GetProperty("wouldFree").GetInt64(), 1048576, long.MaxValue);
        Assert.Equal(before, await StoreAndProfilesAsync(host));
        Assert.Equal(garbage, await Sh(host, $"{AsStoreOwner(host)}nix-store --check-validity --print-invalid {garbage}; test -e {garbage} && echo {garbage}"));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task PlainGc_FreesWhatNixCounts_AndKeepsEveryGeneration(string host)
    {
        var garbage = await MakeGarbageAsync(host);
        var dead = (await Sh(host, $"{AsStoreOwner(host)}nix-store --gc --print-dead 2>/dev/null")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var counted = long.Parse(await NixCountedBytesAsync(host, dead));
        var generations = await Sh(host, "find /nix/var/nix/profiles /home -name '*-link' 2>/dev/null | sort");

        var result = await SucceededResult(await GcAsync(host, new { mode = "plain" }));

        Assert.Equal(dead.Length, result.GetProperty("pathsDeleted").GetInt32());
        var freed = result.GetProperty("bytesFreed").GetInt64();
        Assert.InRange(counted, 1048576, long.MaxValue);
        Assert.InRange(freed, counted - result.GetProperty("bytesFreedRounding").GetInt64(), counted + result.GetProperty("bytesFreedRounding").GetInt64());
        var storeBefore = result.GetProperty("storeSizeBefore").GetInt64();
        var storeAfter = result.GetProperty("storeSizeAfter").GetInt64();
        Assert.Equal(long.Parse((await Sh(host, "du -sb /nix/store")).Split('\t')[0]), storeAfter);
        // du also counts the deleted directories, which Nix does not.
        Assert.InRange(storeBefore - storeAfter, freed - 5243, freed + 4096L * 64 * dead.Length);
        Assert.Equal("gone", await Sh(host, $"test -e {garbage} && echo there || echo gone"));
        Assert.Equal(generations, await Sh(host, "find /nix/var/nix/profiles /home -name '*-link' 2>/dev/null | sort"));
        if (host == "gc-single")
            Assert.Equal("", await Sh(host, "find /nix ! -user alice | head -5"));
        // The facts (and the host page's chart) have the size after the GC.
        var facts = await _api.GetJsonAsync($"/api/v1/hosts/{fixture.Ids[host]}/facts?limit=1");
        Assert.Equal(storeAfter, facts[0].GetProperty("storeSizeBytes").GetInt64());
    }

    [Fact]
    public async Task KeepLast_LeavesExactlyTheLastK_CountedFromTheCurrent_AndCollects()
    {
        const string host = "gc-multi";
        await MakeGenerationsAsync(host, 5);
        var gens = await GenerationNumbersAsync(host, DefaultProfile);
        Assert.Equal(5, gens.Count);
        var doomedPaths = await Sh(host, $"for n in {gens[0]} {gens[1]} {gens[2]}; do readlink {DefaultProfile}-$n-link; done");

        var dry = await SucceededResult(await GcAsync(host, new { mode = "keepLast", keepLast = 2, profiles = new[] { DefaultProfile }, dryRun = true }));
        Assert.Equal(gens.Take(3), dry.GetProperty("generations")[0].GetProperty("generations").EnumerateArray().Select(g => g.GetInt32()));
        Assert.Equal(gens, await GenerationNumbersAsync(host, DefaultProfile));

        var result = await SucceededResult(await GcAsync(host, new { mode = "keepLast", keepLast = 2, profiles = new[] { DefaultProfile } }));

        Assert.Equal(gens.Skip(3), await GenerationNumbersAsync(host, DefaultProfile));
        Assert.Equal($"default-{gens[4]}-link", await Sh(host, $"readlink {DefaultProfile}"));
        Assert.InRange(result.GetProperty("pathsDeleted").GetInt32(), 1, int.MaxValue);
        // The user environments only the deleted generations used are gone from the store.
        foreach (var path in doomedPaths.Split('\n').Distinct())
        {
            var stillUsed = await Sh(host, $"for l in {DefaultProfile}-*-link /nix/var/nix/profiles/per-user/*/*-link; do readlink $l; done | grep -c '^{path}$' || true");
            Assert.Equal(stillUsed == "0" ? "gone" : "there", await Sh(host, $"test -e {path} && echo there || echo gone"));
        }
    }

    [Fact]
    public async Task OlderThan_DeletesWhatIsOlderThanDDays_ButKeepsTheOneInUseThen()
    {
        const string host = "gc-multi";
        await MakeGenerationsAsync(host, 4);
        var g = await GenerationNumbersAsync(host, DefaultProfile);
        await Sh(host, $"""
            touch -h -d '40 days ago' {DefaultProfile}-{g[0]}-link
            touch -h -d '35 days ago' {DefaultProfile}-{g[1]}-link
            touch -h -d '20 days ago' {DefaultProfile}-{g[2]}-link
            """);

        await SucceededResult(await GcAsync(host, new { mode = "olderThan", olderThanDays = 30 }));

        // Generation g1 was the one in use 30 days ago: nix-env keeps it; g0 goes.
        Assert.Equal(g.Skip(1), await GenerationNumbersAsync(host, DefaultProfile));
    }

    [Fact]
    public async Task DeleteOld_KeepsWhatRunsAndWhatBoots_EvenWhenTheyDiffer()
    {
        const string host = "gc-nixos";
        var id = fixture.Ids[host];
        var gens = await GenerationNumbersAsync(host, SystemProfile);
        Assert.True(gens.Count >= 3, string.Join(",", gens));
        var boot = gens[^1];
        var running = gens[^2];
        // Test-activate an older generation: it runs, while the profile (the boot default) stays.
        var rollback = await _api.PostJsonAsync($"/api/v1/hosts/{id}/rollback",
            new { profile = SystemProfile, generation = running, mode = "test", reason = "gc test" }, HttpStatusCode.Accepted);
        await SucceededResult(await _api.WaitForOperationAsync(rollback.GetProperty("operationId").GetGuid()));
        var runningPath = await Sh(host, "readlink /run/current-system");
        Assert.Equal(await Sh(host, $"readlink {SystemProfile}-{running}-link"), runningPath);

        await SucceededResult(await GcAsync(host, new { mode = "deleteOld" }));

        Assert.Equal(new[] { running, boot }, await GenerationNumbersAsync(host, SystemProfile));
        Assert.Equal($"system-{boot}-link", await Sh(host, $"readlink {SystemProfile}"));
        Assert.Equal("valid", await Sh(host, $"nix-store --check-validity {runningPath} && test -e {runningPath}/bin/switch-to-configuration && echo valid"));
        Assert.Single(await GenerationNumbersAsync(host, DefaultProfile));
    }

    [Fact]
    public async Task Verify_FindsCorruptedContents_AndSaysWhenRepairCannotFixThem()
    {
        const string host = "gc-victim";
        var id = fixture.Ids[host];
        var garbage = await MakeGarbageAsync(host);
        var clean = await _api.PostJsonAsync($"/api/v1/hosts/{id}/verify", new { checkContents = true }, HttpStatusCode.Accepted);
        var cleanOp = await _api.WaitForOperationAsync(clean.GetProperty("operationId").GetGuid());
        Assert.True((await SucceededResult(cleanOp)).GetProperty("healthy").GetBoolean());

        // A path with no derivation and no binary cache: Nix can neither rebuild nor download it.
        await Sh(host, $"chmod u+w {garbage} && printf x >> {garbage} && chmod u-w {garbage}");
        try
        {
            var found = await _api.WaitForOperationAsync((await _api.PostJsonAsync($"/api/v1/hosts/{id}/verify", new { checkContents = true }, HttpStatusCode.Accepted)).GetProperty("operationId").GetGuid());
            Assert.Equal("failed", found.GetProperty("status").GetString());
            var finding = Assert.Single(found.GetProperty("result").GetProperty("findings").EnumerateArray());
            Assert.Equal(garbage, finding.GetProperty("path").GetString());
            Assert.Equal("modified", finding.GetProperty("problem").GetString());
            Assert.Contains(garbage, found.GetProperty("error").GetString());

            var repair = await _api.WaitForOperationAsync((await _api.PostJsonAsync($"/api/v1/hosts/{id}/verify", new { checkContents = true, repair = true }, HttpStatusCode.Accepted)).GetProperty("operationId").GetGuid());
            Assert.Equal("failed", repair.GetProperty("status").GetString());
            var result = repair.GetProperty("result");
            Assert.False(result.GetProperty("healthy").GetBoolean());
            Assert.False(Assert.Single(result.GetProperty("findings").EnumerateArray()).GetProperty("repaired").GetBoolean());
            Assert.Contains("could not repair", result.GetProperty("repairNote").GetString());
            Assert.NotEqual(0, (await _fleet.ExecAsync(host, "nix-store", "--verify-path", garbage)).ExitCode);
        }
        finally
        {
            await Sh(host, $"nix-store --delete {garbage} >/dev/null 2>&1 || true");
        }
    }

    [Fact]
    public async Task Optimise_HardLinksIdenticalFiles_AndReportsWhatItFreed()
    {
        const string host = "gc-victim";
        // Two store paths with the same 64 KiB file: one of them becomes a hard link.
        await Sh(host, "mkdir -p /tmp/o1 /tmp/o2 && head -c 65536 /dev/urandom > /tmp/o1/same && cp /tmp/o1/same /tmp/o2/same && nix-store --add /tmp/o1 /tmp/o2 > /tmp/o-paths");
        var paths = (await Sh(host, "cat /tmp/o-paths")).Split('\n');
        await Sh(host, $"mkdir -p /nix/var/nix/gcroots/test && ln -sfn {paths[0]} /nix/var/nix/gcroots/test/o1 && ln -sfn {paths[1]} /nix/var/nix/gcroots/test/o2");
        try
        {
            var op = await _api.WaitForOperationAsync((await _api.PostJsonAsync($"/api/v1/hosts/{fixture.Ids[host]}/optimise", null, HttpStatusCode.Accepted)).GetProperty("operationId").GetGuid());
            var result = await SucceededResult(op);

            Assert.InRange(result.GetProperty("filesLinked").GetInt32(), 2, int.MaxValue);
            Assert.InRange(result.GetProperty("bytesFreed").GetInt64(), 65536 - 5243, long.MaxValue);
            Assert.Equal(await Sh(host, $"stat -c %i {paths[0]}/same"), await Sh(host, $"stat -c %i {paths[1]}/same"));
        }
        finally
        {
            await Sh(host, "rm -rf /nix/var/nix/gcroots/test");
        }
    }

    [Fact]
    public async Task GcWhileARollbackHoldsTheHost_IsRefused_AndNothingRuns()
    {
        const string host = "gc-nixos";
        var id = fixture.Ids[host];
        var gens = await GenerationNumbersAsync(host, SystemProfile);
        await Sh(host, "echo 4 > /etc/nixfleet-test/slow-activation");
        try
        {
            var rollback = await _api.PostJsonAsync($"/api/v1/hosts/{id}/rollback",
                new { profile = SystemProfile, generation = gens[^1], mode = "test", reason = "hold the host" }, HttpStatusCode.Accepted);
            var garbage = await MakeGarbageAsync(host);

            var refused = await _api.PostAsync($"/api/v1/hosts/{id}/gc", new { mode = "plain" });

            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
            Assert.Contains("busy", await refused.Content.ReadAsStringAsync());
            await SucceededResult(await _api.WaitForOperationAsync(rollback.GetProperty("operationId").GetGuid()));
            Assert.Equal("there", await Sh(host, $"test -e {garbage} && echo there"));
            var ops = await _api.GetJsonAsync($"/api/v1/operations?hostId={id}");
            Assert.DoesNotContain(ops.EnumerateArray(), o => o.GetProperty("kind").GetString() == "gc" && o.GetProperty("status").GetString() is "queued" or "running");
        }
        finally
        {
            await Sh(host, "rm -f /etc/nixfleet-test/slow-activation");
        }
    }

    /// <summary>Makes the host's `nix-store --gc` (and only that) wait before it starts deleting.</summary>
    async Task SlowDownGcAsync(string host, int seconds) => await Sh(host, $$"""
        cat > /usr/bin/nix-store.slow <<'EOF'
        #!/bin/bash
        if [ "$#" -eq 1 ] && [ "$1" = "--gc" ]; then sleep {{seconds}}; fi
        exec -a nix-store /usr/bin/nix "$@"
        EOF
        chmod 755 /usr/bin/nix-store.slow && mv -f /usr/bin/nix-store.slow /usr/bin/nix-store
        """);

    Task RestoreGcAsync(string host) => Sh(host, "ln -sfn nix /usr/bin/nix-store");

    [Fact]
    public async Task WebProcessKilledMidGc_EndsInterrupted_AndTheNextRefreshShowsTheRealStoreSize()
    {
        var h = _fleet.Named("gc-victim");
        await MakeGarbageAsync(h.Name);
        await SlowDownGcAsync(h.Name, 6);
        try
        {
            // The only node on its database, so that it is the one running the job when it is killed.
            var database = await TestPostgres.NewDatabaseAsync();
            var doomed = await NixFleetApp.StartAsync(database);
            Guid id, op;
            using (var api = await doomed.ClientAsync())
            {
                await api.ImportKeyAsync(_fleet.PrivateKey);
                id = await api.AddTrustedHostAsync("killed-mid-gc", h.Address);
                op = (await api.PostJsonAsync($"/api/v1/hosts/{id}/gc", new { mode = "plain" }, HttpStatusCode.Accepted)).GetProperty("operationId").GetGuid();
                await WaitForLogAsync(api, op, "--gc", TimeSpan.FromSeconds(60));
            }
            await doomed.KillAsync();
            await doomed.DisposeAsync();

            await using var restarted = await NixFleetApp.StartAsync(database);
            using var survivor = await restarted.ClientAsync();
            var done = await survivor.WaitForOperationAsync(op, TimeSpan.FromSeconds(120));

            Assert.Equal("failed", done.GetProperty("status").GetString());
            Assert.StartsWith("interrupted", done.GetProperty("error").GetString());
            Assert.Equal(2, done.GetProperty("attempt").GetInt32());
            Assert.True(done.GetProperty("result").GetProperty("storeSizeBefore").GetInt64() > 0);
            var gcs = (await survivor.GetJsonAsync($"/api/v1/operations?hostId={id}")).EnumerateArray().Count(o => o.GetProperty("kind").GetString() == "gc");
            Assert.Equal(1, gcs);
            var lockState = await Sh(h.Name, "cat /nix/var/nix/nixfleet.lock/owner 2>/dev/null || echo free");
            Assert.True(lockState == "free", $"host lock: {lockState}\n{done}\n{await survivor.LogTextAsync(op)}");

            // Whatever the orphaned nix-store did, a refresh once it has ended reads the real size.
            await Sh(h.Name, "i=0; while [ $i -lt 100 ] && ps -eo args | grep -q '[n]ix-store --gc'; do sleep 0.2; i=$((i+1)); done");
            await survivor.WaitForOperationAsync(await survivor.RefreshAsync(id));
            var facts = await survivor.GetJsonAsync($"/api/v1/hosts/{id}/facts?limit=1");
            Assert.Equal(long.Parse((await Sh(h.Name, "du -sb /nix/store")).Split('\t')[0]), facts[0].GetProperty("storeSizeBytes").GetInt64());
        }
        finally
        {
            await RestoreGcAsync(h.Name);
        }
    }

    [Fact]
    public async Task HostLostMidGc_EndsInterrupted_AndFreesTheHost()
    {
        var h = _fleet.Named("gc-victim");
        var id = fixture.Ids[h.Name];
        await MakeGarbageAsync(h.Name);
        await SlowDownGcAsync(h.Name, 30);
        var op = (await _api.PostJsonAsync($"/api/v1/hosts/{id}/gc", new { mode = "plain" }, HttpStatusCode.Accepted)).GetProperty("operationId").GetGuid();
        await WaitForLogAsync(_api, op, "--gc", TimeSpan.FromSeconds(60));
        await _fleet.StopHostAsync(h.Name);
        try
        {
            var done = await _api.WaitForOperationAsync(op, TimeSpan.FromSeconds(120));

            Assert.Equal("failed", done.GetProperty("status").GetString());
            Assert.StartsWith("interrupted", done.GetProperty("error").GetString());
            Assert.Contains("connection", done.GetProperty("error").GetString());
            // The host's lock went with the operation: the next change is accepted (and fails honestly).
            var next = await _api.PostAsync($"/api/v1/hosts/{id}/gc", new { mode = "plain" });
            Assert.Equal(HttpStatusCode.Accepted, next.StatusCode);
            var nextOp = await _api.WaitForOperationAsync((await next.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("operationId").GetGuid());
            Assert.Equal("failed", nextOp.GetProperty("status").GetString());
        }
        finally
        {
            // A fresh host (new state and key): re-pin it for the tests that follow.
            await _fleet.StartHostAsync(h.Name);
            var host = await _api.PostJsonAsync($"/api/v1/hosts/{id}/host-key/scan", null, HttpStatusCode.OK);
            await _api.PostJsonAsync($"/api/v1/hosts/{id}/host-key/accept",
                new { fingerprint = host.GetProperty("hostKey").GetProperty("fingerprint").GetString() }, HttpStatusCode.OK);
        }
    }

    static async Task WaitForLogAsync(ApiClient api, Guid op, string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!(await api.LogTextAsync(op)).Contains(text))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"operation {op} never logged '{text}': {await api.LogTextAsync(op)}");
            await Task.Delay(200);
        }
    }
}
