using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

public class GcPlannerTests
{
    private const string System = "/nix/var/nix/profiles/system";
    private const string Alice = "/nix/var/nix/profiles/per-user/alice/profile";
    private const string Default = "/nix/var/nix/profiles/default";

    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.FromHours(1));

    // ---- GcOptions.Policy ----

    [Fact]
    public void Policy_EachMode_IsTheDeletionPolicyNixEnvTakes()
    {
        Assert.Null(Options(GcMode.Plain, days: 30, keep: 3).Policy);
        Assert.Equal(new DeletionPolicy(null, 30), Options(GcMode.OlderThan, days: 30).Policy);
        Assert.Equal(new DeletionPolicy(3, null), Options(GcMode.KeepLast, keep: 3).Policy);
        Assert.Equal(new DeletionPolicy(1, null), Options(GcMode.DeleteOld).Policy);
        Assert.Null(Options("bogus", days: 30, keep: 3).Policy);
        Assert.Equal(["plain", "olderThan", "keepLast", "deleteOld"], GcMode.All);
    }

    [Fact]
    public void Policy_MissingOrZeroParameter_ThrowsRatherThanDeletingEverything()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Options(GcMode.OlderThan).Policy);
        Assert.Throws<ArgumentOutOfRangeException>(() => Options(GcMode.KeepLast).Policy);
        Assert.Throws<ArgumentOutOfRangeException>(() => Options(GcMode.KeepLast, keep: 0).Policy);
        Assert.Throws<ArgumentOutOfRangeException>(() => Options(GcMode.OlderThan, days: GenerationPolicy.MaxDays + 1).Policy);
    }

    // ---- GenerationsToDelete ----

    [Fact]
    public void GenerationsToDelete_Plain_DeletesNoGeneration()
    {
        var profiles = new[] { UserProfile(Alice, "alice", current: 8, Enumerable.Range(1, 8).Select(n => (n, Now.AddDays(-100 + n))).ToArray()) };

        Assert.Empty(GcPlanner.GenerationsToDelete(profiles, Options(GcMode.Plain), Now));
        Assert.Empty(GcPlanner.GenerationsToDelete(profiles, Options(GcMode.Plain, profiles: [Alice]), Now));
    }

    [Fact]
    public void GenerationsToDelete_KeepLast_KeepsKCountedFromTheCurrentAndEveryNewerOne()
    {
        // Rolled back to 6: 7 and 8 are newer and stay; 6, 5, 4 are the last three.
        var alice = UserProfile(Alice, "alice", current: 6, Enumerable.Range(1, 8).Select(n => (n, Now.AddDays(n - 10))).ToArray());

        var plan = GcPlanner.GenerationsToDelete([alice], Options(GcMode.KeepLast, keep: 3), Now);

        var deletion = Assert.Single(plan);
        Assert.Equal((Alice, "alice"), (deletion.Profile, deletion.Owner));
        Assert.Equal([1, 2, 3], deletion.Generations);
        Assert.Equal([$"{Alice}-1-link", $"{Alice}-2-link", $"{Alice}-3-link"], deletion.Links);
        Assert.Equal([1, 2, 3, 4, 5], Single(GcPlanner.GenerationsToDelete([alice], Options(GcMode.KeepLast, keep: 1), Now)));
        Assert.Empty(GcPlanner.GenerationsToDelete([alice], Options(GcMode.KeepLast, keep: 6), Now));
    }

    [Fact]
    public void GenerationsToDelete_DeleteOld_KeepsTheCurrentAndNewerOnly()
    {
        var alice = UserProfile(Alice, "alice", current: 4, Enumerable.Range(1, 5).Select(n => (n, Now.AddDays(n - 10))).ToArray());

        Assert.Equal([1, 2, 3], Single(GcPlanner.GenerationsToDelete([alice], Options(GcMode.DeleteOld), Now)));
    }

    [Fact]
    public void GenerationsToDelete_DeleteOldOnNixosRunningAnOlderGeneration_KeepsWhatRunsAndWhatBoots()
    {
        // "nixos-rebuild boot" to 4 while 2 runs: the profile points at 4, /run/current-system is 2.
        // nix-collect-garbage -d would delete 2, the running system's generation.
        var system = SystemProfile(runs: 2, boots: 4, Enumerable.Range(1, 5).Select(n => (n, Now.AddDays(n - 10))).ToArray());

        Assert.Equal([1, 3], Single(GcPlanner.GenerationsToDelete([system], Options(GcMode.DeleteOld), Now)));
        Assert.Equal([1, 3], Single(GcPlanner.GenerationsToDelete([system], Options(GcMode.KeepLast, keep: 1), Now)));
        Assert.Equal([1], Single(GcPlanner.GenerationsToDelete([system], Options(GcMode.KeepLast, keep: 2), Now)));
    }

    [Fact]
    public void GenerationsToDelete_DeleteOldAfterABootRollback_KeepsTheNewerRunningOneAndTheBootDefault()
    {
        // "nixos-rebuild boot --rollback" from 5: the profile points at 4, 5 still runs until the reboot.
        var system = SystemProfile(runs: 5, boots: 4, Enumerable.Range(1, 5).Select(n => (n, Now.AddDays(n - 10))).ToArray());

        var deletion = Assert.Single(GcPlanner.GenerationsToDelete([system], Options(GcMode.DeleteOld), Now));

        Assert.Equal([1, 2, 3], deletion.Generations);
        Assert.Equal([$"{System}-1-link", $"{System}-2-link", $"{System}-3-link"], deletion.Links);
    }

    [Fact]
    public void GenerationsToDelete_OlderThan_KeepsTheGenerationInUseAtTheLimit()
    {
        var alice = UserProfile(Alice, "alice", current: 5,
            (1, Now.AddDays(-40)), (2, Now.AddDays(-30)), (3, Now.AddDays(-20)), (4, Now.AddDays(-2)), (5, Now.AddHours(-12)));

        // 3 is the newest generation older than 7 days: it was the one in use 7 days ago.
        Assert.Equal([1, 2], Single(GcPlanner.GenerationsToDelete([alice], Options(GcMode.OlderThan, days: 7), Now)));
        Assert.Equal([1], Single(GcPlanner.GenerationsToDelete([alice], Options(GcMode.OlderThan, days: 25), Now)));
        Assert.Equal([1, 2, 3], Single(GcPlanner.GenerationsToDelete([alice], Options(GcMode.OlderThan, days: 1), Now)));
        Assert.Empty(GcPlanner.GenerationsToDelete([alice], Options(GcMode.OlderThan, days: 35), Now));
    }

    [Fact]
    public void GenerationsToDelete_OlderThanWhileAnOldGenerationRuns_KeepsTheRunningOne()
    {
        var system = SystemProfile(runs: 1, boots: 4,
            (1, Now.AddDays(-40)), (2, Now.AddDays(-30)), (3, Now.AddDays(-20)), (4, Now.AddDays(-2)));

        Assert.Equal([2], Single(GcPlanner.GenerationsToDelete([system], Options(GcMode.OlderThan, days: 7), Now)));
    }

    [Fact]
    public void GenerationsToDelete_OlderThan_ComparesInstantsNotWallClockTimes()
    {
        // Generation 2 is 6 days 21 hours old, but written at UTC-8 its wall clock time is more
        // than 7 days before Now's (UTC+1): only the instant counts, so it is not older than 7 days.
        var alice = UserProfile(Alice, "alice", current: 3,
            (1, Now.AddDays(-9)),
            (2, Now.AddDays(-7).AddHours(3).ToOffset(TimeSpan.FromHours(-8))),
            (3, Now.AddDays(-6).ToOffset(TimeSpan.FromHours(9))));

        Assert.Empty(GcPlanner.GenerationsToDelete([alice], Options(GcMode.OlderThan, days: 7), Now));
        Assert.Equal([1], Single(GcPlanner.GenerationsToDelete([alice], Options(GcMode.OlderThan, days: 6), Now)));
    }

    [Fact]
    public void GenerationsToDelete_NoProfilesChosen_EveryProfileInTheHostsOrder()
    {
        var profiles = Host();

        var plan = GcPlanner.GenerationsToDelete(profiles, Options(GcMode.KeepLast, keep: 1), Now);

        Assert.Equal(
            [(System, "root", new[] { 1, 2 }), (Alice, "alice", new[] { 1 })],
            plan.Select(d => (d.Profile, d.Owner, d.Generations.ToArray())));
    }

    [Fact]
    public void GenerationsToDelete_ChosenProfiles_OnlyThose()
    {
        var profiles = Host();

        Assert.Equal([Alice], GcPlanner.GenerationsToDelete(profiles, Options(GcMode.KeepLast, keep: 1, profiles: [Alice]), Now).Select(d => d.Profile));
        // In the host's order, whatever the request's; a profile with nothing to delete is left out.
        Assert.Equal(
            [System, Alice],
            GcPlanner.GenerationsToDelete(profiles, Options(GcMode.KeepLast, keep: 1, profiles: [Alice, Default, System]), Now).Select(d => d.Profile));
        // An unknown profile chooses nothing; it does not fall back to every profile.
        Assert.Empty(GcPlanner.GenerationsToDelete(profiles, Options(GcMode.KeepLast, keep: 1, profiles: ["/nix/var/nix/profiles/per-user/bob/profile"]), Now));
        Assert.Empty(GcPlanner.GenerationsToDelete(profiles, Options(GcMode.KeepLast, keep: 1, profiles: [Alice + "/"]), Now));
    }

    [Fact]
    public void GenerationsToDelete_ProfilePointingAtADeletedGeneration_KeepLastDeletesNothingThere()
    {
        var orphan = new ProfileGenerations(Default, "root",
            [Gen(2, Now.AddDays(-5), current: false, boot: false), Gen(1, Now.AddDays(-9), current: false, boot: false)]);

        Assert.Empty(GcPlanner.GenerationsToDelete([orphan], Options(GcMode.DeleteOld), Now));
        Assert.Empty(GcPlanner.GenerationsToDelete([orphan], Options(GcMode.KeepLast, keep: 1), Now));
    }

    [Fact]
    public void GenerationsToDelete_NoProfiles_IsEmpty() =>
        Assert.Empty(GcPlanner.GenerationsToDelete([], Options(GcMode.DeleteOld), Now));

    // ---- MissingProfiles ----

    [Fact]
    public void MissingProfiles_RequestedProfilesTheHostLacks_InRequestOrder()
    {
        var profiles = Host();

        Assert.Empty(GcPlanner.MissingProfiles(profiles, Options(GcMode.DeleteOld)));
        Assert.Empty(GcPlanner.MissingProfiles(profiles, Options(GcMode.DeleteOld, profiles: [Alice, Default, System])));
        Assert.Equal(
            ["/nix/var/nix/profiles/per-user/bob/profile", Alice + "/", "/nix/var/nix/profiles/System"],
            GcPlanner.MissingProfiles(profiles, Options(GcMode.DeleteOld,
                profiles: ["/nix/var/nix/profiles/per-user/bob/profile", Alice, Alice + "/", "/nix/var/nix/profiles/System"])));
        Assert.Equal([Alice], GcPlanner.MissingProfiles([], Options(GcMode.Plain, profiles: [Alice])));
    }

    // ---- ProfileDeletion.Links ----

    [Fact]
    public void Links_AreTheProfileNumberLinkPaths()
    {
        Assert.Equal(
            ["/nix/var/nix/profiles/system-1-link", "/nix/var/nix/profiles/system-12-link", "/nix/var/nix/profiles/system-1000-link"],
            new ProfileDeletion(System, "root", [1, 12, 1000]).Links);
        Assert.Empty(new ProfileDeletion(System, "root", []).Links);
    }

    // ---- WouldDie ----

    [Fact]
    public void WouldDie_DeadNowPlusWhatOnlyTheDeletedGenerationsKeep_SortedOnce()
    {
        const string a = "/nix/store/0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a";
        const string b = "/nix/store/1bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b";
        const string c = "/nix/store/2ccccccccccccccccccccccccccccccc-c";
        const string d = "/nix/store/3ddddddddddddddddddddddddddddddd-d";
        const string e = "/nix/store/4eeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-e";

        Assert.Equal([a, b, c, e], GcPlanner.WouldDie(deadNow: [c, a], closureOfDoomed: [e, b, d, b, a], closureOfRemainingRoots: [d]));
        Assert.Equal([c], GcPlanner.WouldDie([c], [b, d], [b, d, e]));
        Assert.Equal([b, d], GcPlanner.WouldDie([], [d, b], []));
        Assert.Empty(GcPlanner.WouldDie([], [], [a]));
    }

    [Fact]
    public void WouldDie_ComparesOrdinally()
    {
        const string lower = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello";
        const string upper = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-Hello";

        Assert.Equal([upper, lower], GcPlanner.WouldDie([lower, upper], [], []));
        Assert.Equal([lower], GcPlanner.WouldDie([], [lower, upper], [upper]));
    }

    private static GcOptions Options(string mode, int? days = null, int? keep = null, string[]? profiles = null) =>
        new(mode, days, keep, profiles ?? []);

    // A NixOS host: the system runs and boots 3; root's default profile has only its current
    // generation; alice rolled back to 2 of 3.
    private static List<ProfileGenerations> Host() =>
    [
        SystemProfile(runs: 3, boots: 3, (1, Now.AddDays(-30)), (2, Now.AddDays(-20)), (3, Now.AddDays(-10))),
        UserProfile(Default, "root", current: 1, (1, Now.AddDays(-50))),
        UserProfile(Alice, "alice", current: 2, (1, Now.AddDays(-3)), (2, Now.AddDays(-2)), (3, Now.AddDays(-1))),
    ];

    // Outside a system profile, what runs is what the profile points at.
    private static ProfileGenerations UserProfile(string path, string owner, int current, params (int Number, DateTimeOffset Date)[] generations) =>
        new(path, owner, generations.OrderByDescending(g => g.Number).Select(g => Gen(g.Number, g.Date, g.Number == current, g.Number == current)).ToList());

    private static ProfileGenerations SystemProfile(int runs, int boots, params (int Number, DateTimeOffset Date)[] generations) =>
        new(System, "root", generations.OrderByDescending(g => g.Number).Select(g => Gen(g.Number, g.Date, g.Number == runs, g.Number == boots)).ToList())
        {
            IsSystem = true,
        };

    private static Generation Gen(int number, DateTimeOffset date, bool current, bool boot) =>
        new(number, date, $"/nix/store/{number:D32}-generation-{number}", current, boot, NixosVersion: null, KernelVersion: null, HasSwitchToConfiguration: false);

    private static int[] Single(IReadOnlyList<ProfileDeletion> plan) => Assert.Single(plan).Generations.ToArray();
}
