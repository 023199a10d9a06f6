using System.Net;
using System.Text.Json;

namespace NixFleet.Web.Tests.Fleet;

/// <summary>Add each kind of real host, accept its key, refresh, and compare the facts with what the host says.</summary>
[Collection(FleetCollection.Name)]
public sealed class InventoryTests(FleetAppFixture fixture) : IClassFixture<FleetAppFixture>
{
    readonly TestFleet _fleet = fixture.Fleet;
    readonly ApiClient _api = fixture.Admin;

    [Theory]
    [InlineData("single", "single-user")]
    [InlineData("systemd", "single-user")]
    [InlineData("multi", "multi-user")]
    [InlineData("nixos", "multi-user")]
    [InlineData("builder", "multi-user")]
    public async Task Refresh_StoresTheFactsTheHostItselfReports(string kind, string installType)
    {
        var h = _fleet.Host(kind);
        var notOwnersBefore = await _fleet.ShAsync(h.Name, "o=$(stat -c %U /nix/store); find /nix -not -user $o | sort");
        var id = await _api.AddTrustedHostAsync($"inv-{h.Name}", h.Address, "inventory");

        var op = await _api.WaitForOperationAsync(await _api.RefreshAsync(id));

        Assert.True(op.GetProperty("status").GetString() == "succeeded", $"{op}\n{await _api.LogTextAsync(op.GetProperty("id").GetGuid())}");
        var facts = (await _api.GetJsonAsync($"/api/v1/hosts/{id}")).GetProperty("facts");
        Assert.Equal(installType, facts.GetProperty("installType").GetString());

        var osRelease = await _fleet.ShAsync(h.Name, ". /etc/os-release; echo \"$NAME|${VERSION_ID:-}|$ID\"");
        var os = osRelease.Split('|');
        Assert.Equal(os[0], facts.GetProperty("os").GetString());
        Assert.Equal(os[1], facts.GetProperty("osVersion").GetString());
        Assert.Equal(os[2] == "nixos", facts.GetProperty("isNixOS").GetBoolean());

        var owner = await _fleet.ShAsync(h.Name, "stat -c %U /nix/store");
        Assert.Equal(owner, facts.GetProperty("storeOwner").GetString());
        // Ask Nix as NixFleet must: as the store's owner on a single-user install (root would leave root-owned files there).
        var asNix = installType == "single-user" ? $"runuser -u {owner} -- " : "";

        var nixVersion = await _fleet.ShAsync(h.Name, $"{asNix}nix-env --version");
        Assert.Equal(nixVersion.Split(' ').Last(), facts.GetProperty("nixVersion").GetString());

        // Channels as each user lists them: root, and the store's owner on a single-user install.
        var expected = new List<string>();
        if (installType == "multi-user")
            foreach (var line in (await _fleet.ShAsync(h.Name, "nix-channel --list")).Split('\n', StringSplitOptions.RemoveEmptyEntries))
                expected.Add($"root {line}");
        if (installType == "single-user")
            foreach (var line in (await _fleet.ShAsync(h.Name, $"runuser -u {owner} -- nix-channel --list")).Split('\n', StringSplitOptions.RemoveEmptyEntries))
                expected.Add($"{owner} {line}");
        var actual = facts.GetProperty("channels").EnumerateArray()
            .Select(c => $"{c.GetProperty("user").GetString()} {c.GetProperty("name").GetString()} {c.GetProperty("url").GetString()}")
            .Where(c => installType == "multi-user" ? c.StartsWith("root ") : true)
            .ToList();
        Assert.NotEmpty(expected);
        Assert.Equal(expected.Order(), actual.Order());
        // NixFleet left nothing in the store that its owner does not own.
        Assert.Equal(notOwnersBefore, await _fleet.ShAsync(h.Name, $"find /nix -not -user {owner} | sort"));

        var profile = kind == "nixos" ? "/nix/var/nix/profiles/system"
            : installType == "single-user" ? $"~{owner}/.nix-profile"
            : "/nix/var/nix/profiles/default";
        // Follow the profile's links up to the last one before the store: that is "NAME-N-link".
        var profileLink = await _fleet.ShAsync(h.Name,
            $"p={profile}; while t=$(readlink \"$p\"); do case \"$t\" in /nix/store/*) break;; /*) p=\"$t\";; *) p=\"$(dirname \"$p\")/$t\";; esac; done; basename \"$p\"");
        var number = int.Parse(System.Text.RegularExpressions.Regex.Match(profileLink, @"-(\d+)-link$").Groups[1].Value);
        Assert.Equal(number, facts.GetProperty("currentGeneration").GetInt32());

        var storeBytes = long.Parse((await _fleet.ShAsync(h.Name, "du -sb /nix/store")).Split('\t')[0]);
        Assert.Equal(storeBytes, facts.GetProperty("storeSizeBytes").GetInt64());
        var free = long.Parse(await _fleet.ShAsync(h.Name, "df -B1 --output=avail /nix | tail -1"));
        Assert.InRange(facts.GetProperty("diskFreeBytes").GetInt64(), free * 0.9, free * 1.1);

        var host = await _api.GetJsonAsync($"/api/v1/hosts/{id}");
        Assert.True(host.GetProperty("reachable").GetBoolean());
        Assert.Equal(JsonValueKind.String, host.GetProperty("lastSeenAt").ValueKind);
    }

    [Fact]
    public async Task Facts_AreKeptAsHistory()
    {
        var h = _fleet.Host("multi");
        var id = await _api.AddTrustedHostAsync("history-multi", h.Address);
        await _api.WaitForOperationAsync(await _api.RefreshAsync(id));
        await _api.WaitForOperationAsync(await _api.RefreshAsync(id));

        var history = await _api.GetJsonAsync($"/api/v1/hosts/{id}/facts");
        Assert.Equal(2, history.GetArrayLength());
    }

    [Fact]
    public async Task ChangedHostKey_StopsWork_AndOnlyAnAdminRepinsIt()
    {
        // Pin the key of another host: to NixFleet this is the host's key changing under it.
        var h = _fleet.Host("multi");
        var other = (await _api.AddHostAsync("keysource", _fleet.Host("builder").Address)).GetProperty("id").GetGuid();
        var otherHost = await _api.GetJsonAsync($"/api/v1/hosts/{other}");
        var wrongKey = await _fleet.ShAsync("builder1", "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub");
        var id = (await _api.PostJsonAsync("/api/v1/hosts", new { name = "changed-key", address = h.Address, hostKey = wrongKey }, HttpStatusCode.Created)).GetProperty("id").GetGuid();
        Assert.Equal("trusted", (await _api.GetJsonAsync($"/api/v1/hosts/{id}")).GetProperty("hostKey").GetProperty("status").GetString());
        Assert.NotNull(otherHost.GetProperty("hostKey").GetProperty("fingerprint").GetString());

        var op = await _api.WaitForOperationAsync(await _api.RefreshAsync(id));

        Assert.Equal("failed", op.GetProperty("status").GetString());
        Assert.Contains("Host key verification failed", op.GetProperty("error").GetString());
        var host = await _api.GetJsonAsync($"/api/v1/hosts/{id}");
        Assert.Equal("changed", host.GetProperty("hostKey").GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, host.GetProperty("facts").ValueKind);

        // All work stops: the next refresh fails without connecting.
        var again = await _api.WaitForOperationAsync(await _api.RefreshAsync(id));
        Assert.Equal("failed", again.GetProperty("status").GetString());
        Assert.Contains("CHANGED", again.GetProperty("error").GetString());

        // An operator may not re-pin; an admin may, with the fingerprint the host now shows.
        await fixture.Admin.CreateUserAsync("op-repin@example.test", "Op-pass-12345", "Operator");
        using var op2 = await fixture.App.ClientAsync("op-repin@example.test", "Op-pass-12345");
        var fingerprint = host.GetProperty("hostKey").GetProperty("fingerprint").GetString();
        var realFingerprint = await _fleet.ShAsync(h.Name, "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f2");
        Assert.Equal(realFingerprint, fingerprint);
        var refused = await op2.PostAsync($"/api/v1/hosts/{id}/host-key/accept", new { fingerprint });
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        await _api.PostJsonAsync($"/api/v1/hosts/{id}/host-key/accept", new { fingerprint }, HttpStatusCode.OK);

        var fixedOp = await _api.WaitForOperationAsync(await _api.RefreshAsync(id));
        Assert.Equal("succeeded", fixedOp.GetProperty("status").GetString());
        Assert.True(await ValidationAudit(fixture.App.ConnectionString, "host.key.repin") >= 1);
    }

    [Fact]
    public async Task UnreachableHost_FailsWithSshsError_AndIsMarkedUnreachable()
    {
        var key = await _fleet.ShAsync("multi1", "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub");
        // Nothing listens on 127.0.0.99.
        var id = (await _api.PostJsonAsync("/api/v1/hosts", new { name = "gone", address = "127.0.0.99", hostKey = key }, HttpStatusCode.Created)).GetProperty("id").GetGuid();

        var op = await _api.WaitForOperationAsync(await _api.RefreshAsync(id));

        Assert.Equal("failed", op.GetProperty("status").GetString());
        Assert.Contains("Connection refused", op.GetProperty("error").GetString());
        var host = await _api.GetJsonAsync($"/api/v1/hosts/{id}");
        Assert.False(host.GetProperty("reachable").GetBoolean());
        Assert.Contains("Connection refused", host.GetProperty("lastError").GetString());
        Assert.Contains("Connection refused", await _api.LogTextAsync(op.GetProperty("id").GetGuid()));
    }

    [Fact]
    public async Task FleetRefresh_IsOneOperationWithALinePerHost()
    {
        var ids = new List<Guid>();
        foreach (var kind in new[] { "single", "multi", "nixos" })
            ids.Add(await _api.AddTrustedHostAsync($"fr-{kind}", _fleet.Host(kind).Address, "fleetrefresh"));

        var started = await _api.PostJsonAsync("/api/v1/fleet/refresh", new { tag = "fleetrefresh" }, HttpStatusCode.Accepted);
        var op = await _api.WaitForOperationAsync(started.GetProperty("operationId").GetGuid());

        Assert.Equal("succeeded", op.GetProperty("status").GetString());
        var result = op.GetProperty("result");
        Assert.Equal(3, result.GetProperty("total").GetInt32());
        Assert.Equal(3, result.GetProperty("succeeded").GetInt32());
        var log = await _api.LogTextAsync(op.GetProperty("id").GetGuid());
        foreach (var kind in new[] { "single", "multi", "nixos" }) Assert.Contains($"fr-{kind}: collecting facts", log);
        foreach (var id in ids)
            Assert.Equal(JsonValueKind.Object, (await _api.GetJsonAsync($"/api/v1/hosts/{id}")).GetProperty("facts").ValueKind);
    }

    static Task<long> ValidationAudit(string cs, string action) => Api.ValidationTests.AuditRows(cs, action);
}
