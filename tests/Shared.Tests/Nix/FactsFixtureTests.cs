using System.Text.RegularExpressions;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>
/// The parser on the probe's real output from each kind of test host (tests/fleet), against what
/// each host said about itself through direct commands (stat, readlink, nix-env --version,
/// nix-channel --list as the right user, du, df, uname) at capture time. See Fixtures/facts/README.md.
/// </summary>
public partial class FactsFixtureTests
{
    // Disk free and size are the values the probe recorded (it moves by the second); everything else was
    // checked against the host's own answers printed by Fixtures/facts/capture.sh.
    private const string Kernel = "6.18.44-fc-v657";
    private const string NixpkgsChannel = "file:///etc/nixfleet-test/channels/nixpkgs.tar.xz";

    public static TheoryData<string, HostFacts> Hosts() => new()
    {
        {
            "single",
            new HostFacts("Debian GNU/Linux", "12", false, "2.8.0", NixInstallType.SingleUser, "alice",
                [new ChannelFact("alice", "nixpkgs", NixpkgsChannel)],
                3, "/nix/var/nix/profiles/per-user/alice/profile", null,
                1179155, 81343811584, Kernel, "/usr/bin", 270553174016)
        },
        {
            "systemd",
            new HostFacts("Debian GNU/Linux", "12", false, "2.8.0", NixInstallType.SingleUser, "alice",
                [new ChannelFact("alice", "nixpkgs", NixpkgsChannel)],
                3, "/nix/var/nix/profiles/per-user/alice/profile", null,
                1179155, 81343811584, Kernel, "/usr/bin", 270553174016)
        },
        {
            "multi",
            new HostFacts("Debian GNU/Linux", "12", false, "2.8.0", NixInstallType.MultiUser, "root",
                [new ChannelFact("root", "nixpkgs", NixpkgsChannel)],
                2, "/nix/var/nix/profiles/default", null,
                1139449, 81343811584, Kernel, "/usr/bin", 270553174016)
        },
        {
            "builder",
            new HostFacts("Debian GNU/Linux", "12", false, "2.8.0", NixInstallType.MultiUser, "root",
                [new ChannelFact("root", "nixpkgs", NixpkgsChannel)],
                2, "/nix/var/nix/profiles/default", null,
                1139449, 81343811584, Kernel, "/usr/bin", 270553174016)
        },
        {
            "nixos",
            new HostFacts("NixOS", "24.05", true, "2.8.0", NixInstallType.MultiUser, "root",
                [new ChannelFact("root", "nixos", "file:///etc/nixfleet-test/channels/nixos.tar.xz")],
                3, "/nix/var/nix/profiles/system",
                "/nix/store/2n8q0vhvdlm0sijl0yskzjb806k00zkv-nixos-system-nixos1-24.05.1234.abcdef0",
                1277004, 81343811584, Kernel, "/usr/bin", 270553174016)
        },
    };

    [Theory]
    [MemberData(nameof(Hosts))]
    public void Parse_RecordedHostOutput_GivesWhatTheHostSaysAboutItself(string kind, HostFacts expected)
    {
        var facts = FactsParser.Parse(File.ReadAllText(TestContext.FixturePath("facts", kind + ".txt")));

        // Records compare lists by reference: compare the channels apart.
        Assert.Equal(expected.Channels, facts.Channels);
        Assert.Equal(expected with { Channels = [] }, facts with { Channels = [] });
    }

    [Theory]
    [InlineData("single")]
    [InlineData("systemd")]
    [InlineData("multi")]
    [InlineData("builder")]
    [InlineData("nixos")]
    public void Fixture_HasEverySectionTheCurrentScriptPrints(string kind)
    {
        // When this fails the script changed: recapture the fixtures (Fixtures/facts/README.md).
        var printed = SectionCall().Matches(FactsProbe.Script).Select(m => m.Groups[1].Value).ToHashSet();
        var recorded = FactsParser.ReadSections(File.ReadAllText(TestContext.FixturePath("facts", kind + ".txt")))
            .Select(s => s.Name).ToHashSet();

        Assert.Equal(printed.Order(), recorded.Order());
    }

    [GeneratedRegex(@"^\s*section ['""]?([a-z-]+)", RegexOptions.Multiline)]
    private static partial Regex SectionCall();
}
