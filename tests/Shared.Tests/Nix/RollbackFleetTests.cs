using System.Globalization;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>
/// The generations probe, the rollback commands, the detached activation and the host lock on real
/// test hosts (see <see cref="RollbackFleet"/>), each checked against the host's real state
/// afterwards: nix-env's own answers, the links, /run/current-system and the stand-in's
/// activation record (/var/lib/nixfleet-test/activations). Every test leaves the hosts as it found them.
/// </summary>
public sealed class RollbackFleetTests(RollbackFleet fleet) : IClassFixture<RollbackFleet>
{
    private const string SystemProfile = "/nix/var/nix/profiles/system";
    private const string AliceProfile = "/nix/var/nix/profiles/per-user/alice/profile";
    private const string Record = "/var/lib/nixfleet-test/activations";

    // $1 a profile, $2 the user to ask nix-env as.
    private const string HostView = """
        echo "owner $(stat -c %U "$1")"
        echo "link $(readlink "$1")"
        for l in "$1"-*-link; do echo "target $l $(readlink "$l")"; done
        echo "@@list"
        runuser -u "$2" -- nix-env -p "$1" --list-generations
        """;

    [Theory]
    [InlineData(RollbackFleet.Nixos, new[] { SystemProfile, "/nix/var/nix/profiles/default", AliceProfile })]
    [InlineData(RollbackFleet.Single, new[] { AliceProfile })]
    [InlineData(RollbackFleet.Multi, new[] { "/nix/var/nix/profiles/default", AliceProfile })]
    public async Task Probe_OnEachKindOfHost_AgreesWithNixEnvListGenerationsAndReadlink(string host, string[] profiles)
    {
        if (!fleet.Available)
        {
            return; // No fleet here (see RollbackFleet).
        }

        var report = await fleet.Generations(host);
        var storeOwner = (await fleet.Exec(host, "stat", "-c", "%U", "/nix/store")).Trim();

        Assert.Equal(profiles, report.Profiles.Select(p => p.Profile));
        foreach (var profile in report.Profiles)
        {
            // What the host says itself, in one round trip: owner, link, each generation link's
            // target, then nix-env's own list (as the store's owner on a single-user install).
            var seen = (await fleet.Exec(host, "sh", "-c", HostView, "host-view", profile.Profile,
                storeOwner != "root" ? storeOwner : profile.Owner)).Split("@@list\n");
            var lines = seen[0].Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ', 2)).ToList();
            var listed = GenerationsParser.ParseListGenerations(seen[1]);

            Assert.Equal(lines.Single(l => l[0] == "owner")[1], profile.Owner);
            Assert.Equal(listed.Select(l => l.Number).OrderDescending(), profile.Generations.Select(g => g.Number));
            // The hosts' clocks are the machine's, in UTC.
            Assert.Equal(listed.Select(l => new DateTimeOffset(l.Date, TimeSpan.Zero)).Reverse(), profile.Generations.Select(g => g.Date));
            Assert.Equal(listed.Single(l => l.Current).Number, profile.BootDefault?.Number);
            Assert.Equal(lines.Single(l => l[0] == "link")[1], $"{Path.GetFileName(profile.Profile)}-{profile.BootDefault?.Number}-link");
            Assert.Equal(
                lines.Where(l => l[0] == "target").Select(l => l[1]).Order(),
                profile.Generations.Select(g => $"{profile.Profile}-{g.Number}-link {g.StorePath}").Order());
        }

        if (host == RollbackFleet.Nixos)
        {
            var system = report.Profiles[0];
            var current = (await fleet.Exec(host, "readlink", "/run/current-system")).Trim();
            Assert.Equal(current, report.CurrentSystem);
            Assert.Equal(current, system.Current?.StorePath);
            foreach (var generation in system.Generations)
            {
                Assert.Equal((await fleet.Exec(host, "cat", generation.StorePath + "/nixos-version")).Trim(), generation.NixosVersion);
                Assert.Equal(
                    GenerationsParser.KernelVersionFromPath(await fleet.Exec(host, "readlink", generation.StorePath + "/kernel")),
                    generation.KernelVersion);
                Assert.True(generation.HasSwitchToConfiguration);
            }
        }
    }

    [Fact]
    public async Task DetachedActivation_TestModeToAnOlderGeneration_MovesWhatRunsButNotTheBootDefault()
    {
        if (!fleet.Available)
        {
            return;
        }

        const string host = RollbackFleet.Nixos;
        var before = await fleet.Generations(host);
        var (target, error) = GenerationValidation.CheckRollback(before.Profiles, SystemProfile, 1, ActivationMode.Test);
        Assert.Null(error);
        var profileLink = await fleet.Exec(host, "readlink", SystemProfile);
        var runId = RollbackFleet.NewRunId();
        try
        {
            var (start, last, lines) = await fleet.Activate(host, target!.To.StorePath, ActivationMode.Test, runId);

            Assert.Equal((runId, false, null), (start.RunId, start.AlreadyStarted, start.Unit)); // no systemd here: setsid
            Assert.NotNull(start.Pid);
            Assert.Equal((ActivationState.Done, 0), (last.State, last.ExitStatus));
            Assert.Equal(["activating the configuration...", "setting up /etc..."], lines);
            Assert.Equal(target.To.StorePath, last.CurrentSystem);
            Assert.Equal(target.To.StorePath, (await fleet.Exec(host, "readlink", "/run/current-system")).Trim());
            Assert.Equal(profileLink, await fleet.Exec(host, "readlink", SystemProfile)); // test mode: boot default unchanged
            Assert.EndsWith($" test {target.To.StorePath}", LastLine(await Records(host)), StringComparison.Ordinal);
            var after = (await fleet.Generations(host)).Profiles[0];
            Assert.Equal((1, before.Profiles[0].BootDefault?.Number), (after.Current?.Number, after.BootDefault?.Number));
        }
        finally
        {
            await RestoreRunningSystem(before.CurrentSystem!);
        }
    }

    [Fact]
    public async Task DetachedActivation_ScriptExitsNonZero_ReportsStatusOneWithItsOutputAndNothingMoves()
    {
        if (!fleet.Available)
        {
            return;
        }

        const string host = RollbackFleet.Nixos;
        var before = await fleet.Generations(host);
        var target = before.Profiles[0].Find(2)!;
        var records = await Records(host);
        await fleet.Exec(host, "touch", "/etc/nixfleet-test/fail-activation");
        try
        {
            var (_, last, lines) = await fleet.Activate(host, target.StorePath, ActivationMode.Switch, RollbackFleet.NewRunId());

            Assert.Equal((ActivationState.Done, 1, false), (last.State, last.ExitStatus, last.Succeeded));
            Assert.Contains($"error: activation of {target.StorePath} failed (fault injected by NixFleet test host)", lines);
            Assert.Equal(before.CurrentSystem, last.CurrentSystem);
            Assert.Equal(before.CurrentSystem, (await fleet.Exec(host, "readlink", "/run/current-system")).Trim());
            Assert.Equal(records, await Records(host));
            Assert.EndsWith($" switch {target.StorePath}", LastLine(await Records(host, ".failed")), StringComparison.Ordinal);
        }
        finally
        {
            await fleet.Exec(host, "rm", "-f", "/etc/nixfleet-test/fail-activation");
        }
    }

    [Fact]
    public async Task Rollback_SwitchModeTheNixosRebuildWay_SetsTheProfileThenActivates_AndRollsForwardAgain()
    {
        if (!fleet.Available)
        {
            return;
        }

        const string host = RollbackFleet.Nixos;
        var facts = await fleet.Facts(host);
        var before = await fleet.Generations(host);
        var system = before.Profiles[0];
        var (target, error) = GenerationValidation.CheckRollback(before.Profiles, SystemProfile, null, ActivationMode.Switch);
        Assert.Null(error);
        var operation = "op-" + RollbackFleet.NewRunId();
        Assert.Equal(HostLockState.Taken, HostLock.Parse((await fleet.Ssh(host, HostLock.TakeCommand(operation))).StdOut).State);
        try
        {
            // Back to the previous generation (what nixos-rebuild switch --rollback does).
            var switched = await fleet.Ssh(host, RollbackCommands.ForHost(facts, "root",
                RollbackCommands.SwitchGeneration(SystemProfile, target!.To.Number), system.Owner));
            Assert.True(switched.Succeeded, switched.StdErr);
            var (_, last, _) = await fleet.Activate(host, target.To.StorePath, ActivationMode.Switch, RollbackFleet.NewRunId());

            Assert.True(last.Succeeded);
            Assert.Equal((target.To.StorePath, $"system-{target.To.Number}-link", target.To.StorePath),
                (last.CurrentSystem, last.SystemProfileLink, last.SystemProfilePath));
            Assert.Equal($"system-{target.To.Number}-link", (await fleet.Exec(host, "readlink", SystemProfile)).Trim());
            Assert.Equal(target.To.StorePath, (await fleet.Exec(host, "readlink", "/run/current-system")).Trim());
            Assert.EndsWith($" switch {target.To.StorePath}", LastLine(await Records(host)), StringComparison.Ordinal);

            // Forward again to the exact store path that was the boot default, by path (--set).
            var forward = system.BootDefault!;
            var set = await fleet.Ssh(host, RollbackCommands.ForHost(facts, "root", RollbackCommands.SetProfile(SystemProfile, forward.StorePath)));
            Assert.True(set.Succeeded, set.StdErr);
            var (_, again, _) = await fleet.Activate(host, forward.StorePath, ActivationMode.Switch, RollbackFleet.NewRunId());

            Assert.True(again.Succeeded);
            Assert.Equal((forward.StorePath, forward.StorePath), (again.CurrentSystem, again.SystemProfilePath));
            var after = (await fleet.Generations(host)).Profiles[0];
            Assert.Equal(forward.StorePath, after.BootDefault?.StorePath);
            Assert.Equal(after.BootDefault, after.Current);
        }
        finally
        {
            Assert.Equal(HostLockState.Released, HostLock.Parse((await fleet.Ssh(host, HostLock.ReleaseCommand(operation))).StdOut).State);
            await fleet.Exec(host, RollbackCommands.SetProfile(SystemProfile, system.BootDefault!.StorePath).ToArray());
            await RestoreRunningSystem(before.CurrentSystem!);
        }
    }

    [Fact]
    public async Task DetachedActivation_SameRunStartedTwice_RunsOnce()
    {
        if (!fleet.Available)
        {
            return;
        }

        const string host = RollbackFleet.Nixos;
        var before = await fleet.Generations(host);
        var runId = RollbackFleet.NewRunId();
        var records = (await Records(host)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        try
        {
            var (first, _, _) = await fleet.Activate(host, before.CurrentSystem!, ActivationMode.Test, runId);
            var again = await fleet.Ssh(host, DetachedActivation.StartCommand(before.CurrentSystem!, ActivationMode.Test, runId));
            var (last, _) = await fleet.Follow(host, runId);

            Assert.False(first.AlreadyStarted);
            Assert.True(DetachedActivation.ParseStart(again.StdOut)!.AlreadyStarted);
            Assert.True(last.Succeeded);
            Assert.Equal(records + 1, (await Records(host)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        }
        finally
        {
            await RestoreRunningSystem(before.CurrentSystem!);
        }
    }

    [Fact]
    public async Task DetachedActivation_OnAHostWithSystemd_RunsAsATransientUnit()
    {
        if (!fleet.Available)
        {
            return;
        }

        const string host = RollbackFleet.Systemd;
        var system = (await fleet.Exec(host, "runuser", "-u", "alice", "--", "nix-build", "--no-out-link",
            "/etc/nixfleet-test/system.nix", "--argstr", "hostName", host, "--arg", "generation", "2")).Trim();
        var notAlices = await fleet.Exec(host, "find", "/nix", "!", "-user", "alice");
        var runId = RollbackFleet.NewRunId();

        var (start, last, lines) = await fleet.Activate(host, system, ActivationMode.Test, runId);

        Assert.Equal(("nixfleet-activate-" + runId, null), (start.Unit, start.Pid));
        Assert.True(last.Succeeded);
        Assert.Equal(["activating the configuration...", "setting up /etc..."], lines);
        Assert.Equal(system, (await fleet.Exec(host, "readlink", "/run/current-system")).Trim());
        Assert.EndsWith($" test {system}", LastLine(await Records(host)), StringComparison.Ordinal);
        Assert.Equal(notAlices, await fleet.Exec(host, "find", "/nix", "!", "-user", "alice")); // root added nothing to alice's store
    }

    [Theory]
    [InlineData(RollbackFleet.Single, 3, "hello-1.0", "cowsay-2.1 figlet-2.2.5 hello-1.0")]
    [InlineData(RollbackFleet.Multi, 2, "hello-1.0", "cowsay-2.1 hello-1.0")]
    public async Task UserProfileRollback_BackAndForward_NixEnvQShowsThePackagesAndAliceOwnsEverything(
        string host, int latest, string atFirst, string atLatest)
    {
        if (!fleet.Available)
        {
            return;
        }

        var facts = await fleet.Facts(host);
        var alice = GenerationValidation.FindProfile((await fleet.Generations(host)).Profiles, AliceProfile)!;
        Assert.Equal(latest, alice.BootDefault?.Number);

        foreach (var (generation, packages) in new[] { (1, atFirst), (latest, atLatest) })
        {
            var switched = await fleet.Ssh(host, RollbackCommands.ForHost(facts, "root",
                RollbackCommands.SwitchGeneration(AliceProfile, generation), alice.Owner));
            var installed = await fleet.Exec(host, "runuser", "-u", "alice", "--", "nix-env", "-q");

            Assert.True(switched.Succeeded, switched.StdErr);
            Assert.Equal($"switching profile from version {(generation == 1 ? latest : 1)} to {generation}", switched.StdErr.Trim());
            Assert.Equal(packages, string.Join(' ', installed.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
            Assert.Equal(generation, GenerationValidation.FindProfile((await fleet.Generations(host)).Profiles, AliceProfile)?.BootDefault?.Number);
            Assert.Equal("", await fleet.Exec(host, "find", "/nix/var/nix/profiles/per-user/alice", "!", "-user", "alice"));
        }
    }

    [Fact]
    public async Task HostLock_TakeTakeAgainReleaseByAnotherRelease_OnASingleUserStore()
    {
        if (!fleet.Available)
        {
            return;
        }

        const string host = RollbackFleet.Single;
        var take = await fleet.Ssh(host, HostLock.TakeCommand("op-a"));
        var owner = await fleet.Exec(host, "stat", "-c", "%U", HostLock.Path, HostLock.Path + "/owner");
        var busy = await fleet.Ssh(host, HostLock.TakeCommand("op-b"));
        var again = await fleet.Ssh(host, HostLock.TakeCommand("op-a"));
        var wrongRelease = await fleet.Ssh(host, HostLock.ReleaseCommand("op-b"));
        var stillThere = await fleet.Exec(host, "head", "-n", "1", HostLock.Path + "/owner");
        var release = await fleet.Ssh(host, HostLock.ReleaseCommand("op-a"));
        var gone = await fleet.Exec(host, "sh", "-c", $"test -e {HostLock.Path} && echo present || echo gone");
        var releaseAgain = await fleet.Ssh(host, HostLock.ReleaseCommand("op-a"));

        Assert.Equal((0, HostLockState.Taken, "op-a"), (take.ExitCode, HostLock.Parse(take.StdOut).State, HostLock.Parse(take.StdOut).Owner));
        Assert.Equal("alice\nalice\n", owner); // chowned to the store's owner: nothing of root's in her store
        Assert.Equal((1, HostLockState.Busy, "op-a"), (busy.ExitCode, HostLock.Parse(busy.StdOut).State, HostLock.Parse(busy.StdOut).Owner));
        Assert.NotNull(HostLock.Parse(busy.StdOut).Since);
        Assert.Equal((0, HostLockState.AlreadyHeld), (again.ExitCode, HostLock.Parse(again.StdOut).State));
        Assert.Equal((1, HostLockState.Busy, "op-a"), (wrongRelease.ExitCode, HostLock.Parse(wrongRelease.StdOut).State, HostLock.Parse(wrongRelease.StdOut).Owner));
        Assert.Equal("op-a\n", stillThere);
        Assert.Equal((0, HostLockState.Released), (release.ExitCode, HostLock.Parse(release.StdOut).State));
        Assert.Equal("gone\n", gone);
        Assert.Equal((0, HostLockState.NotHeld), (releaseAgain.ExitCode, HostLock.Parse(releaseAgain.StdOut).State));
    }

    [Fact]
    public async Task DeletionPreview_IsWhatNixEnvDeletes_AndDeletingThoseNumbersLeavesTheRest()
    {
        if (!fleet.Available)
        {
            return;
        }

        // A scratch profile of alice's on the single-user host: 5 generations (her profile's
        // user environments, in turn) aged 40, 30, 20, 2 and 0 days (nix-env dates a generation by
        // its link's mtime), pointing at 3.
        const string host = RollbackFleet.Single;
        const string scratch = "/nix/var/nix/profiles/per-user/alice/scratch";
        await fleet.Exec(host, "runuser", "-u", "alice", "--", "sh", "-euc", $"""
            p={scratch}
            for n in 1 2 3 1 2; do nix-env -p "$p" --set "$(readlink {AliceProfile}-$n-link)"; done
            touch -h -d '40 days ago' "$p-1-link"
            touch -h -d '30 days ago' "$p-2-link"
            touch -h -d '20 days ago' "$p-3-link"
            touch -h -d '2 days ago' "$p-4-link"
            nix-env -p "$p" --switch-generation 3
            """);
        var profile = GenerationValidation.FindProfile((await fleet.Generations(host)).Profiles, scratch)!;
        var now = DateTimeOffset.FromUnixTimeSeconds(long.Parse(await fleet.Exec(host, "date", "+%s"), CultureInfo.InvariantCulture));

        foreach (var spec in (string[])["+1", "+2", "+3", "+9", "1d", "7d", "25d", "35d"])
        {
            Assert.True(GenerationPolicy.TryParse(spec, out var policy));
            var dryRun = await fleet.Exec(host, "sh", "-c",
                $"runuser -u alice -- nix-env -p {scratch} --delete-generations {spec} --dry-run 2>&1");
            var nixWouldRemove = dryRun.Split('\n')
                .Where(l => l.StartsWith("would remove profile version ", StringComparison.Ordinal))
                .Select(l => int.Parse(l["would remove profile version ".Length..], CultureInfo.InvariantCulture)).Order();

            Assert.Equal(nixWouldRemove, GenerationPolicy.Preview(profile, policy, now).Select(g => g.Number));
        }

        var doomed = GenerationPolicy.Preview(profile, GenerationPolicy.OlderThanDays(7), now);
        var deleted = await fleet.Ssh(host, RollbackCommands.ForHost(await fleet.Facts(host), "root",
            RollbackCommands.DeleteGenerationNumbers(scratch, doomed.Select(g => g.Number)), profile.Owner));
        Assert.True(deleted.Succeeded, deleted.StdErr);
        Assert.Equal([5, 4, 3], GenerationValidation.FindProfile((await fleet.Generations(host)).Profiles, scratch)!.Generations.Select(g => g.Number));
        await fleet.Exec(host, "sh", "-c", $"rm -f {scratch} {scratch}-*-link");
    }

    // Puts back what ran before a test (the stand-in's switch-to-configuration test only moves /run/current-system).
    private async Task RestoreRunningSystem(string storePath) =>
        await fleet.Exec(RollbackFleet.Nixos, storePath + "/bin/switch-to-configuration", "test");

    private Task<string> Records(string host, string suffix = "") =>
        fleet.Exec(host, "sh", "-c", $"cat {Record}{suffix} 2>/dev/null || true");

    private static string LastLine(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
}
