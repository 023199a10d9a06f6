using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>
/// The conversion's parsing, planning and checks, on outputs captured from real hosts
/// (Fixtures/conversion), and the host script's own guards, run locally where they only print.
/// </summary>
public sealed class ConversionTests
{
    static string Fixture(string name) => File.ReadAllText(TestContext.FixturePath("conversion", name));

    static PreflightCheck Check(ConversionPreflight p, string name) => p.Checks.Single(c => c.Name == name);

    [Fact]
    public void Preflight_FreshSingleUserHost_CanConvert_AndRecordsWhatMustSurvive()
    {
        var p = ConversionPreflightParser.Parse(Fixture("probe-single.txt"), new ConversionOptions());

        Assert.True(p.CanConvert, p.FailureSummary);
        Assert.Equal(("alice", "alice", "/home/alice"), (p.Owner, p.OwnerGroup, p.OwnerHome));
        Assert.Equal("none", p.InitSystem);
        Assert.Equal(PreflightCheck.Warning, Check(p, "init").Status);
        Assert.Contains("does not start again after a reboot", Check(p, "init").Detail);
        Assert.Equal("/usr/bin/nix-daemon", p.DaemonPath);
        Assert.Equal("per-user", p.ProfileLayout);
        Assert.Equal(["cowsay-2.1", "figlet-2.2.5", "hello-1.0"], p.Packages);
        Assert.Equal(["profile-1-link", "profile-2-link", "profile-3-link"], p.Generations);
        Assert.Equal(["nixpkgs"], p.Channels);
        Assert.Empty(p.Processes);
        Assert.Contains("32 to create, 0 reused", Check(p, "build-users").Detail);
        Assert.Contains("will be created with GID 30000", Check(p, "build-group").Detail);
        Assert.Null(p.Receipt);
        Assert.False(p.AlreadyConverted);
    }

    [Fact]
    public void Preflight_MultiUserHost_IsRefused_AsAlreadyMultiUser()
    {
        var p = ConversionPreflightParser.Parse(Fixture("probe-multi.txt"), new ConversionOptions());

        Assert.False(p.CanConvert);
        Assert.Equal(PreflightCheck.Failed, Check(p, "install").Status);
        Assert.Contains("already multi-user: /nix/store belongs to root", p.FailureSummary);
    }

    [Fact]
    public void Preflight_RunningBuild_ConflictingGroupAndUid_EachNamedWithItsReason()
    {
        var p = ConversionPreflightParser.Parse(Fixture("probe-busy-conflicts.txt"), new ConversionOptions());

        Assert.False(p.CanConvert);
        var processes = Check(p, "processes");
        Assert.Equal(PreflightCheck.Failed, processes.Status);
        Assert.Contains("nix-build --no-out-link /tmp/slow.nix", processes.Detail);
        Assert.Contains("alice", processes.Detail);
        Assert.Equal(PreflightCheck.Failed, Check(p, "build-group").Status);
        Assert.Contains("group nixbld exists with GID 1234, not 30000", Check(p, "build-group").Detail);
        Assert.Equal(PreflightCheck.Failed, Check(p, "build-users").Status);
        Assert.Contains("UID 30002 belongs to bob", Check(p, "build-users").Detail);
        // Choosing the group's own GID and a UID range clear of bob's fits.
        var fitted = ConversionPreflightParser.Parse(Fixture("probe-busy-conflicts.txt"), new ConversionOptions(4, 1234, 40001));
        Assert.Equal(PreflightCheck.Ok, Check(fitted, "build-group").Status);
        Assert.Equal(PreflightCheck.Ok, Check(fitted, "build-users").Status);
    }

    [Fact]
    public void Preflight_HostConvertedByHand_IsRefused_AndSeesTheSystemdInitAndExistingBuildUsers()
    {
        var p = ConversionPreflightParser.Parse(Fixture("probe-systemd-converted-by-hand.txt"), new ConversionOptions(4));

        Assert.Equal("systemd", p.InitSystem);
        Assert.Equal(PreflightCheck.Ok, Check(p, "init").Status);
        Assert.Contains("4 reused", Check(p, "build-users").Detail);
        Assert.Contains("already multi-user", Check(p, "install").Detail);
        Assert.False(p.CanConvert);
    }

    [Fact]
    public void Preflight_NotRoot_NoStore_AndTooLittleDisk_AreRefused()
    {
        var output = "\n@@whoami\n|alice\n\n@@disk\n|/nix 1024\n|/var 1024\n";
        var p = ConversionPreflightParser.Parse(output, new ConversionOptions());

        Assert.False(p.CanConvert);
        Assert.Contains("converting needs root", Check(p, "root").Detail);
        Assert.Contains("no Nix: /nix/store does not exist", Check(p, "nix").Detail);
        Assert.Equal(PreflightCheck.Failed, Check(p, "disk").Status);
        Assert.Contains("1 MiB free for /nix", Check(p, "disk").Detail);
    }

    [Fact]
    public void Preflight_ConvertedReceipt_MeansNoOp_AndAnUnfinishedOneResumes()
    {
        var receipt = ConversionPlanner.NewReceipt(ConversionPreflightParser.Parse(Fixture("probe-single.txt"), new ConversionOptions()), new ConversionOptions(), "abc123");
        string With(ConversionReceipt r) => Fixture("probe-multi.txt").Replace("@@receipt\n", "@@receipt\n|" + System.Text.Json.JsonSerializer.Serialize(r, System.Text.Json.JsonSerializerOptions.Web) + "\n");

        var converted = ConversionPreflightParser.Parse(With(receipt with { Status = ConversionReceipt.Converted }), new ConversionOptions());
        Assert.True(converted.AlreadyConverted);
        Assert.NotNull(ConversionPlanner.Plan(converted, new ConversionOptions(), "new1").NoOp);

        var unfinished = ConversionPreflightParser.Parse(With(receipt), new ConversionOptions());
        Assert.True(unfinished.CanConvert, unfinished.FailureSummary);
        Assert.Contains("resumes from its receipt", Check(unfinished, "install").Detail);

        var reverting = ConversionPreflightParser.Parse(With(receipt with { Status = ConversionReceipt.Reverting }), new ConversionOptions());
        Assert.False(reverting.CanConvert);
        Assert.Contains("revert it first", reverting.FailureSummary);
    }

    [Fact]
    public void Plan_ShowsEveryStep_WithTheScriptsOwnCommands_WhatChanges_AndHowItIsUndone()
    {
        var p = ConversionPreflightParser.Parse(Fixture("probe-single.txt"), new ConversionOptions(8));
        var plan = ConversionPlanner.Plan(p, new ConversionOptions(8), "0123abcd");

        Assert.Null(plan.NoOp);
        Assert.Equal(ConversionSteps.Order, plan.Steps.Select(s => s.Name));
        var users = plan.Steps[0];
        Assert.Contains("nixbld1..nixbld8", users.Changes);
        Assert.Contains("useradd -r -K SYS_UID_MAX=\"$uid\" -u \"$uid\" -g nixbld -G nixbld -M -N -d /var/empty", users.Commands);
        Assert.StartsWith("# apply build-users owner=alice users=8 gid=30000 uid=30001 init=none daemon=/usr/bin/nix-daemon backup=/var/lib/nixfleet/convert/0123abcd", users.Commands);
        Assert.Contains("chown -R root:nixbld /nix", plan.Steps.Single(s => s.Name == ConversionSteps.StoreOwnership).Commands);
        Assert.Contains("chown -R alice:alice /nix", plan.Steps.Single(s => s.Name == ConversionSteps.StoreOwnership).Undo);
        Assert.All(plan.Steps, s => Assert.False(string.IsNullOrWhiteSpace(s.Commands.Split('\n', 2)[1]), $"{s.Name} shows no commands"));
    }

    [Fact]
    public void Verification_OfARealConvertedHost_Passes_AndEachDeparture_IsNamed()
    {
        var output = Fixture("verify-systemd.txt");
        var receipt = ConversionPlanner.NewReceipt(ConversionPreflightParser.Parse(Fixture("probe-single.txt"), new ConversionOptions()), new ConversionOptions(), "v1");

        var (after, error) = ConversionRunner.CheckVerification(output, receipt);
        Assert.Null(error);
        Assert.Equal("nixbld1", after.BuildUser);
        Assert.StartsWith("/nix/store/", after.BuildOutput);
        Assert.Contains("root:nixbld 1775 /nix/store", after.Modes);

        Assert.Contains("packages changed", ConversionRunner.CheckVerification(output, receipt with { PackagesBefore = ["hello-1.0", "jq-1.6"] }).Error);
        Assert.Contains("no longer listed: profile-4-link", ConversionRunner.CheckVerification(output, receipt with { GenerationsBefore = ["profile-3-link", "profile-4-link"] }).Error);
        Assert.Contains("ran as UID 1000 (alice)", ConversionRunner.CheckVerification(output.Replace("30001 nixbld1", "1000 alice"), receipt).Error);
        Assert.Contains("test build through the daemon failed", ConversionRunner.CheckVerification(output.Replace("@@build\n|", "@@build\n"), receipt).Error ?? "");
        Assert.Contains("cannot reach the daemon", ConversionRunner.CheckVerification(output.Replace("@@daemon-user\n|sha256:", "@@daemon-user\n|error: "), receipt).Error);
    }

    [Fact]
    public void Options_OutOfRange_AreNamed()
    {
        Assert.Empty(new ConversionOptions().Errors());
        Assert.Equal(["buildUsers", "groupId", "firstUserId"], new ConversionOptions(0, 0, -5).Errors().Keys);
        Assert.Contains("buildUsers", new ConversionOptions(ConversionOptions.MaxBuildUsers + 1).Errors().Keys);
    }

    [Theory]
    [InlineData("../etc")]
    [InlineData("a/b")]
    [InlineData("A$(x)")]
    [InlineData("")]
    public void BackupDir_TakesOnlyConversionIds(string id) =>
        Assert.Throws<ArgumentException>(() => ConversionScript.BackupDir(id));

    [Fact]
    public async Task Script_IsValidPosixSh()
    {
        var r = await ProcessRunner.RunAsync(["dash", "-n", "-c", ConversionScript.Text]);
        Assert.True(r.Succeeded, r.StdErr);
    }

    /// <summary>Hostile values never reach a command: the script refuses them before doing anything (here, locally, where "apply" would fail anyway).</summary>
    [Theory]
    [InlineData("owner=alice;touch /tmp/PWNED")]
    [InlineData("owner=$(touch /tmp/PWNED)")]
    [InlineData("owner=-ralice")]
    [InlineData("users=4;touch /tmp/PWNED")]
    [InlineData("gid=-1")]
    [InlineData("init=upstart")]
    [InlineData("daemon=/usr/bin/nix-daemon $(touch /tmp/PWNED)")]
    [InlineData("daemon=relative/nix-daemon")]
    [InlineData("backup=/etc")]
    [InlineData("backup=/var/lib/nixfleet/convert/../../../etc")]
    [InlineData("nonce=x y")]
    [InlineData("surprise=1")]
    public async Task Script_RefusesHostileArguments_BeforeAnyChange(string hostile)
    {
        var marker = "/tmp/PWNED";
        File.Delete(marker);
        string[] good = ["owner=nobody", "users=1", "gid=1", "uid=1", "init=none", "daemon=/nonexistent/nix-daemon", "backup=/var/lib/nixfleet/convert/unit-test"];
        var key = hostile[..(hostile.IndexOf('=') + 1)];
        var args = good.Where(a => !a.StartsWith(key, StringComparison.Ordinal)).Append(hostile);
        // "revert verify" does nothing even with good arguments: only the guards can fail here.
        var r = await ProcessRunner.RunAsync(["sh", "-c", ConversionScript.Text, "nixfleet-convert", "revert", "verify", .. args]);

        Assert.Equal(1, r.ExitCode);
        Assert.Matches("nixfleet-convert: (bad|unknown) ", r.StdErr);
        Assert.False(File.Exists(marker));
        Assert.False(Directory.Exists("/var/lib/nixfleet/convert/unit-test"));
    }

    [Fact]
    public async Task Script_WithGoodArguments_PassesItsGuards()
    {
        var r = await ProcessRunner.RunAsync(["sh", "-c", ConversionScript.Text, "nixfleet-convert", "revert", "verify",
            "owner=root", "users=1", "gid=1", "uid=1", "init=none", "daemon=/usr/bin/nix-daemon", "backup=/var/lib/nixfleet/convert/unit-test"]);
        Assert.True(r.Succeeded, r.StdErr);
    }

    [Fact]
    public async Task SysVInitScript_IsValid_StartsTheLocatedDaemon_AndHasItsLsbHeader()
    {
        var r = await ProcessRunner.RunAsync(ConversionScript.Render("sysv-init", "/opt/nix/bin/nix-daemon"));
        Assert.True(r.Succeeded, r.StdErr);
        var script = r.StdOut;
        Assert.StartsWith("#!/bin/sh\n### BEGIN INIT INFO\n# Provides:          nix-daemon\n", script);
        Assert.Contains("# Default-Start:     2 3 4 5", script);
        Assert.Contains("DAEMON=/opt/nix/bin/nix-daemon", script);
        Assert.Contains("start-stop-daemon --start --quiet --background --make-pidfile --pidfile \"$PIDFILE\" --exec \"$DAEMON\" -- --daemon", script);
        var syntax = await ProcessRunner.RunAsync(["dash", "-n", "-c", script]);
        Assert.True(syntax.Succeeded, syntax.StdErr);
        // Without its daemon it does nothing and says so with its exit code (LSB: 0 when not installed).
        var run = await ProcessRunner.RunAsync(["sh", "-c", script, "nix-daemon", "status"]);
        Assert.Equal(0, run.ExitCode);
    }

    [Fact]
    public async Task SystemdUnits_AreTheUpstreamShape_WithTheLocatedDaemon()
    {
        var service = (await ProcessRunner.RunAsync(ConversionScript.Render("systemd-service", "/usr/bin/nix-daemon"))).StdOut;
        var socket = (await ProcessRunner.RunAsync(ConversionScript.Render("systemd-socket", "/usr/bin/nix-daemon"))).StdOut;
        Assert.Contains("ExecStart=/usr/bin/nix-daemon --daemon\n", service);
        Assert.Contains("KillMode=process", service);
        Assert.Contains("WantedBy=multi-user.target", service);
        Assert.Contains("ListenStream=/nix/var/nix/daemon-socket/socket", socket);
        Assert.Contains("WantedBy=sockets.target", socket);
    }

    [Fact]
    public async Task ProfileScript_GivesUsersTheDaemon_AndTheirProfile()
    {
        var text = (await ProcessRunner.RunAsync(ConversionScript.Render("profile-script", "/usr/bin/nix-daemon"))).StdOut;
        var home = Directory.CreateTempSubdirectory("nf-home-").FullName;
        var r = await ProcessRunner.RunAsync(["env", "-i", $"HOME={home}", "USER=bob", "PATH=/usr/bin:/bin", "sh", "-c", text + "\necho \"$NIX_REMOTE|$PATH\"; readlink \"$HOME/.nix-profile\""]);
        Directory.Delete(home, true);
        Assert.True(r.Succeeded, r.StdErr);
        var lines = r.StdOut.Split('\n');
        Assert.Equal($"daemon|{home}/.nix-profile/bin:/nix/var/nix/profiles/default/bin:/usr/bin:/bin", lines[0]);
        Assert.Equal("/nix/var/nix/profiles/per-user/bob/profile", lines[1]);
    }
}
