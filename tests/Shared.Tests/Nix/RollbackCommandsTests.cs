using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

public class RollbackCommandsTests
{
    private const string System = "/nix/var/nix/profiles/system";
    private const string Alice = "/nix/var/nix/profiles/per-user/alice/profile";
    private const string Path2 = "/nix/store/x7g0lgbkfyc77zccm1vz3f0nqwkkxz08-nixos-system-web1-24.05.1233.1ca62f3";

    private static readonly HostFacts SingleUser = Facts(NixInstallType.SingleUser, "alice", "/usr/bin");
    private static readonly HostFacts MultiUser = Facts(NixInstallType.MultiUser, "root", "/nix/var/nix/profiles/default/bin");

    [Fact]
    public void SwitchGeneration_IsNixEnvWithTheProfileAndTheNumber() =>
        Assert.Equal(["nix-env", "-p", System, "--switch-generation", "42"], RollbackCommands.SwitchGeneration(System, 42));

    [Fact]
    public void SetProfile_IsNixEnvSetWithTheStorePath() =>
        Assert.Equal(["nix-env", "-p", System, "--set", Path2], RollbackCommands.SetProfile(System, Path2));

    [Theory]
    [InlineData("+3")]
    [InlineData("30d")]
    [InlineData("+2147483647")]
    public void DeleteGenerations_ValidSpec_IsPassedAsOneArgument(string spec) =>
        Assert.Equal(["nix-env", "-p", Alice, "--delete-generations", spec], RollbackCommands.DeleteGenerations(Alice, spec));

    [Theory]
    [InlineData("")]
    [InlineData("old")]
    [InlineData("+0")]
    [InlineData("0d")]
    [InlineData("-3")]
    [InlineData("+-3")]
    [InlineData("3")]
    [InlineData("3 4")]
    [InlineData("+3 ")]
    [InlineData(" 3d")]
    [InlineData("3D")]
    [InlineData("3h")]
    [InlineData("+3;reboot")]
    [InlineData("99999d")]
    [InlineData("+99999999999")]
    [InlineData("+３")]
    public void DeleteGenerations_AnythingElse_IsRefused(string spec) =>
        Assert.Throws<ArgumentException>(() => RollbackCommands.DeleteGenerations(Alice, spec));

    [Fact]
    public void DeleteGenerationNumbers_ListsEachNumberOnceInOrder() =>
        Assert.Equal(
            ["nix-env", "-p", Alice, "--delete-generations", "1", "3", "4"],
            RollbackCommands.DeleteGenerationNumbers(Alice, [4, 1, 3, 1]));

    [Theory]
    [InlineData(new int[0])]
    [InlineData(new[] { 0 })]
    [InlineData(new[] { 2, -1 })]
    public void DeleteGenerationNumbers_NoneOrNotAGeneration_IsRefused(int[] numbers) =>
        Assert.ThrowsAny<ArgumentException>(() => RollbackCommands.DeleteGenerationNumbers(Alice, numbers));

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void SwitchGeneration_NotAGenerationNumber_IsRefused(int generation) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => RollbackCommands.SwitchGeneration(System, generation));

    [Theory]
    [InlineData("")]
    [InlineData("system")]
    [InlineData("-p")]
    [InlineData("/nix/var/nix/profiles/../../../etc/passwd")]
    [InlineData("/nix/var/nix/profiles/./system")]
    [InlineData("/nix/var/nix/profiles/system\n--delete-generations")]
    public void Commands_ProfileThatIsNotAnAbsolutePath_IsRefused(string profile)
    {
        Assert.Throws<ArgumentException>(() => RollbackCommands.SwitchGeneration(profile, 1));
        Assert.Throws<ArgumentException>(() => RollbackCommands.SetProfile(profile, Path2));
        Assert.Throws<ArgumentException>(() => RollbackCommands.ListGenerations(profile));
    }

    [Theory]
    [InlineData("/nix/store/x7g0lgbkfyc77zccm1vz3f0nqwkkxz08-nixos-system; reboot")]
    [InlineData("/tmp/x7g0lgbkfyc77zccm1vz3f0nqwkkxz08-nixos-system")]
    [InlineData("$(reboot)")]
    public void SetProfile_NotAStorePath_IsRefused(string path) =>
        Assert.Throws<ArgumentException>(() => RollbackCommands.SetProfile(System, path));

    [Fact]
    public void Commands_HostileButValidProfilePath_ReachesTheHostAsOneWord()
    {
        // A profile the host listed may have odd characters; quoting keeps it one argument.
        const string odd = "/home/o'brien/.local/state/nix/profiles/$(reboot)";
        var line = ShellQuote.Join(RollbackCommands.SwitchGeneration(odd, 2));

        Assert.Equal("nix-env -p '/home/o'\\''brien/.local/state/nix/profiles/$(reboot)' --switch-generation 2", line);
    }

    [Fact]
    public void DiffClosures_IsTheExperimentalNixCommand() =>
        Assert.Equal(
            ["nix", "--extra-experimental-features", "nix-command", "store", "diff-closures", Path2, Path2],
            RollbackCommands.DiffClosures(Path2, Path2));

    [Fact]
    public void ForHost_SingleUser_RunsAsTheStoreOwnerWithTheHostsNix() =>
        Assert.Equal(
            ["runuser", "-u", "alice", "--", "/usr/bin/nix-env", "-p", Alice, "--switch-generation", "2"],
            RollbackCommands.ForHost(SingleUser, "root", RollbackCommands.SwitchGeneration(Alice, 2), profileOwner: "alice"));

    [Fact]
    public void ForHost_SingleUserLoggedInAsTheOwner_RunsDirectly() =>
        Assert.Equal(
            ["/usr/bin/nix-env", "-p", Alice, "--switch-generation", "2"],
            RollbackCommands.ForHost(SingleUser, "alice", RollbackCommands.SwitchGeneration(Alice, 2), "alice"));

    [Fact]
    public void ForHost_MultiUserRootProfile_RunsAsRoot() =>
        Assert.Equal(
            ["/nix/var/nix/profiles/default/bin/nix-env", "-p", System, "--switch-generation", "2"],
            RollbackCommands.ForHost(MultiUser, "root", RollbackCommands.SwitchGeneration(System, 2), "root"));

    [Fact]
    public void ForHost_MultiUserProfileOfAUser_RunsAsThatUser() =>
        Assert.Equal(
            ["runuser", "-u", "alice", "--", "/nix/var/nix/profiles/default/bin/nix-env", "-p", Alice, "--switch-generation", "1"],
            RollbackCommands.ForHost(MultiUser, "root", RollbackCommands.SwitchGeneration(Alice, 1), "alice"));

    [Theory]
    [InlineData("root")]
    [InlineData("UNKNOWN")] // stat's word for an owner without a passwd entry
    [InlineData("")]
    [InlineData(null)]
    public void ForHost_MultiUserProfileOfNoUserToRunAs_RunsAsRoot(string? owner) =>
        Assert.Equal(
            ["/nix/var/nix/profiles/default/bin/nix-env", "-p", Alice, "--switch-generation", "1"],
            RollbackCommands.ForHost(MultiUser, "root", RollbackCommands.SwitchGeneration(Alice, 1), owner));

    [Theory]
    [InlineData("-x")]
    [InlineData("alice bob")]
    [InlineData("alice\n")]
    public void ForHost_OwnerThatIsNotAUserName_IsRefused(string owner) =>
        Assert.Throws<ArgumentException>(() =>
            RollbackCommands.ForHost(MultiUser, "root", RollbackCommands.SwitchGeneration(Alice, 1), owner));

    [Fact]
    public void ForHost_NoNix_IsRefused() =>
        Assert.Throws<InvalidOperationException>(() => RollbackCommands.ForHost(
            Facts(NixInstallType.None, null, null), "root", RollbackCommands.SwitchGeneration(System, 1)));

    private static HostFacts Facts(string installType, string? owner, string? bin) =>
        new("Debian GNU/Linux", "12", false, "2.8.0", installType, owner, [], null, null, null, null, null, null, bin);
}
