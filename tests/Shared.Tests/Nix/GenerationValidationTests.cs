using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>Rollback requests checked against the NixOS stand-in's recorded generations (Fixtures/generations/nixos.txt).</summary>
public class GenerationValidationTests
{
    private const string System = "/nix/var/nix/profiles/system";
    private const string Alice = "/nix/var/nix/profiles/per-user/alice/profile";

    private static readonly IReadOnlyList<ProfileGenerations> Listed =
        GenerationsParser.Parse(File.ReadAllText(TestContext.FixturePath("generations", "nixos.txt")));

    [Theory]
    [InlineData(2, "switch", 1)] // from what runs (1) ...
    [InlineData(4, "test", 1)]
    [InlineData(2, "boot", 3)] // ... or, for boot, from the boot default (3)
    [InlineData(3, "switch", 1)]
    public void CheckRollback_ExistingSystemGeneration_IsAccepted(long generation, string mode, int from)
    {
        var (target, error) = GenerationValidation.CheckRollback(Listed, System, generation, mode);

        Assert.Null(error);
        Assert.Equal((System, from, (int)generation, mode), (target!.Profile.Profile, target.From?.Number, target.To.Number, target.Mode));
    }

    [Fact]
    public void CheckRollback_NoGeneration_IsThePreviousOneAsNixEnvRollbackPicksIt()
    {
        var (target, error) = GenerationValidation.CheckRollback(Listed, System, generation: null, mode: null);

        Assert.Null(error);
        Assert.Equal((2, ActivationMode.Switch), (target!.To.Number, target.Mode)); // the profile points at 3
    }

    [Fact]
    public void CheckRollback_UserProfile_SwitchesItsLinkOnly()
    {
        var (target, error) = GenerationValidation.CheckRollback(Listed, Alice, 1, null);

        Assert.Null(error);
        Assert.Equal((2, 1, "switch"), (target!.From?.Number, target.To.Number, target.Mode));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(5)] // not on the host
    [InlineData(2147483648)]
    [InlineData(long.MaxValue)]
    [InlineData(long.MinValue)]
    public void CheckRollback_GenerationTheProfileDoesNotHave_IsRefused(long generation)
    {
        var (target, error) = GenerationValidation.CheckRollback(Listed, System, generation, "switch");

        Assert.Null(target);
        Assert.NotNull(error);
    }

    [Theory]
    [InlineData("/nix/var/nix/profiles/system/")]
    [InlineData("/nix/var/nix/profiles/System")]
    [InlineData("/nix/var/nix/profiles//system")]
    [InlineData("/nix/var/nix/profiles/system-1-link")]
    [InlineData("/nix/var/nix/profiles/per-user/alice/home-manager")] // on the host, but not a profile NixFleet lists
    [InlineData("/nix/var/nix/profiles/per-user/alice/odd name")]
    [InlineData("/etc/passwd")]
    [InlineData("")]
    [InlineData(null)]
    public void CheckRollback_ProfileTheHostDidNotList_IsRefused(string? profile)
    {
        var (target, error) = GenerationValidation.CheckRollback(Listed, profile, 1, "switch");

        Assert.Null(target);
        Assert.Equal("The profile is not one of the host's profiles.", error);
    }

    [Theory]
    [InlineData("Switch")]
    [InlineData("dry-activate")]
    [InlineData("switch; reboot")]
    [InlineData("")]
    public void CheckRollback_UnknownMode_IsRefused(string mode) =>
        Assert.Equal("The mode must be switch, boot or test.", GenerationValidation.CheckRollback(Listed, System, 2, mode).Error);

    [Theory]
    [InlineData("boot")]
    [InlineData("test")]
    public void CheckRollback_BootOrTestOnAUserProfile_IsRefused(string mode) =>
        Assert.NotNull(GenerationValidation.CheckRollback(Listed, Alice, 1, mode).Error);

    [Fact]
    public void CheckRollback_SystemGenerationWithoutSwitchToConfiguration_IsRefused()
    {
        var system = Listed[0];
        var broken = system with
        {
            Generations = system.Generations.Select(g => g.Number == 2 ? g with { HasSwitchToConfiguration = false } : g).ToList(),
        };

        var (target, error) = GenerationValidation.CheckRollback([broken], System, 2, "switch");

        Assert.Null(target);
        Assert.Contains("switch-to-configuration", error);
    }

    [Fact]
    public void CheckRollback_SystemGenerationWithoutNixosVersion_IsRefused()
    {
        var system = Listed[0];
        var odd = system with
        {
            Generations = system.Generations.Select(g => g.Number == 2 ? g with { NixosVersion = null } : g).ToList(),
        };

        Assert.Contains("nixos-version", GenerationValidation.CheckRollback([odd], System, 2, "switch").Error);
    }

    [Fact]
    public void CheckRollback_PreviousOfTheOldestGeneration_IsRefused() =>
        Assert.NotNull(GenerationValidation.CheckRollback(Listed, "/nix/var/nix/profiles/per-user/alice/dev", null, null).Error);

    [Theory]
    [InlineData("1", 1)]
    [InlineData("2147483647", 2147483647)]
    [InlineData("007", 7)]
    public void TryParseGeneration_Digits_AreAGeneration(string text, int expected)
    {
        Assert.True(GenerationValidation.TryParseGeneration(text, out var number));
        Assert.Equal(expected, number);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("+1")]
    [InlineData("2147483648")]
    [InlineData("99999999999999999999")]
    [InlineData("1e3")]
    [InlineData("1.0")]
    [InlineData(" 1")]
    [InlineData("1\n")]
    [InlineData("٣")]
    [InlineData("two")]
    [InlineData("")]
    [InlineData(null)]
    public void TryParseGeneration_AnythingElse_IsNot(string? text) =>
        Assert.False(GenerationValidation.TryParseGeneration(text, out _));

    [Fact]
    public void ActivationMode_KnowsWhatEachModeChanges()
    {
        Assert.Equal(["switch", "boot", "test"], ActivationMode.All);
        Assert.Equal([true, true, false], ActivationMode.All.Select(ActivationMode.SetsProfile));
        Assert.Equal([true, false, true], ActivationMode.All.Select(ActivationMode.Activates));
    }

    [Fact]
    public void FindGeneration_ChecksTheRangeFirst()
    {
        Assert.Equal(4, GenerationValidation.FindGeneration(Listed[0], 4)?.Number);
        Assert.Null(GenerationValidation.FindGeneration(Listed[0], (long)int.MaxValue + 4));
    }
}
