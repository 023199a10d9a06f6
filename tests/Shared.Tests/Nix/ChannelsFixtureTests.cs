using System.Globalization;
using System.Text.RegularExpressions;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>
/// The channels parser on the probe's real output from test hosts, against what each host said
/// itself right after (nix-channel --list as the user, readlink and stat of the channels profile,
/// the version files of each channel). See Fixtures/channels/README.md for the state the hosts were in.
/// </summary>
public partial class ChannelsFixtureTests
{
    public static TheoryData<string, string> Fixtures() => new()
    {
        { "root", "nixos" },
        { "alice", "nixos" },
        { "alice", "single" },
        { "root", "multi" },
        { "alice", "multi" },
    };

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Parse_RecordedProbe_AgreesWithNixChannelListAndTheProfileOnTheHost(string user, string kind)
    {
        var report = ChannelsParser.Parse(Fixture($"{user}.{kind}.txt"));
        var host = HostView.Parse(Fixture($"{user}.{kind}.host.txt"));

        Assert.Equal(user, report.User);
        // nix-channel --list: "NAME URL", by name.
        Assert.Equal(
            host.Listed,
            report.Channels.Where(c => c.Url.Length > 0).Select(c => (c.Name, c.Url)));
        Assert.Equal(host.CurrentGeneration, report.ProfileGeneration);
        Assert.Equal(host.Links.Keys.Order(), report.Generations);
        Assert.Equal(
            host.CurrentGeneration is { } current ? DateTimeOffset.FromUnixTimeSeconds(host.Links[current].Mtime) : null,
            report.UpdatedAt);
        Assert.Equal(host.DefExpr, report.DefExprChannels);
        Assert.Equal($"/nix/var/nix/profiles/per-user/{user}/channels", report.Profile);
        Assert.Equal(host.Files.Contains(".nix-channels"), report.ChannelsFilePresent);
        Assert.Equal(host.Files.Any(f => f.StartsWith(".nix-channels.nixfleet-", StringComparison.Ordinal)), report.HasBackup);

        // Every channel of the current generation, with the version and revision its files hold.
        Assert.Equal(
            host.Installed.OrderBy(i => i.Name, StringComparer.Ordinal),
            report.Channels.Where(c => c.StorePath is not null)
                .Select(c => (c.Name, c.StorePath!, c.Version ?? "", c.Revision ?? ""))
                .OrderBy(c => c.Name, StringComparer.Ordinal));
    }

    [Fact]
    public void Parse_NixosRoot_ShowsTheServedReleaseAndAChannelAddedButNeverUpdated()
    {
        var report = ChannelsParser.Parse(Fixture("root.nixos.txt"));

        Assert.Equal(2, report.ProfileGeneration);
        Assert.Equal([1, 2], report.Generations);
        var (extras, nixos) = (report.Channels[0], report.Channels[1]);
        Assert.Equal("extras", extras.Name);
        Assert.EndsWith("/nixpkgs-old", extras.Url, StringComparison.Ordinal);
        Assert.Null(extras.Version);
        Assert.Null(extras.StorePath);
        Assert.Equal("nixos", nixos.Name);
        Assert.Matches(@"^http://127\.0\.0\.1:\d+/nixos-24\.11$", nixos.Url);
        Assert.Equal("24.11.710315.b681065d0919", nixos.Version);
        Assert.Equal("b681065d0919e1f3d3c0b6b1c5d2f9e8a7c6b5a4", nixos.Revision);
        Assert.Matches(@"^/nix/store/[0-9a-z]{32}-nixos-24\.11/nixos$", nixos.StorePath);
        Assert.False(report.HasBackup);
    }

    [Fact]
    public void Parse_UserWithoutChannels_HasNoChannelsNoProfileAndNoFile()
    {
        var report = ChannelsParser.Parse(Fixture("alice.nixos.txt"));

        Assert.Equal("alice", report.User);
        Assert.Empty(report.Channels);
        Assert.Null(report.ProfileGeneration);
        Assert.Null(report.UpdatedAt);
        Assert.Empty(report.Generations);
        Assert.False(report.ChannelsFilePresent);
        // nix-env made ~/.nix-defexpr/channels when the fleet installed alice's packages.
        Assert.Equal("/nix/var/nix/profiles/per-user/alice/channels", report.DefExprChannels);
    }

    [Fact]
    public void Parse_UnfinishedChange_ShowsTheBackupAndTheFileAheadOfTheProfile()
    {
        // alice on the multi host: BackupScript ran, then --add of a URL that 404s, and no restore.
        var report = ChannelsParser.Parse(Fixture("alice.multi.txt"));

        Assert.True(report.HasBackup);
        var nixpkgs = Assert.Single(report.Channels);
        Assert.EndsWith("/missing", nixpkgs.Url, StringComparison.Ordinal);
        Assert.Equal("24.11pre712345.5f4e3d2c1b0a", nixpkgs.Version);
    }

    [Theory]
    [InlineData("html", "failed to open archive: Unrecognized archive format")]
    [InlineData("truncated", "failed to open archive: Lzma library error:  No progress is possible")]
    [InlineData("missing", "unable to download 'http://127.0.0.1:PORT/missing': HTTP error 404 ('Not Found')")]
    public void ErrorMessage_RecordedFailedUpdate_IsNixsFirstError(string channel, string expected)
    {
        var stderr = Fixture($"update-{channel}.nixos.err.txt");

        Assert.Equal(expected, PortPattern().Replace(ChannelsParser.ErrorMessage(stderr)!, "127.0.0.1:PORT"));
    }

    [Theory]
    [InlineData("root.nixos.txt")]
    [InlineData("alice.nixos.txt")]
    [InlineData("alice.single.txt")]
    [InlineData("root.multi.txt")]
    [InlineData("alice.multi.txt")]
    public void Fixture_HasEverySectionTheCurrentScriptPrints(string file)
    {
        // When this fails the script changed: recapture the fixtures (Fixtures/channels/README.md).
        var printed = SectionCall().Matches(ChannelsProbe.Script).Select(m => m.Groups[1].Value).ToHashSet();
        var recorded = FactsParser.ReadSections(Fixture(file)).Select(s => s.Name).ToHashSet();
        // A channel section appears only for a channel in the profile.
        printed.Remove("channel");
        Assert.Subset(recorded, printed);
    }

    private static string Fixture(string name) => File.ReadAllText(TestContext.FixturePath("channels", name));

    [GeneratedRegex(@"section '?([a-z-]+)")]
    private static partial Regex SectionCall();

    [GeneratedRegex(@"127\.0\.0\.1:\d+")]
    private static partial Regex PortPattern();

    /// <summary>The host's own view written by capture.sh: "@@list", "@@readlink", "@@links", "@@defexpr", "@@channels", "@@files".</summary>
    private sealed record HostView(
        List<(string Name, string Url)> Listed,
        string? ProfileLink,
        Dictionary<int, (long Mtime, string Target)> Links,
        string? DefExpr,
        List<(string Name, string Path, string Version, string Revision)> Installed,
        List<string> Files)
    {
        public int? CurrentGeneration => ProfileLink is { } link ? Generation(link) : null;

        private static int Generation(string link) => int.Parse(link["channels-".Length..^"-link".Length], CultureInfo.InvariantCulture);

        public static HostView Parse(string text)
        {
            var view = new HostView([], null, [], null, [], []);
            var section = "";
            foreach (var line in text.Split('\n').Where(l => l.Length > 0))
            {
                if (line.StartsWith("@@", StringComparison.Ordinal))
                {
                    section = line[2..];
                    continue;
                }

                var fields = line.Split(' ');
                switch (section)
                {
                    case "list":
                        view.Listed.Add((fields[0], fields[1]));
                        break;
                    case "readlink":
                        view = view with { ProfileLink = line };
                        break;
                    case "links":
                        view.Links.Add(Generation(fields[0]),
                            (long.Parse(fields[1], CultureInfo.InvariantCulture), fields[2]));
                        break;
                    case "defexpr":
                        view = view with { DefExpr = line };
                        break;
                    case "channels":
                        view.Installed.Add((fields[0], fields[1], fields[2], fields.Length > 3 ? fields[3] : ""));
                        break;
                    case "files":
                        view.Files.Add(line);
                        break;
                }
            }

            return view;
        }
    }
}
