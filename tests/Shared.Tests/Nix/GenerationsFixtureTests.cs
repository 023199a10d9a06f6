using System.Globalization;
using System.Text.RegularExpressions;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>
/// The parser on the generations probe's real output from test hosts, against what each host said
/// itself at capture time (nix-env --list-generations per profile, readlink). See
/// Fixtures/generations/README.md for the state the hosts were in.
/// </summary>
public partial class GenerationsFixtureTests
{
    private const string SystemProfile = "/nix/var/nix/profiles/system";
    private const string AliceProfile = "/nix/var/nix/profiles/per-user/alice/profile";

    public static TheoryData<string, string[]> Kinds() => new()
    {
        {
            "nixos",
            [SystemProfile, "/nix/var/nix/profiles/system-profiles/web", "/nix/var/nix/profiles/default",
                "/nix/var/nix/profiles/per-user/alice/dev", AliceProfile]
        },
        { "single", [AliceProfile, "/home/alice/.local/state/nix/profiles/tools"] },
        { "multi", ["/nix/var/nix/profiles/default", AliceProfile] },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Parse_RecordedProbe_ListsTheProfilesThatMatterInOrder(string kind, string[] expected)
    {
        var profiles = GenerationsParser.Parse(Fixture(kind + ".txt"));

        Assert.Equal(expected, profiles.Select(p => p.Profile));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Parse_RecordedProbe_AgreesWithNixEnvListGenerationsAndReadlinkOnTheHost(string kind, string[] _)
    {
        var report = GenerationsParser.ParseReport(Fixture(kind + ".txt"));
        var host = HostView.Parse(Fixture(kind + ".host.txt"));

        Assert.Equal(host.CurrentSystem, report.CurrentSystem);
        foreach (var profile in report.Profiles)
        {
            var seen = host.Profiles[profile.Profile];
            // The one generation link the probe skips on purpose: its target holds a newline.
            var listed = seen.Listed.Where(l => !(profile.Profile.EndsWith("/alice/dev", StringComparison.Ordinal) && l.Number == 7)).ToList();

            Assert.Equal(seen.Owner, profile.Owner);
            Assert.Equal(listed.Select(l => l.Number).OrderDescending(), profile.Generations.Select(g => g.Number));
            Assert.Equal(
                listed.Select(l => (l.Number, new DateTimeOffset(l.Date, host.Offset))).OrderByDescending(l => l.Number),
                profile.Generations.Select(g => (g.Number, g.Date)));
            Assert.Equal(listed.Single(l => l.Current).Number, profile.BootDefault?.Number);
            Assert.Equal(seen.Readlink, $"{profile.Profile[(profile.Profile.LastIndexOf('/') + 1)..]}-{profile.BootDefault?.Number}-link");
            if (!profile.IsSystem)
            {
                Assert.Equal(profile.BootDefault, profile.Current);
            }
        }
    }

    [Theory]
    [InlineData("nixos")]
    [InlineData("single")]
    [InlineData("multi")]
    public void Fixture_HasEverySectionTheCurrentScriptPrints(string kind)
    {
        // When this fails the script changed: recapture the fixtures (Fixtures/generations/README.md).
        var printed = SectionCall().Matches(GenerationsProbe.Script).Select(m => m.Groups[1].Value).ToHashSet();
        var recorded = FactsParser.ReadSections(Fixture(kind + ".txt")).Select(s => s.Name).ToHashSet();

        Assert.Equal(printed.Order(), recorded.Order());
    }

    [Fact]
    public void Parse_NixosStandIn_SystemGenerationsSayWhatRunsWhatBootsAndWhatTheyAre()
    {
        var report = GenerationsParser.ParseReport(Fixture("nixos.txt"));
        var host = HostView.Parse(Fixture("nixos.host.txt"));
        var system = report.Profiles[0];

        Assert.True(system.IsSystem);
        Assert.Equal("root", system.Owner);
        Assert.Equal((1, 3), (system.Current?.Number, system.BootDefault?.Number)); // switch-to-configuration test ran generation 1
        Assert.Equal(2, system.Previous?.Number);
        Assert.Equal(host.CurrentSystem, system.Current?.StorePath);
        Assert.Equal(report.BootedSystem, system.Find(3)?.StorePath);
        foreach (var generation in system.Generations)
        {
            var seen = host.Systems[$"{SystemProfile}-{generation.Number}-link"];
            Assert.Equal(seen["nixos-version"], generation.NixosVersion);
            Assert.Equal($"6.6.{29 + generation.Number}", generation.KernelVersion); // system.nix: 6.6.(29 + N)
            Assert.Equal(GenerationsParser.KernelVersionFromPath(seen["kernel"]), generation.KernelVersion);
            Assert.Equal(seen["switch-to-configuration"] == "yes", generation.HasSwitchToConfiguration);
        }

        var web = report.Profiles[1];
        Assert.True(web.IsSystem);
        Assert.Equal(system.Find(2)?.StorePath, web.Generations.Single().StorePath);
        Assert.False(web.Generations.Single().Current); // generation 1 runs, not web's
        Assert.All(report.Profiles.Skip(2), p => Assert.False(p.IsSystem));
        Assert.All(report.Profiles.Skip(2).SelectMany(p => p.Generations),
            g => Assert.Equal((null, null, false), (g.NixosVersion, g.KernelVersion, g.HasSwitchToConfiguration)));
    }

    [Fact]
    public void Parse_SingleUserHost_RolledBackProfileWithADeletedGeneration()
    {
        var alice = GenerationsParser.Parse(Fixture("single.txt"))[0];

        Assert.Equal([7, 6, 5, 4, 3, 2], alice.Generations.Select(g => g.Number));
        Assert.Equal("alice", alice.Owner);
        Assert.Equal((5, 5), (alice.Current?.Number, alice.BootDefault?.Number));
        Assert.Equal(4, alice.Previous?.Number);
        Assert.Null(alice.Find(1));
    }

    [Fact]
    public void ParseListGenerations_RecordedOutput_ReadsNumberDateAndCurrent()
    {
        var listed = GenerationsParser.ParseListGenerations(
            File.ReadAllText(TestContext.FixturePath("nix-2.8", "nix-env-list-generations.alice.single.out.txt")));

        Assert.Equal(
            [
                new ListedGeneration(1, new DateTime(2026, 11, 23, 13, 44, 8), false),
                new ListedGeneration(2, new DateTime(2026, 11, 23, 13, 44, 8), false),
                new ListedGeneration(3, new DateTime(2026, 11, 23, 13, 44, 8), true),
            ],
            listed);
    }

    [GeneratedRegex(@"^\s*section ([a-z-]+)", RegexOptions.Multiline)]
    private static partial Regex SectionCall();

    private static string Fixture(string name) => File.ReadAllText(TestContext.FixturePath("generations", name));

    /// <summary>The host's own view, as capture.sh wrote it (KIND.host.txt).</summary>
    private sealed record HostView(
        TimeSpan Offset,
        string? CurrentSystem,
        Dictionary<string, (string Owner, string Readlink, IReadOnlyList<ListedGeneration> Listed)> Profiles,
        Dictionary<string, Dictionary<string, string>> Systems)
    {
        public static HostView Parse(string text)
        {
            var blocks = new List<(string Header, List<string> Lines)>();
            foreach (var line in text.Split('\n'))
            {
                if (line.StartsWith("@@", StringComparison.Ordinal))
                {
                    blocks.Add((line[2..], []));
                }
                else if (blocks.Count > 0)
                {
                    blocks[^1].Lines.Add(line);
                }
            }

            var offset = blocks.Single(b => b.Header == "date").Lines[0].Trim();
            var profiles = new Dictionary<string, (string, string, IReadOnlyList<ListedGeneration>)>();
            var systems = new Dictionary<string, Dictionary<string, string>>();
            foreach (var (header, lines) in blocks)
            {
                var values = lines.Where(l => l.Contains(' ') && !l.StartsWith(' '))
                    .Select(l => l.Split(' ', 2)).ToDictionary(kv => kv[0], kv => kv[1]);
                if (header.StartsWith("profile ", StringComparison.Ordinal))
                {
                    profiles[header["profile ".Length..]] =
                        (values["owner"], values["readlink"], GenerationsParser.ParseListGenerations(string.Join('\n', lines)));
                }
                else if (header.StartsWith("system ", StringComparison.Ordinal))
                {
                    systems[header["system ".Length..]] = values;
                }
            }

            return new HostView(
                TimeSpan.ParseExact(offset.TrimStart('+', '-'), "hhmm", CultureInfo.InvariantCulture) * (offset[0] == '-' ? -1 : 1),
                blocks.Single(b => b.Header == "current-system").Lines.FirstOrDefault(l => l.Length > 0),
                profiles,
                systems);
        }
    }
}
