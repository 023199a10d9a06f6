using System.Text.Json;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>The conversion tests' hosts: real single-user installs (no init system, and systemd), a multi-user one.</summary>
public sealed class ConversionFleet() : SshTestFleet(
    Enumerable.Range(170, 10).Select(i => $"127.0.0.{i}").ToArray(),
    (Single, "single"), (Seed, "single"), (Systemd, "systemd"), (Refuse, "single"), (Multi, "multi"), (Fault, "single"))
{
    public const string Single = "cvsingle", Seed = "cvseed", Systemd = "cvsystemd", Refuse = "cvrefuse", Multi = "cvmulti", Fault = "cvfault";
}

/// <summary>
/// Conversions of real single-user installs over SSH, as NixFleet runs them, each checked on the
/// host itself: accounts, ownership and modes, nix.conf, the daemon, alice's packages and
/// generations, a build through the daemon, and (after a revert) the host as it was, byte for byte.
/// </summary>
public sealed partial class ConversionFleetTests(ConversionFleet fleet) : IClassFixture<ConversionFleet>
{
    const string InstallerLine = "if [ -e /home/alice/.nix-profile/etc/profile.d/nix.sh ]; then . /home/alice/.nix-profile/etc/profile.d/nix.sh; fi # added by Nix installer";
    const string Pkgs = "/etc/nixfleet-test/pkgs.nix";

    sealed class Recorder
    {
        public List<ConversionReceipt> Receipts { get; } = [];
        public List<string> Log { get; } = [];

        public ConversionRunner.Events Events => new(
            line => { lock (Log) Log.Add(line); },
            line => { lock (Log) Log.Add(line.Text); return ValueTask.CompletedTask; },
            (r, _) => { lock (Receipts) Receipts.Add(r); return Task.CompletedTask; });

        public string Text { get { lock (Log) return string.Join('\n', Log); } }
    }

    async Task<(ConversionResult Result, Recorder Recorder)> ConvertAsync(string host, ConversionOptions? options = null)
    {
        var recorder = new Recorder();
        var result = await new ConversionRunner(fleet.Shell(host), recorder.Events).ConvertAsync(options ?? new ConversionOptions(4), Guid.NewGuid().ToString("N"), default);
        return (result, recorder);
    }

    async Task<(ConversionResult Result, Recorder Recorder)> RevertAsync(string host)
    {
        var recorder = new Recorder();
        var result = await new ConversionRunner(fleet.Shell(host), recorder.Events).RevertAsync(default);
        return (result, recorder);
    }

    Task<string> Sh(string host, string script) => fleet.Exec(host, "sh", "-c", script);

    async Task<string> Line(string host, string script) => (await Sh(host, script)).Trim();

    /// <summary>Every file under /etc with its checksum, owner and mode, and who owns what under /nix: what "nothing changed" compares.</summary>
    Task<string> FingerprintAsync(string host) => Sh(host, """
        find /etc -xdev -type f -printf '%U:%G %m %p\n' | sort
        find /etc -xdev -type f -exec sha256sum {} + | sort -k 2
        find /etc -xdev -type l -printf '%p -> %l\n' | sort
        find /nix -printf '%U:%G %m %p\n' | grep -v -e ' /nix/var/nix/db' -e ' /nix/var/nix/temproots' -e ' /nix/var/nix/gc.lock' | sort
        ls /home/alice -la --time-style=+ | sort
        """);

    /// <summary>Builds a derivation no store has yet as alice, through whatever Nix she gets; its output is the UID its builder ran as.</summary>
    async Task<string> BuildAsAliceAsync(string host, string remote)
    {
        var nonce = Guid.NewGuid().ToString("N");
        return await Line(host, $$"""
            cd /tmp && runuser -u alice -- env NIX_REMOTE={{remote}} nix-build --no-out-link -E 'derivation { name = "t"; n = "{{nonce}}"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "while read -r k v r; do case $k in Uid:) echo $v > $out;; esac; done < /proc/self/status" ]; }' | xargs cat
            """);
    }

    static void Succeeded(ConversionResult result, Recorder recorder, string outcome) =>
        Assert.True(result.Outcome == outcome, $"{result.Outcome}: {result.Message}\n{recorder.Text}");

    [Fact]
    public async Task Convert_KeepsTheUsersSoftware_RunsBuildsAsNixbld_ThenIsANoOp_AndRevertRestoresTheHostByteForByte()
    {
        if (!fleet.Available) return;
        const string host = ConversionFleet.Single;
        await Sh(host, $"echo '{InstallerLine}' >> /home/alice/.profile");
        var before = await FingerprintAsync(host);
        var packages = await Sh(host, "runuser -u alice -- nix-env -q");
        var generations = await Sh(host, "runuser -u alice -- nix-env --list-generations | awk '{print $1, $2, $3}'");
        var profileTarget = await Line(host, "readlink -f /home/alice/.nix-profile");

        var (result, log) = await ConvertAsync(host, new ConversionOptions());

        Succeeded(result, log, ConversionResult.Converted);
        // The default: group nixbld (30000), 32 system users without a login shell.
        Assert.Equal("nixbld:x:30000:" + string.Join(',', Enumerable.Range(1, 32).Select(i => $"nixbld{i}")), await Line(host, "getent group nixbld"));
        Assert.Equal(string.Join('\n', Enumerable.Range(1, 32).Select(i => $"nixbld{i}:{30000 + i}:30000:/var/empty:/usr/sbin/nologin")),
            await Line(host, "getent passwd | awk -F: '$1 ~ /^nixbld/ {print $1\":\"$3\":\"$4\":\"$6\":\"$7}' | sort -V"));
        Assert.Equal("root:nixbld 1775", await Line(host, "stat -c '%U:%G %a' /nix/store"));
        Assert.Equal("", await Line(host, "find /nix \\( -path /nix/var/nix/profiles/per-user/alice -o -path /nix/var/nix/gcroots/per-user/alice \\) -prune -o \\( ! -user root \\) -print | head"));
        Assert.Equal("alice", await Line(host, "stat -c %U /nix/var/nix/profiles/per-user/alice"));
        var nixConf = await Sh(host, "cat /etc/nix/nix.conf");
        Assert.Contains("\nbuild-users-group = nixbld\n", nixConf);
        Assert.Contains("sandbox = false\nsubstituters =\n", nixConf);
        Assert.Matches(@"^\d+$", await Line(host, "cat /run/nixfleet-nix-daemon.pid"));
        Assert.NotEqual("", await Line(host, "ps -eo comm= | grep -x nix-daemon | head -n 1"));
        Assert.Equal(packages, await Sh(host, "runuser -u alice -- env NIX_REMOTE=daemon nix-env -q"));
        Assert.Equal(generations, await Sh(host, "runuser -u alice -- env NIX_REMOTE=daemon nix-env --list-generations | awk '{print $1, $2, $3}'"));
        Assert.Equal(profileTarget, await Line(host, "readlink -f /home/alice/.nix-profile"));
        Assert.Equal("nixpkgs", await Line(host, "ls /home/alice/.nix-defexpr/channels/ | grep -v manifest"));
        // A build through the daemon runs as one of the build users (independently of the verify step's own build).
        var uid = int.Parse(await BuildAsAliceAsync(host, "daemon"));
        Assert.InRange(uid, 30001, 30032);
        Assert.Contains("NIX_REMOTE=daemon", await Sh(host, "cat /etc/profile.d/nix-daemon.sh"));
        Assert.Contains("if [ -e /etc/profile.d/nix-daemon.sh ]; then . /etc/profile.d/nix-daemon.sh; fi # NixFleet", await Sh(host, "cat /home/alice/.profile"));
        Assert.Equal("daemon", await Line(host, "runuser -u alice -- bash -lc 'echo $NIX_REMOTE'"));
        Assert.Equal(NixInstallType.MultiUser, (await fleet.Facts(host)).InstallType);

        // The receipt: on the host and as handed to the database, every step done with what it changed.
        var receipt = result.Receipt!;
        Assert.Equal(ConversionReceipt.Converted, receipt.Status);
        Assert.All(receipt.Steps, s => Assert.Equal(ReceiptStep.Done, s.Status));
        Assert.Contains(receipt.StepNamed(ConversionSteps.BuildUsers).Changes, c => c.Contains("created 32 build user(s)"));
        Assert.Matches("^nixbld\\d+$", receipt.After!.BuildUser);
        var onHost = JsonSerializer.Deserialize<ConversionReceipt>(await Sh(host, $"cat {ConversionScript.ReceiptPath}"), JsonSerializerOptions.Web)!;
        Assert.Equal(receipt.Id, onHost.Id);
        Assert.Equal(ConversionReceipt.Converted, onHost.Status);
        // Saved before and after every step: running, then done, in order.
        foreach (var step in ConversionSteps.Order)
        {
            var states = log.Receipts.Select(r => r.StepNamed(step).Status).Distinct().ToList();
            Assert.Equal([ReceiptStep.Pending, ReceiptStep.Running, ReceiptStep.Done], states);
        }

        // Again: a no-op that says so.
        var converted = await FingerprintAsync(host);
        var (again, againLog) = await ConvertAsync(host);
        Succeeded(again, againLog, ConversionResult.AlreadyConverted);
        Assert.Contains("nothing was changed", again.Message);
        Assert.Equal(converted, await FingerprintAsync(host));

        var (reverted, revertLog) = await RevertAsync(host);

        Succeeded(reverted, revertLog, ConversionResult.Reverted);
        Assert.All(reverted.Receipt!.Steps, s => Assert.Equal(ReceiptStep.Reverted, s.Status));
        // The store is alice's again, her software works as a single-user install, no daemon runs.
        Assert.Equal("", await Line(host, "find /nix \\( ! -user alice -o ! -group alice \\) -print | head"));
        Assert.Equal("", await Line(host, "ps -eo comm= | grep -x nix-daemon || true"));
        Assert.Equal("", await Line(host, "getent group nixbld || true"));
        Assert.Equal(packages, await Sh(host, "runuser -u alice -- nix-env -q"));
        Assert.Equal(generations, await Sh(host, "runuser -u alice -- nix-env --list-generations | awk '{print $1, $2, $3}'"));
        Assert.Equal("1001", await BuildAsAliceAsync(host, "local"));
        Assert.Equal(NixInstallType.SingleUser, (await fleet.Facts(host)).InstallType);
        // Every file under /etc, ownership and modes under /nix, alice's home: as before. New store
        // paths (the test builds) and the receipt (now "reverted") are the only additions.
        SameHost(before, await FingerprintAsync(host));
        Assert.Equal(ConversionReceipt.Reverted, JsonSerializer.Deserialize<ConversionReceipt>(await Sh(host, $"cat {ConversionScript.ReceiptPath}"), JsonSerializerOptions.Web)!.Status);
    }

    /// <summary>
    /// The host as it was: every /etc file the same (bar shadow's own backup copies, /etc/passwd- and
    /// the like, which useradd and userdel rewrite), and every path under /nix that was there with
    /// its owner and mode. Paths made since (logs, GC roots, the daemon's) may stay, alice's.
    /// </summary>
    static void SameHost(string before, string after)
    {
        static bool Compared(string l) => l.Length > 0 && !l.Contains("nixfleet-receipt.json") && !IsTestBuild(l) && !ShadowBackup().IsMatch(l);
        var b = before.Split('\n').Where(Compared).ToList();
        var a = after.Split('\n').Where(Compared).ToList();
        var beforePaths = b.Select(PathOf).ToHashSet();
        var missing = b.Except(a).ToList();
        var added = a.Except(b).ToList();
        var changed = added.Where(l => beforePaths.Contains(PathOf(l))).ToList();
        var foreign = added.Where(l => !beforePaths.Contains(PathOf(l)) && !(l.StartsWith("1001:1001 ", StringComparison.Ordinal) && PathOf(l).StartsWith("/nix/", StringComparison.Ordinal))).ToList();
        Assert.True(missing.Count == 0 && changed.Count == 0 && foreign.Count == 0,
            $"missing:\n{string.Join('\n', missing.Take(20))}\nchanged:\n{string.Join('\n', changed.Take(20))}\nnew and not alice's:\n{string.Join('\n', foreign.Take(20))}");
    }

    static string PathOf(string line) => line.Contains(" -> ") ? line : line[(line.LastIndexOf(' ') + 1)..];

    [System.Text.RegularExpressions.GeneratedRegex(@" /etc/(passwd|group|shadow|gshadow|subuid|subgid)-$")]
    private static partial System.Text.RegularExpressions.Regex ShadowBackup();

    /// <summary>Store paths the conversion's verification and this test built: new, and alice's after the revert.</summary>
    static bool IsTestBuild(string line) =>
        System.Text.RegularExpressions.Regex.IsMatch(line, @"/nix/store/[a-z0-9]{32}-(t|t\.drv|nixfleet-convert-check|nixfleet-convert-check\.drv)$");

    [Fact]
    public async Task Convert_OldInstallersDefaultProfile_LinksEveryGeneration_AndRevertPointsItBack()
    {
        if (!fleet.Available) return;
        const string host = ConversionFleet.Seed;
        // The layout of the seed's era: alice's generations are the default profile's (3 of them,
        // where the seed's cp -r default-*-link fails), ~/.nix-profile points there.
        await Sh(host, $"""
            rm -f /nix/var/nix/profiles/per-user/alice/profile /nix/var/nix/profiles/per-user/alice/profile-*-link /home/alice/.nix-profile
            for p in hello cowsay figlet; do runuser -u alice -- nix-env -p /nix/var/nix/profiles/default -f {Pkgs} -iA $p >/dev/null 2>&1; done
            runuser -u alice -- ln -s /nix/var/nix/profiles/default /home/alice/.nix-profile
            """);
        var targets = await Sh(host, "for n in 1 2 3; do readlink /nix/var/nix/profiles/default-$n-link; done");
        var packages = await Sh(host, "runuser -u alice -- nix-env -q");
        Assert.Equal("cowsay-2.1\nfiglet-2.2.5\nhello-1.0\n", packages);

        var (result, log) = await ConvertAsync(host);

        Succeeded(result, log, ConversionResult.Converted);
        Assert.Equal("default", result.Receipt!.ProfileLayout);
        Assert.Equal(targets, await Sh(host, "for n in 1 2 3; do readlink /nix/var/nix/profiles/per-user/alice/profile-$n-link; done"));
        Assert.Equal("profile-3-link", await Line(host, "readlink /nix/var/nix/profiles/per-user/alice/profile"));
        Assert.Equal("/nix/var/nix/profiles/per-user/alice/profile", await Line(host, "readlink /home/alice/.nix-profile"));
        Assert.Equal(packages, await Sh(host, "runuser -u alice -- env NIX_REMOTE=daemon nix-env -q"));
        Assert.Equal("1 2 3", await Line(host, "runuser -u alice -- env NIX_REMOTE=daemon nix-env --list-generations | awk '{print $1}' | xargs"));
        // She can roll back to an old generation through the daemon, as on any multi-user install.
        await Sh(host, "runuser -u alice -- env NIX_REMOTE=daemon nix-env --switch-generation 1 >/dev/null 2>&1");
        Assert.Equal("hello-1.0", await Line(host, "runuser -u alice -- env NIX_REMOTE=daemon nix-env -q"));
        await Sh(host, "runuser -u alice -- env NIX_REMOTE=daemon nix-env --switch-generation 3 >/dev/null 2>&1");

        var (reverted, revertLog) = await RevertAsync(host);

        Succeeded(reverted, revertLog, ConversionResult.Reverted);
        Assert.Equal("/nix/var/nix/profiles/default", await Line(host, "readlink /home/alice/.nix-profile"));
        Assert.Equal("", await Line(host, "ls /nix/var/nix/profiles/per-user/alice/ | grep profile || true"));
        Assert.Equal(packages, await Sh(host, "runuser -u alice -- nix-env -q"));
        Assert.Equal("", await Line(host, "find /nix \\( ! -user alice -o ! -group alice \\) -print | head"));
    }

    [Fact]
    public async Task Convert_OnSystemd_InstallsEnablesAndStartsTheUnits_WhichSurviveAReboot_AndRevertRemovesThem()
    {
        if (!fleet.Available) return;
        const string host = ConversionFleet.Systemd;
        // Debian's tmpfiles rule (nix-setup-systemd) makes /nix/var/nix/daemon-socket root's at every boot, converted or not.
        const string NotAlices = "find /nix \\( ! -user alice -o ! -group alice \\) -print";
        var notAlicesBefore = await Line(host, NotAlices);

        var (result, log) = await ConvertAsync(host);

        Succeeded(result, log, ConversionResult.Converted);
        Assert.Equal("systemd", result.Receipt!.InitSystem);
        Assert.Equal("enabled\nenabled", await Line(host, "systemctl is-enabled nix-daemon.socket nix-daemon.service"));
        Assert.Equal("active\nactive", await Line(host, "systemctl is-active nix-daemon.socket nix-daemon.service"));
        Assert.Contains("ExecStart=/usr/bin/nix-daemon --daemon", await Sh(host, "cat /etc/systemd/system/nix-daemon.service"));

        // Reboot the host: the socket is listening again and alice's builds go through the daemon.
        var bootBefore = await Line(host, "ps -o lstart= -p 1");
        await fleet.HostExec(host, "systemctl reboot");
        var deadline = DateTime.UtcNow.AddSeconds(60);
        string? boot = null;
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(1000);
            var r = await ProcessRunner.RunAsync([FleetScript.Find()!, "exec", "--dir", fleet.StateDir, host, "--", "sh", "-c", "systemctl is-system-running --wait >/dev/null 2>&1; ps -o lstart= -p 1"],
                new ProcessOptions { Timeout = TimeSpan.FromSeconds(30) });
            if (r.Succeeded && r.StdOut.Trim() is { Length: > 0 } s && s != bootBefore) { boot = s; break; }
        }
        Assert.NotNull(boot);
        await WaitForSshAsync(host);
        Assert.Equal("enabled\nactive", await Line(host, "systemctl is-enabled nix-daemon.socket; systemctl is-active nix-daemon.socket"));
        Assert.InRange(int.Parse(await BuildAsAliceAsync(host, "daemon")), 30001, 30004);
        // A user who never had Nix gets a profile through the daemon (per-user works). On Debian
        // (nix-setup-systemd) only the group nix-users may reach the socket, so bob joins it there.
        await Sh(host, $"useradd -m bob && {{ ! getent group nix-users >/dev/null || usermod -aG nix-users bob; }} && runuser -u bob -- env NIX_REMOTE=daemon nix-env -f {Pkgs} -iA jq 2>&1");
        Assert.Equal("jq-1.6", await Line(host, "runuser -u bob -- env NIX_REMOTE=daemon nix-env -q"));
        await Sh(host, "userdel -r bob; rm -rf /nix/var/nix/profiles/per-user/bob /nix/var/nix/gcroots/per-user/bob");

        var (reverted, revertLog) = await RevertAsync(host);

        Succeeded(reverted, revertLog, ConversionResult.Reverted);
        Assert.Equal("", await Line(host, "ls /etc/systemd/system | grep nix-daemon || true"));
        Assert.NotEqual("active", await Line(host, "systemctl is-active nix-daemon.socket || true"));
        Assert.Equal("", await Line(host, "ps -eo comm= | grep -x nix-daemon || true"));
        Assert.Equal(notAlicesBefore, await Line(host, NotAlices));
        Assert.Equal("1001", await BuildAsAliceAsync(host, "local"));
    }

    async Task WaitForSshAsync(string host)
    {
        for (var i = 0; i < 60; i++)
        {
            try
            {
                if ((await fleet.Ssh(host, ["true"])).Succeeded) return;
            }
            catch (SshException)
            {
            }
            await Task.Delay(500);
        }
    }

    [Fact]
    public async Task Preflight_Refusals_NameTheReason_AndChangeNothing()
    {
        if (!fleet.Available) return;
        const string host = ConversionFleet.Refuse;

        async Task Refused(string on, string reason)
        {
            var before = await FingerprintAsync(on);
            var (result, log) = await ConvertAsync(on);
            Succeeded(result, log, ConversionResult.Refused);
            Assert.Contains(reason, result.Message);
            Assert.Equal(before, await FingerprintAsync(on));
            Assert.Equal("", await Line(on, $"ls {ConversionScript.ReceiptPath} {ConversionScript.BackupRoot} 2>/dev/null || true"));
        }

        await Sh(host, "groupadd -g 1234 nixbld");
        await Refused(host, "group nixbld exists with GID 1234, not 30000");
        await Sh(host, "groupdel nixbld");

        await Sh(host, """
            echo 'derivation { name = "slow"; t = builtins.currentTime; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "/bin/sleep 15; echo > $out" ]; }' > /tmp/slow.nix
            setsid -f runuser -u alice -- sh -c 'cd /tmp && exec nix-build --no-out-link /tmp/slow.nix' </dev/null >/dev/null 2>&1
            i=0; while ! ps -eo comm= | grep -qx nix-build && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
            """);
        await Refused(host, "Nix is running (wait for it to finish)");
        await Sh(host, "kill $(ps -eo pid=,comm= | awk '$2 == \"nix-build\" {print $1}') 2>/dev/null; sleep 0.5");

        await Sh(host, "mv /nix/store /nix/store.away");
        try
        {
            await Refused(host, "no Nix: /nix/store does not exist");
        }
        finally
        {
            await Sh(host, "mv /nix/store.away /nix/store");
        }

        await Refused(ConversionFleet.Multi, "already multi-user: /nix/store belongs to root");
    }

    [Fact]
    public async Task AFailedStep_IsNamed_AndTheStepsBeforeItAreReverted()
    {
        if (!fleet.Available) return;
        const string host = ConversionFleet.Fault;
        var before = await FingerprintAsync(host);
        // The daemon cannot start on this host.
        await Sh(host, "mv /usr/bin/nix-daemon /usr/bin/nix-daemon.real && printf '#!/bin/sh\\necho injected failure >&2\\nexit 1\\n' > /usr/bin/nix-daemon && chmod 755 /usr/bin/nix-daemon");
        ConversionResult result;
        Recorder log;
        try
        {
            (result, log) = await ConvertAsync(host);
        }
        finally
        {
            await Sh(host, "mv -f /usr/bin/nix-daemon.real /usr/bin/nix-daemon");
        }

        Succeeded(result, log, ConversionResult.Failed);
        Assert.Contains("step daemon failed: check failed: nix-daemon does not answer", result.Message);
        Assert.Contains("The steps that ran were reverted", result.Message);
        var steps = result.Receipt!.Steps.ToDictionary(s => s.Name, s => s.Status);
        Assert.Equal(ReceiptStep.Reverted, steps[ConversionSteps.BuildUsers]);
        Assert.Equal(ReceiptStep.Reverted, steps[ConversionSteps.StoreOwnership]);
        Assert.Equal(ReceiptStep.Reverted, steps[ConversionSteps.Daemon]);
        Assert.Equal(ReceiptStep.Pending, steps[ConversionSteps.LoginProfile]);
        Assert.Equal(ConversionReceipt.Reverted, result.Receipt.Status);
        SameHost(before, await FingerprintAsync(host));
        Assert.Equal("", await Line(host, "ps -eo comm= | grep -x nix-daemon || true"));
    }

    [Fact]
    public async Task ConnectionLostMidStep_TheNextRunResumesFromTheReceipt_WithoutRepeatingDoneSteps()
    {
        if (!fleet.Available) return;
        const string host = ConversionFleet.Fault;
        await Sh(host, $"rm -f {ConversionScript.ReceiptPath}");
        // Each build user takes a second to make: time to lose the connection in the middle.
        await Sh(host, "printf '#!/bin/sh\\nsleep 1\\nexec /usr/sbin/useradd \"$@\"\\n' > /usr/local/sbin/useradd && chmod 755 /usr/local/sbin/useradd");
        try
        {
            var first = ConvertAsync(host, new ConversionOptions(6));
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!(await fleet.HostExec(host, $"cat {ConversionScript.ReceiptPath} 2>/dev/null || true")).Contains("\"name\":\"build-users\",\"status\":\"running\""))
            {
                Assert.True(DateTime.UtcNow < deadline, "the build-users step never started");
                await Task.Delay(200);
            }
            await Task.Delay(1500);
            Assert.True(await fleet.KillSshMastersAsync() > 0);
            await Assert.ThrowsAsync<SshException>(() => first);
            var cut = JsonSerializer.Deserialize<ConversionReceipt>(await fleet.HostExec(host, $"cat {ConversionScript.ReceiptPath}"), JsonSerializerOptions.Web)!;
            Assert.Equal(ConversionReceipt.Converting, cut.Status);
            Assert.Equal(ReceiptStep.Running, cut.StepNamed(ConversionSteps.BuildUsers).Status);

            var (resumed, log) = await ConvertAsync(host, new ConversionOptions(6));

            Succeeded(resumed, log, ConversionResult.Converted);
            Assert.Equal(cut.Id, resumed.Receipt!.Id);
            Assert.Contains($"resuming conversion {cut.Id} from its receipt", log.Text);
            Assert.Equal(string.Join(',', Enumerable.Range(1, 6).Select(i => $"nixbld{i}")), (await Line(host, "getent group nixbld")).Split(':')[3]);
            Assert.Equal("6", await Line(host, "getent passwd | grep -c '^nixbld'"));
        }
        finally
        {
            await Sh(host, "rm -f /usr/local/sbin/useradd");
        }

        var (reverted, revertLog) = await RevertAsync(host);
        Succeeded(reverted, revertLog, ConversionResult.Reverted);
        Assert.Equal("", await Line(host, "getent passwd | grep '^nixbld' || true"));
        Assert.Equal("", await Line(host, "find /nix \\( ! -user alice -o ! -group alice \\) -print | head"));
    }

    [Fact]
    public async Task SysVInitScript_StartsAndStopsTheDaemon_OnARealHost()
    {
        if (!fleet.Available) return;
        // No SysV PID 1 here: the script itself (start-stop-daemon, pid file) is what runs, as root, on a converted-looking store.
        const string host = ConversionFleet.Multi;
        var script = (await fleet.Ssh(host, ConversionScript.Render("sysv-init", "/usr/bin/nix-daemon"))).StdOut;
        var written = await fleet.Shell(host).RunAsync(["sh", "-c", "cat > /tmp/nix-daemon.init && chmod 755 /tmp/nix-daemon.init && kill $(cat /run/nix-daemon.pid) && sleep 0.5 && rm -f /nix/var/nix/daemon-socket/socket"], null, script);
        Assert.True(written.Succeeded, written.StdErr);
        try
        {
            Assert.Equal("", await Line(host, "/tmp/nix-daemon.init start; sleep 1; test -S /nix/var/nix/daemon-socket/socket && echo -n"));
            Assert.Matches(@"^\d+$", await Line(host, "cat /run/nix-daemon.pid"));
            Assert.Equal("jq-1.6", await Line(host, $"runuser -u alice -- env NIX_REMOTE=daemon nix-env -f {Pkgs} -iA jq >/dev/null 2>&1; runuser -u alice -- env NIX_REMOTE=daemon nix-env -q | grep jq"));
            await Sh(host, "/tmp/nix-daemon.init stop");
            Assert.Equal("", await Line(host, "ps -eo comm= | grep -x nix-daemon || true"));
        }
        finally
        {
            await Sh(host, "/usr/local/sbin/nix-daemon-restart");
        }
    }
}
