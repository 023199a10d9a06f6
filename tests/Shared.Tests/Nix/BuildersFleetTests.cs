using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>
/// The builders tests' hosts: a multi-user client, a builder host of the fleet, another builder
/// host playing an outside machine (NixFleet has no connection to it), and a NixOS client.
/// </summary>
public sealed class BuildersFleet() : SshTestFleet(
    Enumerable.Range(200, 10).Select(i => $"127.0.0.{i}").ToArray(),
    (Client, "multi"), (Builder, "builder"), (Outside, "builder"), (NixOS, "nixos"))
{
    public const string Client = "bfclient", Builder = "bfbuild", Outside = "bfout", NixOS = "bfnixos";
}

/// <summary>
/// Remote builders configured on real Nix 2.8 hosts over SSH, as NixFleet runs it: the files on the
/// client field by field, the key on the builder, a build offloaded for real; each failure named
/// from Nix's and ssh's own output, with the client's configuration restored byte for byte.
/// </summary>
public sealed class BuildersFleetTests(BuildersFleet fleet) : IClassFixture<BuildersFleet>
{
    const string Client = BuildersFleet.Client, Builder = BuildersFleet.Builder, Outside = BuildersFleet.Outside;
    const string AuthorizedKeys = "/home/builder/.ssh/authorized_keys";
    static readonly string[] ClientFiles = ["/etc/nix/nix.conf", "/etc/nix/machines", "/root/.ssh/config", "/root/.ssh/known_hosts"];
    static readonly string[] BuilderFiles = ["/etc/nix/nix.conf", AuthorizedKeys];

    readonly List<string> _log = [];

    BuildersRunner Runner(string client = Client) => new(fleet.Shell(client), client,
        b => b.Id == Builder ? fleet.Shell(Builder) : null,
        new BuildersRunner.Events(line => { lock (_log) _log.Add(line); }, line => { lock (_log) _log.Add(line.Text); return ValueTask.CompletedTask; }));

    string Log { get { lock (_log) return string.Join('\n', _log); } }

    Task<string> Sh(string host, string script) => fleet.Exec(host, "sh", "-c", script);

    async Task<string> Line(string host, string script) => (await Sh(host, script)).Trim();

    /// <summary>Each file's content hash, mode and owner, or its absence (a directory: what is in it): what "restored byte for byte" compares.</summary>
    Task<string> Snapshot(string host, IEnumerable<string> files) => fleet.Exec(host, ["sh", "-c", """
        for f; do
          if [ -d "$f" ]; then find "$f" -printf '%p %m %U:%G\n' | sort
          elif [ -e "$f" ]; then echo "$f $(stat -c '%a %U:%G' "$f") $(sha256sum <"$f")"
          else echo "$f absent"; fi
        done
        """, "sh", .. files]);

    async Task<RemoteBuilder> BuilderOn(string host, int port = 22, IReadOnlyList<string>? features = null, string? hostKeyOf = null) =>
        new(host, fleet.Address(host), port, "builder", [await Line(Client, "nix-instantiate --eval --json -E builtins.currentSystem | tr -d '\"'")],
            2, 1, features ?? [], [], await Line(hostKeyOf ?? host, "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub"));

    /// <summary>What an operator does for an outside machine: puts the client's public key in its authorized_keys.</summary>
    async Task AuthorizeByHandAsync(string host, string publicKey) =>
        await Sh(host, $"cp -p {AuthorizedKeys} /root/authorized_keys.saved && echo '{publicKey}' >> {AuthorizedKeys}");

    Task UnauthorizeByHandAsync(string host) => Sh(host, $"mv /root/authorized_keys.saved {AuthorizedKeys}");

    void Outcome(BuildersResult result, string outcome) =>
        Assert.True(result.Outcome == outcome, $"{result.Outcome}: {result.Message}\n{Log}");

    [Fact]
    public async Task Configure_MultiUserClient_OffloadsToAFleetBuilderAndAnAliasedOne_ThenRemoveRestoresBothHostsByteForByte()
    {
        if (!fleet.Available) return;
        // The client's configuration as an operator left it: other settings, its own max-jobs, an
        // ssh config whose global line must stay global.
        await Sh(Client, "echo 'keep-outputs = true' >> /etc/nix/nix.conf && echo 'max-jobs = 3' >> /etc/nix/nix.conf && /usr/local/sbin/nix-daemon-restart");
        await Sh(Client, "printf 'ServerAliveInterval 30\\n' > /root/.ssh/config && chmod 644 /root/.ssh/config");
        var confBefore = await Sh(Client, "cat /etc/nix/nix.conf");
        // A builder whose Nix does not trust its user yet: NixFleet adds it.
        await Sh(Builder, "sed -i 's/^trusted-users = .*/trusted-users = root/' /etc/nix/nix.conf && /usr/local/sbin/nix-daemon-restart");
        var clientBefore = await Snapshot(Client, ClientFiles);
        var builderBefore = await Snapshot(Builder, BuilderFiles);
        // The outside machine listens on another port too: Nix 2.8 reaches it through an alias.
        var outsideAddress = fleet.Address(Outside);
        await Sh(Outside, $"/usr/sbin/sshd -f /dev/null -o ListenAddress={outsideAddress}:2222 -o HostKey=/etc/ssh/ssh_host_ed25519_key -o PidFile=/run/sshd-2222.pid -o UsePAM=no -o PasswordAuthentication=no -E /var/log/sshd-2222.log");
        var runner = Runner();
        var key = await runner.ClientKeyAsync(default);
        await AuthorizeByHandAsync(Outside, key.Key.Line);
        try
        {
            var fleetBuilder = await BuilderOn(Builder, features: ["big-parallel"]);
            var aliased = await BuilderOn(Outside, port: 2222);

            var result = await runner.ConfigureAsync([fleetBuilder, aliased], new BuildersOptions(MaxJobs: 0), default);

            Outcome(result, BuildersResult.Configured);
            Assert.Equal([(Builder, true, true, true, Builder), (Outside, true, true, true, Outside)],
                result.Verifications.Select(v => (v.BuilderId, v.Reachable, v.Trusted == true, v.BuildSucceeded, v.RanOn)));
            Assert.All(result.Verifications, v => Assert.InRange(v.Seconds!.Value, 0.001, 60));
            Assert.Equal([new BuilderAuthorization(Builder, true, true)], result.Authorizations);
            // The verification's build is in the builder's store.
            await Sh(Builder, $"nix-store --check-validity {result.Verifications[0].OutputPath}");

            // /etc/nix/machines, field by field.
            var hostKey = await Line(Builder, "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub");
            var machinesText = await Sh(Client, "cat /etc/nix/machines");
            var machines = MachinesFile.Parse(machinesText);
            Assert.Equal(2, machines.Count);
            var m = machines[0];
            Assert.Equal(("ssh", "builder", fleet.Address(Builder)), (m.Scheme, m.User, m.Host));
            Assert.Equal(fleetBuilder.Systems, m.Systems);
            Assert.Equal((BuildersScript.ClientKeyPath, 2, 1), (m.SshKey, m.MaxJobs, m.SpeedFactor));
            Assert.Equal(["big-parallel"], m.SupportedFeatures);
            Assert.Empty(m.MandatoryFeatures);
            Assert.Equal(hostKey, System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(m.HostKey!)));
            Assert.Equal(("builder", "nixfleet-builder-bfout"), (machines[1].User, machines[1].Host));
            Assert.Contains($"\nssh://builder@{fleet.Address(Builder)} {m.Systems[0]} /root/.ssh/nixfleet-builder_ed25519 2 1 big-parallel - {m.HostKey}\n", machinesText);

            // nix.conf: every other line kept in order, the three settings at the end.
            var conf = await Sh(Client, "cat /etc/nix/nix.conf");
            Assert.Equal(confBefore.Replace("max-jobs = 3\n", "", StringComparison.Ordinal) +
                "builders = @/etc/nix/machines\nbuilders-use-substitutes = false\nmax-jobs = 0\n", conf);
            Assert.Contains(result.Changes, c => c.StartsWith("client: restarted nix-daemon (no init system: ", StringComparison.Ordinal));
            Assert.Contains(result.Diffs, d => d.Where == "client" && d.Path == "/etc/nix/nix.conf" && d.Diff.Contains("\n+builders = @/etc/nix/machines"));

            // Root's key: 0600 root:root, outside the store; its public half in builder's authorized_keys, marked.
            Assert.Equal("600 root:root", await Line(Client, $"stat -c '%a %U:%G' {BuildersScript.ClientKeyPath}"));
            Assert.Equal("600 root:root", key.Mode);
            Assert.Equal($"restrict {key.Key.Line} nixfleet-builders:{Client}", await Line(Builder, $"grep nixfleet-builders {AuthorizedKeys}"));
            Assert.Equal("600 builder:builder", await Line(Builder, $"stat -c '%a %U:%G' {AuthorizedKeys}"));
            Assert.Equal("trusted-users = root builder", await Line(Builder, "nix --extra-experimental-features nix-command show-config | grep '^trusted-users'"));

            // Root's ssh: the alias first, the operator's global line still global after "Host *".
            Assert.Equal($"""
                # BEGIN NixFleet remote builders (written by NixFleet; replaced on every change)
                Host nixfleet-builder-bfout
                  HostName {outsideAddress}
                  Port 2222
                  HostKeyAlias nixfleet-builder-bfout
                Host *
                # END NixFleet remote builders
                ServerAliveInterval 30

                """, await Sh(Client, "cat /root/.ssh/config"));
            Assert.Contains($"\nnixfleet-builder-bfout {aliased.HostKey}\n", await Sh(Client, "cat /root/.ssh/known_hosts"));

            // A build through the daemon, as any user's would go, with nothing but nix.conf: it needs
            // big-parallel, which only the fleet builder offers, and --max-jobs 0 keeps it off the client.
            var output = await Line(Client, $$"""
                cd /tmp && NIX_REMOTE=daemon nix-build --no-out-link --max-jobs 0 -E 'derivation { name = "offload-test"; n = "{{Guid.NewGuid():N}}"; requiredSystemFeatures = [ "big-parallel" ]; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "read -r h < /etc/hostname; echo $h > $out" ]; }' 2>/tmp/offload.log
                """);
            Assert.Equal(Builder, await Line(Client, $"cat {output}"));
            Assert.Contains($"on 'ssh://builder@{fleet.Address(Builder)}'", await Sh(Client, "cat /tmp/offload.log"));
            await Sh(Builder, $"nix-store --check-validity {output}");

            // Again: nothing changes, nothing restarts.
            var configured = await Snapshot(Client, ClientFiles);
            var again = await runner.ConfigureAsync([fleetBuilder, aliased], new BuildersOptions(MaxJobs: 0), default);
            Outcome(again, BuildersResult.Configured);
            Assert.Equal([new BuilderAuthorization(Builder, false, false)], again.Authorizations);
            Assert.Empty(again.Changes);
            Assert.Equal(configured, await Snapshot(Client, ClientFiles));

            var removed = await runner.RemoveAsync([fleetBuilder, aliased], default);

            Outcome(removed, BuildersResult.Removed);
            Assert.Equal(clientBefore, await Snapshot(Client, ClientFiles));
            Assert.Equal(builderBefore, await Snapshot(Builder, BuilderFiles));
            Assert.Equal("trusted-users = root", await Line(Builder, "nix --extra-experimental-features nix-command show-config | grep '^trusted-users'"));
            Assert.Equal("", await Line(Client, $"ls {BuildersScript.BackupRoot}/client 2>/dev/null || true"));
        }
        finally
        {
            await UnauthorizeByHandAsync(Outside);
            await Sh(Outside, "kill $(cat /run/sshd-2222.pid)");
            await Sh(Builder, "sed -i 's/^trusted-users = .*/trusted-users = root builder/' /etc/nix/nix.conf && /usr/local/sbin/nix-daemon-restart");
            await Sh(Client, "sed -i -e '/^keep-outputs = true$/d' -e '/^max-jobs = 3$/d' /etc/nix/nix.conf && rm -f /root/.ssh/config && /usr/local/sbin/nix-daemon-restart");
        }
    }

    /// <summary>Configures the client with one builder, expecting verification to fail with <paramref name="kind"/> and everything restored.</summary>
    async Task<BuilderVerification> FailsAndRollsBack(RemoteBuilder builder, string kind)
    {
        var clientBefore = await Snapshot(Client, ClientFiles);
        var builderBefore = await Snapshot(Builder, BuilderFiles);

        var result = await Runner().ConfigureAsync([builder], new BuildersOptions(), default);

        Outcome(result, BuildersResult.Failed);
        var v = Assert.Single(result.Verifications);
        Assert.Equal(kind, v.ErrorKind);
        Assert.StartsWith(kind + ": ", v.Error);
        Assert.Contains($"verification failed: builder {builder.Id}: {kind}: ", result.Message);
        Assert.Contains("previous configuration was restored", result.Message);
        Assert.Contains(result.Changes, c => c == "client: restored /etc/nix/nix.conf from its backup");
        Assert.Equal(clientBefore, await Snapshot(Client, ClientFiles));
        Assert.Equal(builderBefore, await Snapshot(Builder, BuilderFiles));
        return v;
    }

    [Fact]
    public async Task Configure_BuilderDown_IsUnreachable_AndRollsBack()
    {
        if (!fleet.Available) return;
        var key = await Runner().ClientKeyAsync(default);
        await AuthorizeByHandAsync(Outside, key.Key.Line);
        var builder = await BuilderOn(Outside);
        await fleet.HostExec(Outside, "kill $(cat /run/sshd.pid)");
        try
        {
            var v = await FailsAndRollsBack(builder, BuilderErrors.Unreachable);

            Assert.False(v.Reachable);
            Assert.Null(v.Trusted);
            Assert.Contains("Connection refused", v.Error);
        }
        finally
        {
            await fleet.HostExec(Outside, "/usr/sbin/sshd -f /etc/ssh/sshd_config -E /var/log/sshd.log");
            await UnauthorizeByHandAsync(Outside);
        }
    }

    [Fact]
    public async Task Configure_KeyNotAuthorized_IsKeyRefused_AndRollsBack_OrIsKeptWhenAsked()
    {
        if (!fleet.Available) return;
        var builder = await BuilderOn(Outside);

        var v = await FailsAndRollsBack(builder, BuilderErrors.KeyRefused);

        Assert.False(v.Reachable);
        Assert.Contains("Permission denied (publickey)", v.Error);

        // Kept: the configuration stays for the operator to fix the builder; Remove takes it away.
        var before = await Snapshot(Client, ClientFiles);
        var kept = await Runner().ConfigureAsync([builder], new BuildersOptions(Keep: true), default);
        Outcome(kept, BuildersResult.Kept);
        Assert.Contains($"ssh://builder@{fleet.Address(Outside)} ", await Sh(Client, "cat /etc/nix/machines"));
        Outcome(await Runner().RemoveAsync([builder], default), BuildersResult.Removed);
        Assert.Equal(before, await Snapshot(Client, ClientFiles));
    }

    [Fact]
    public async Task Configure_BuilderUserNotTrusted_IsNotTrusted_AndRollsBack()
    {
        if (!fleet.Available) return;
        var key = await Runner().ClientKeyAsync(default);
        await AuthorizeByHandAsync(Outside, key.Key.Line);
        await Sh(Outside, "sed -i 's/^trusted-users = .*/trusted-users = root/' /etc/nix/nix.conf && /usr/local/sbin/nix-daemon-restart");
        try
        {
            var v = await FailsAndRollsBack(await BuilderOn(Outside), BuilderErrors.NotTrusted);

            Assert.True(v.Reachable);
            Assert.False(v.Trusted);
            Assert.False(v.BuildSucceeded);
            Assert.Contains("you are not privileged to build input-addressed derivations", v.Error);
        }
        finally
        {
            await Sh(Outside, "sed -i 's/^trusted-users = .*/trusted-users = root builder/' /etc/nix/nix.conf && /usr/local/sbin/nix-daemon-restart");
            await UnauthorizeByHandAsync(Outside);
        }
    }

    [Fact]
    public async Task Configure_WrongHostKeyPinned_IsHostKey_AndRollsBackTheClientAndTheBuilder()
    {
        if (!fleet.Available) return;
        // The fleet builder, pinned with another host's key: the key is authorized on it, then taken away again.
        var v = await FailsAndRollsBack(await BuilderOn(Builder, hostKeyOf: Outside), BuilderErrors.HostKey);

        Assert.False(v.Reachable);
        Assert.Contains("REMOTE HOST IDENTIFICATION HAS CHANGED", v.Error);
        Assert.Equal("", await Line(Builder, $"grep nixfleet-builders {AuthorizedKeys} || true"));
    }

    [Fact]
    public async Task Configure_OnNixOS_WritesNothing_AndGivesTheConfigurationNixSnippet()
    {
        if (!fleet.Available) return;
        var nixos = BuildersFleet.NixOS;
        var before = await Snapshot(nixos, [.. ClientFiles, "/etc/nix"]);
        var builderBefore = await Snapshot(Builder, BuilderFiles);
        var builder = await BuilderOn(Builder);

        var result = await Runner(nixos).ConfigureAsync([builder], new BuildersOptions(MaxJobs: 0), default);

        Outcome(result, BuildersResult.NixOS);
        Assert.Contains("nothing was written", result.Message);
        Assert.Equal(NixOsSnippet.Render([builder], new BuildersOptions(MaxJobs: 0)), result.NixOsSnippet);
        Assert.Contains($"hostName = \"{fleet.Address(Builder)}\";", result.NixOsSnippet);
        Assert.Empty(result.Verifications);
        Assert.Equal(before, await Snapshot(nixos, [.. ClientFiles, "/etc/nix"]));
        Assert.Equal("600 root:root", await Line(nixos, $"stat -c '%a %U:%G' {BuildersScript.ClientKeyPath}"));
        // The builder accepts the NixOS host's key once its configuration is applied; taken back here.
        Assert.Contains($"nixfleet-builders:{nixos}", await Sh(Builder, $"cat {AuthorizedKeys}"));
        Outcome(await Runner(nixos).UnauthorizeAsync([builder], default), BuildersResult.Removed);
        Assert.Equal(builderBefore, await Snapshot(Builder, BuilderFiles));
        // The script itself refuses to write there.
        var apply = await fleet.Shell(nixos).RunAsync(BuildersScript.Apply(new BuildersOptions()), null, BuildersConfig.Input([builder]), TestContext.Timeout);
        Assert.Contains("NixOS generates /etc/nix", apply.StdErr);
    }

    /// <summary>
    /// nix.conf is read when the daemon starts (a running one ignores a new builders line: checked by
    /// hand), so apply and restore restart it as the host runs it: here under the daemon files
    /// NixFleet's conversion installs (its supervisor, its SysV script), rendered by convert.sh.
    /// </summary>
    [Theory]
    [InlineData("supervisor", "NixFleet's supervisor: stopped its nix-daemon")]
    [InlineData("sysv-init", "SysV init: /etc/init.d/nix-daemon restart")]
    public async Task Configure_RestartsTheDaemon_TheWayTheHostRunsIt(string file, string how)
    {
        if (!fleet.Available) return;
        var text = (await ProcessRunner.RunAsync(ConversionScript.Render(file, "/usr/bin/nix-daemon"))).StdOut;
        var path = file == "supervisor" ? "/usr/local/sbin/nixfleet-nix-daemon" : "/etc/init.d/nix-daemon";
        var start = file == "supervisor"
            ? $"setsid {path} </dev/null >/dev/null 2>&1 & echo $! >/run/nixfleet-nix-daemon.pid"
            : $"{path} start";
        await fleet.Shell(Client).RunAsync(["sh", "-c", $"cat > {path} && chmod 755 {path}"], null, text, TestContext.Timeout);
        await Sh(Client, $"kill $(cat /run/nix-daemon.pid) && rm -f /run/nix-daemon.pid /nix/var/nix/daemon-socket/socket && {start}");
        try
        {
            var daemonBefore = await Line(Client, "sleep 0.5; pgrep -o -x nix-daemon");
            var builder = await BuilderOn(Builder);

            var result = await Runner().ConfigureAsync([builder], new BuildersOptions(), default);

            Outcome(result, BuildersResult.Configured);
            Assert.Contains(result.Changes, c => c.StartsWith($"client: restarted nix-daemon ({how}", StringComparison.Ordinal));
            Assert.NotEqual(daemonBefore, await Line(Client, "pgrep -o -x nix-daemon"));
            var removed = await Runner().RemoveAsync([builder], default);
            Outcome(removed, BuildersResult.Removed);
            Assert.Contains(removed.Changes, c => c.StartsWith($"client: restarted nix-daemon ({how}", StringComparison.Ordinal));
        }
        finally
        {
            await Sh(Client, file == "supervisor"
                // The supervisor's trap stops its nix-daemon.
                ? $"kill $(cat /run/nixfleet-nix-daemon.pid); sleep 0.2; rm -f /run/nixfleet-nix-daemon.pid {path}; /usr/local/sbin/nix-daemon-restart"
                : $"{path} stop; rm -f {path}; /usr/local/sbin/nix-daemon-restart");
        }
    }

    [Theory]
    [InlineData("@@machines\n|ssh://builder@10.0.0.5 x86_64-linux /root/.ssh/nixfleet-builder_ed25519 1 1 - - SGk=; ssh://evil@host\n", "machines")]
    [InlineData("@@machines\n|ssh://builder@10.0.0.5 x86_64-linux /etc/shadow 1 1 - - SGk=\n", "machines")]
    [InlineData("@@machines\n|ssh://builder@10.0.0.5 x86_64-linux /root/.ssh/nixfleet-builder_ed25519 1 1 - - SGk=\n|# a; ssh://evil@host\n", "machines")]
    [InlineData("@@machines\n|ssh://builder@10.0.0.5 x86_64-linux /root/.ssh/nixfleet-builder_ed25519 1 1 - - SGk=\n@@ssh-config\n|Host nixfleet-builder-x\n|  ProxyCommand touch /tmp/PWNED\n", "ssh-config")]
    [InlineData("@@machines\n|ssh://builder@10.0.0.5 x86_64-linux /root/.ssh/nixfleet-builder_ed25519 1 1 - - SGk=\n@@ssh-config\n|Host *\n", "ssh-config")]
    [InlineData("@@machines\n|ssh://builder@10.0.0.5 x86_64-linux /root/.ssh/nixfleet-builder_ed25519 1 1 - - SGk=\n@@known-hosts\n|@cert-authority * ssh-ed25519 AAAA\n", "known-hosts")]
    [InlineData("@@machines\n", "no machines")]
    public async Task Apply_InputOfAnyOtherShape_IsRefused_AndNothingChanges(string input, string what)
    {
        if (!fleet.Available) return;
        var before = await Snapshot(Client, [.. ClientFiles, BuildersScript.BackupRoot]);

        var r = await fleet.Shell(Client).RunAsync(BuildersScript.Apply(new BuildersOptions()), null, input, TestContext.Timeout);

        Assert.Equal(1, r.ExitCode);
        Assert.Contains(what == "no machines" ? "no machines given" : $"bad {what} line", r.StdErr);
        Assert.Equal(before, await Snapshot(Client, [.. ClientFiles, BuildersScript.BackupRoot]));
        Assert.Equal("", await Line(Client, "ls /tmp/PWNED 2>/dev/null || true"));
    }
}
