using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

public class NixLocatorTests
{
    private static HostFacts Facts(string installType, string? owner, string? bin) => new(
        "Debian GNU/Linux", "12", false, "2.8.0", installType, owner, [], null, null, null, null, null, null, bin);

    [Fact]
    public void Command_SingleUserInstall_RunsAsTheStoreOwner() =>
        Assert.Equal(
            ["runuser", "-u", "alice", "--", "/home/alice/.nix-profile/bin/nix-env", "--rollback"],
            NixLocator.Command(Facts(NixInstallType.SingleUser, "alice", "/home/alice/.nix-profile/bin"), "root", "nix-env", "--rollback"));

    [Fact]
    public void Command_SingleUserInstall_ConnectedAsTheOwner_RunsDirectly() =>
        Assert.Equal(
            ["/home/alice/.nix-profile/bin/nix-env", "--list-generations"],
            NixLocator.Command(Facts(NixInstallType.SingleUser, "alice", "/home/alice/.nix-profile/bin"), "alice", "nix-env", "--list-generations"));

    [Fact]
    public void Command_MultiUserInstall_RunsAsTheSshUser() =>
        Assert.Equal(
            ["/nix/var/nix/profiles/default/bin/nix-collect-garbage", "-d"],
            NixLocator.Command(Facts(NixInstallType.MultiUser, "root", "/nix/var/nix/profiles/default/bin"), "root", "nix-collect-garbage", "-d"));

    [Fact]
    public void Command_NoNix_Throws() =>
        Assert.Throws<InvalidOperationException>(() =>
            NixLocator.Command(Facts(NixInstallType.None, null, null), "root", "nix-env", "--version"));

    [Theory]
    [InlineData("../bin/sh")]
    [InlineData("nix-env; reboot")]
    [InlineData("")]
    public void Command_ToolThatIsNotAName_IsRejected(string tool) =>
        Assert.Throws<ArgumentException>(() =>
            NixLocator.Command(Facts(NixInstallType.MultiUser, "root", "/usr/bin"), "root", tool));

    [Fact]
    public void BinDirectoryCandidates_AreTheOnesTheProbeSearches_InTheSameOrder()
    {
        var loop = FactsProbe.Script.Split('\n').Single(l => l.TrimStart().StartsWith("for d in ", StringComparison.Ordinal));
        var searched = loop.Trim()["for d in ".Length..^"; do".Length].Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(w => w.Trim('"').Replace("${owner_home:-/nonexistent}", "/home/alice"));

        Assert.Equal(NixLocator.BinDirectoryCandidates("/home/alice"), searched);
    }
}
