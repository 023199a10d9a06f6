using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

public class GenerationsParserTests
{
    private const string Sys1 = "/nix/store/w58qw2akp5b5y1b8k8sfswpdybxahhmb-nixos-system-web1-24.05.1232.8ea141a";
    private const string Sys2 = "/nix/store/x7g0lgbkfyc77zccm1vz3f0nqwkkxz08-nixos-system-web1-24.05.1233.1ca62f3";
    private const string Env1 = "/nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-user-environment";

    [Fact]
    public void Parse_RealNixosLayout_TakesTheKernelVersionFromTheKernelLinkWhenThereIsNoKernelVersionFile()
    {
        var output = $"""
            @@current-system
            |{Sys2}

            @@profile
            |path /nix/var/nix/profiles/system
            |owner root
            |points system-2-link
            |system yes
            |generation 1 1716000000 {Sys1}
            |nixos-version 1 24.05.1232.8ea141a
            |kernel 1 /nix/store/1yi8glwrp7hi0crwfmk75r8yc1ngx538-linux-6.6.30/bzImage
            |switch-to-configuration 1 yes
            |generation 2 1716100000 {Sys2}
            |nixos-version 2 24.05.1233.1ca62f3
            |kernel 2 /nix/store/m5hzi20pkd386d4xcjy20lmnrnk3kwdn-linux-6.8.9-zen1/Image
            |switch-to-configuration 2 no
            """;

        var system = GenerationsParser.Parse(output).Single();

        Assert.Equal(
            [
                new Generation(2, DateTimeOffset.FromUnixTimeSeconds(1716100000), Sys2, true, true, "24.05.1233.1ca62f3", "6.8.9-zen1", false),
                new Generation(1, DateTimeOffset.FromUnixTimeSeconds(1716000000), Sys1, false, false, "24.05.1232.8ea141a", "6.6.30", true),
            ],
            system.Generations);
    }

    [Theory]
    [InlineData("/nix/store/1yi8glwrp7hi0crwfmk75r8yc1ngx538-linux-6.6.30/bzImage", "6.6.30")]
    [InlineData("/nix/store/1yi8glwrp7hi0crwfmk75r8yc1ngx538-linux-6.1.90-hardened1/bzImage", "6.1.90-hardened1")]
    [InlineData("/nix/store/1yi8glwrp7hi0crwfmk75r8yc1ngx538-linux-rpi-6.1.63-stable_20231123/Image", "6.1.63-stable_20231123")]
    [InlineData("/nix/store/1yi8glwrp7hi0crwfmk75r8yc1ngx538-linux-6.6.30", "6.6.30")]
    [InlineData("/nix/store/1yi8glwrp7hi0crwfmk75r8yc1ngx538-my-kernel-image/bzImage", null)]
    [InlineData("/boot/vmlinuz-6.6.30", null)]
    [InlineData("", null)]
    [InlineData(null, null)]
    public void KernelVersionFromPath_ReadsTheVersionInTheKernelsStoreName(string? link, string? expected) =>
        Assert.Equal(expected, GenerationsParser.KernelVersionFromPath(link));

    [Fact]
    public void Parse_SystemProfileWithNoCurrentSystem_HasNoCurrentGeneration()
    {
        var output = $"""
            @@current-system

            @@profile
            |path /nix/var/nix/profiles/system
            |owner root
            |points system-1-link
            |system yes
            |generation 1 1716000000 {Sys1}
            """;

        var system = GenerationsParser.Parse(output).Single();

        Assert.Null(system.Current);
        Assert.Equal(1, system.BootDefault?.Number);
        Assert.Null(system.Generations[0].NixosVersion); // no nixos-version file
        Assert.False(system.Generations[0].HasSwitchToConfiguration);
    }

    [Fact]
    public void Parse_ProfilePointingAtAMissingGeneration_HasNoBootDefaultAndNoPrevious()
    {
        var output = $"""
            @@profile
            |path /nix/var/nix/profiles/default
            |owner root
            |points default-9-link
            |system no
            |generation 1 1716000000 {Env1}
            """;

        var profile = GenerationsParser.Parse(output).Single();

        Assert.Null(profile.BootDefault);
        Assert.Null(profile.Current);
        Assert.Null(profile.Previous);
    }

    [Theory]
    [InlineData("|generation 2 1716000000 /nix/store/short-user-environment")]
    [InlineData("|generation 2 1716000000 /tmp/evil")]
    [InlineData("|generation -2 1716000000 /nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-user-environment")]
    [InlineData("|generation 99999999999 1716000000 /nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-user-environment")]
    [InlineData("|generation 2 99999999999999 /nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-user-environment")]
    [InlineData("|generation 2 1716000000 /nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-user-environment extra")]
    [InlineData("|generation two 1716000000 /nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-user-environment")]
    [InlineData("generation 2 1716000000 /nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-user-environment")]
    public void Parse_MalformedGenerationLine_IsLeftOut(string line)
    {
        var output = $"""
            @@profile
            |path /nix/var/nix/profiles/default
            |owner root
            |points default-1-link
            |system no
            |generation 1 1716000000 {Env1}
            {line}
            """;

        Assert.Equal([1], GenerationsParser.Parse(output).Single().Generations.Select(g => g.Number));
    }

    [Fact]
    public void Parse_ABodyLineThatLooksLikeAHeader_StaysInItsSection()
    {
        // A user's link target cannot start a section: every body line carries "|".
        var output = $"""
            @@profile
            |path /nix/var/nix/profiles/per-user/alice/profile
            |owner alice
            |points profile-1-link
            |system no
            |generation 1 1716000000 {Env1}
            |@@profile
            |path /nix/var/nix/profiles/system
            |system yes
            """;

        var profile = GenerationsParser.Parse(output).Single();

        Assert.Equal(("/nix/var/nix/profiles/per-user/alice/profile", false), (profile.Profile, profile.IsSystem));
    }

    [Fact]
    public void Parse_SameProfileTwice_KeepsTheFirst()
    {
        var section = $"""
            @@profile
            |path /nix/var/nix/profiles/default
            |owner root
            |points default-1-link
            |system no
            |generation 1 1716000000 {Env1}

            """;

        Assert.Single(GenerationsParser.Parse(section + section));
    }

    [Theory]
    [InlineData("")]
    [InlineData("@@probe-user\n|root\n")]
    [InlineData("@@profile\n|owner root\n|points default-1-link\n")]
    [InlineData("@@profile\n|path relative/profile\n")]
    public void Parse_NoUsableProfile_IsEmpty(string output) =>
        Assert.Empty(GenerationsParser.Parse(output));

    [Theory]
    [InlineData("other-1-link")]
    [InlineData("profile-link")]
    [InlineData("profile--link")]
    [InlineData("profile-1")]
    [InlineData("profile-x-link")]
    [InlineData("")]
    public void Parse_PointsAtSomethingThatIsNotOneOfItsGenerations_HasNoBootDefault(string points)
    {
        var output = $"""
            @@profile
            |path /nix/var/nix/profiles/per-user/alice/profile
            |owner alice
            |points {points}
            |system no
            |generation 1 1716000000 {Env1}
            """;

        Assert.Null(GenerationsParser.Parse(output).Single().BootDefault);
    }

    [Theory]
    [InlineData("   1   2026-11-23 13:44:08   \n   2   2026-11-23 13:44:09   (current)\n", new[] { 1, 2 }, 2)]
    [InlineData("  12   2024-01-02 03:04:05   (current)", new[] { 12 }, 12)]
    [InlineData("", new int[0], null)]
    [InlineData("error: no generations\n   x   2026-11-23 13:44:08\n", new int[0], null)]
    public void ParseListGenerations_ReadsEachLine(string output, int[] numbers, int? current)
    {
        var listed = GenerationsParser.ParseListGenerations(output);

        Assert.Equal(numbers, listed.Select(l => l.Number));
        Assert.Equal(current, listed.SingleOrDefault(l => l.Current)?.Number);
    }

    [Theory]
    [InlineData("/nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-user-environment", true)]
    [InlineData("/nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-a+b_c.d?e=f", true)]
    [InlineData("/nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-user-environment\n", false)]
    [InlineData("/nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-user-environment/bin", false)]
    [InlineData("/nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-", false)]
    [InlineData("/nix/store/QJ8LCYF6X1XPJK62J1IZ13LJMX1V4QJW-user-environment", false)]
    [InlineData("/nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-x y", false)]
    [InlineData("/nix/store/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-x;reboot", false)]
    [InlineData("/tmp/qj8lcyf6x1xpjk62j1iz13ljmx1v4qjw-user-environment", false)]
    [InlineData(null, false)]
    public void IsStorePath_AcceptsOnlyAStorePathsOwnName(string? path, bool expected) =>
        Assert.Equal(expected, GenerationsParser.IsStorePath(path));

    [Theory]
    [InlineData("/bin/dash", "-n")]
    [InlineData("/bin/bash", "--posix", "-n")]
    [InlineData("/bin/busybox", "sh", "-n")]
    public async Task Script_IsValidPosixShell(string shell, params string[] check)
    {
        if (!File.Exists(shell))
        {
            return; // Not installed here.
        }

        var result = await ProcessRunner.RunAsync([shell, .. check, "-c", GenerationsProbe.Script], TestContext.Timeout);

        Assert.True(result.Succeeded, result.StdErr);
    }

    [Fact]
    public async Task Script_RunHere_OnlyReadsAndReportsThisMachinesProfiles()
    {
        var result = await ProcessRunner.RunAsync(["/bin/sh", "-c", GenerationsProbe.Script], TestContext.Timeout);
        var report = GenerationsParser.ParseReport(result.StdOut);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.StdErr);
        Assert.Equal((await ProcessRunner.RunAsync(["id", "-un"], TestContext.Timeout)).StdOut.Trim(), report.ProbeUser);
        Assert.All(report.Profiles, p => Assert.All(p.Generations, g => Assert.True(GenerationsParser.IsStorePath(g.StorePath))));
    }
}
