using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>The parser on hand-written probe output: edge cases the recorded fixtures don't have.</summary>
public class FactsParserTests
{
    private static string Output(params (string Header, string Body)[] sections) =>
        string.Concat(sections.Select(s =>
            "\n@@" + s.Header + "\n" + string.Concat(s.Body.Split('\n').Select(l => "|" + l + "\n"))));

    [Fact]
    public void Parse_NixOS_UsesTheSystemProfile()
    {
        var facts = FactsParser.Parse(Output(
            ("os-release", "NAME=NixOS\nID=nixos\nVERSION_ID=\"24.05\""),
            ("nixos-marker", "yes"),
            ("store", "root nixbld 1775"),
            ("daemon-socket", "yes"),
            ("nix-bin", "/run/current-system/sw/bin"),
            ("nix-version", "nix-env (Nix) 2.18.1"),
            ("current-system", "/nix/store/abc-nixos-system-host-24.05"),
            ("generation system", "/nix/var/nix/profiles/system\nsystem-42-link"),
            ("generation default", "/nix/var/nix/profiles/default\ndefault-3-link"),
            ("channels root", "nixos https://nixos.org/channels/nixos-24.05")));

        Assert.True(facts.IsNixOS);
        Assert.Equal(("NixOS", "24.05"), (facts.Os, facts.OsVersion));
        Assert.Equal(NixInstallType.MultiUser, facts.InstallType);
        Assert.Equal(42, facts.CurrentGeneration);
        Assert.Equal("/nix/var/nix/profiles/system", facts.CurrentGenerationProfile);
        Assert.Equal("/nix/store/abc-nixos-system-host-24.05", facts.CurrentSystemPath);
        Assert.Equal([new ChannelFact("root", "nixos", "https://nixos.org/channels/nixos-24.05")], facts.Channels);
    }

    [Fact]
    public void Parse_SingleUser_UsesTheOwnersProfileAndChannels()
    {
        var facts = FactsParser.Parse(Output(
            ("os-release", "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\""),
            ("nixos-marker", "no"),
            ("store", "alice alice 755"),
            ("daemon-socket", "no"),
            ("nix-bin", "/home/alice/.nix-profile/bin"),
            ("nix-version", "nix-env (Nix) 2.8.0"),
            ("generation default", ""),
            ("generation owner", "/nix/var/nix/profiles/per-user/alice/profile\nprofile-7-link"),
            ("store-size", "123456789\t/nix/store"),
            ("disk-free", "      Avail\n84058288128"),
            ("kernel", "6.1.0-13-amd64"),
            ("channels alice", "nixpkgs https://nixos.org/channels/nixpkgs-unstable")));

        Assert.Equal(
            new HostFacts("Debian GNU/Linux", "12", false, "2.8.0", NixInstallType.SingleUser, "alice",
                facts.Channels, 7, "/nix/var/nix/profiles/per-user/alice/profile", null,
                123456789, 84058288128, "6.1.0-13-amd64", "/home/alice/.nix-profile/bin"),
            facts);
        Assert.Equal([new ChannelFact("alice", "nixpkgs", "https://nixos.org/channels/nixpkgs-unstable")], facts.Channels);
    }

    [Fact]
    public void Parse_EmptyOutput_GivesNoInstallAndNoValues()
    {
        var facts = FactsParser.Parse("");

        Assert.Equal(
            new HostFacts("Linux", "", false, null, NixInstallType.None, null, facts.Channels,
                null, null, null, null, null, null, null),
            facts);
        Assert.Empty(facts.Channels);
    }

    [Fact]
    public void Parse_ContentThatLooksLikeAHeader_CannotForgeASection()
    {
        // A user's channel file can say anything; the probe prefixes content with "|".
        var facts = FactsParser.Parse(Output(
            ("store", "root nixbld 1775"),
            ("nix-bin", "/usr/bin"),
            ("channels mallory", "@@kernel 0.0-forged\n@@channels root\nevil https://evil.example")));

        Assert.Null(facts.KernelVersion);
        Assert.DoesNotContain(facts.Channels, c => c.User == "root");
    }

    [Fact]
    public void Parse_RepeatedSection_FirstOneWins() =>
        Assert.Equal("6.1.0", FactsParser.Parse(Output(("kernel", "6.1.0"), ("kernel", "9.9.9"))).KernelVersion);

    [Fact]
    public void Parse_UnreadableGenerationLink_GivesNoGeneration()
    {
        var facts = FactsParser.Parse(Output(
            ("store", "root nixbld 1775"),
            ("nix-bin", "/usr/bin"),
            ("generation default", "/nix/var/nix/profiles/default\nnot-a-generation")));

        Assert.Null(facts.CurrentGeneration);
        Assert.Null(facts.CurrentGenerationProfile);
    }

    [Theory]
    [InlineData(false, true, "root", false, false, NixInstallType.None)]
    [InlineData(true, false, "root", true, true, NixInstallType.None)]
    [InlineData(true, true, "root", false, false, NixInstallType.MultiUser)]
    [InlineData(true, true, "root", true, true, NixInstallType.MultiUser)]
    [InlineData(true, true, "alice", false, false, NixInstallType.SingleUser)]
    [InlineData(true, true, "alice", true, false, NixInstallType.SingleUser)]
    [InlineData(true, true, null, true, false, NixInstallType.MultiUser)]
    [InlineData(true, true, null, false, true, NixInstallType.MultiUser)]
    [InlineData(true, true, null, false, false, NixInstallType.SingleUser)]
    public void ClassifyInstall_FollowsStoreOwnership(
        bool hasStore, bool hasNix, string? owner, bool socket, bool buildUsersGroup, string expected) =>
        Assert.Equal(expected, FactsParser.ClassifyInstall(hasStore, hasNix, owner, socket, buildUsersGroup));

    [Fact]
    public void ParseOsRelease_RemovesShellQuoting()
    {
        var values = FactsParser.ParseOsRelease("NAME=\"Debian GNU/Linux\"\nID=debian\n# comment\nPRETTY_NAME='It''s'\nX=\"a \\\"b\\\" \\$c\"");

        Assert.Equal("Debian GNU/Linux", values["NAME"]);
        Assert.Equal("debian", values["ID"]);
        Assert.Equal("a \"b\" $c", values["X"]);
    }

    [Fact]
    public void ParseNixConf_ReadsSettingsAndIgnoresComments()
    {
        var values = FactsParser.ParseNixConf("# see manual\nbuild-users-group = nixbld # the group\nsandbox = false\n");

        Assert.Equal("nixbld", values["build-users-group"]);
        Assert.Equal("false", values["sandbox"]);
    }
}
