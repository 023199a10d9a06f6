using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

public class GenerationPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("+1", 1, null)]
    [InlineData("+25", 25, null)]
    [InlineData("1d", null, 1)]
    [InlineData("24855d", null, 24855)]
    public void TryParse_ValidSpec_GivesThePolicyAndItsSpecBack(string spec, int? keep, int? days)
    {
        Assert.True(GenerationPolicy.TryParse(spec, out var policy));
        Assert.Equal(new DeletionPolicy(keep, days), policy);
        Assert.Equal(spec, policy.Spec);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("+")]
    [InlineData("d")]
    [InlineData("+0")]
    [InlineData("24856d")]
    [InlineData("+01x")]
    [InlineData("1.5d")]
    [InlineData("+1e3")]
    public void TryParse_InvalidSpec_IsFalse(string? spec) =>
        Assert.False(GenerationPolicy.TryParse(spec, out _));

    [Fact]
    public void KeepLastAndOlderThanDays_OutOfRange_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => GenerationPolicy.KeepLast(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => GenerationPolicy.OlderThanDays(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => GenerationPolicy.OlderThanDays(GenerationPolicy.MaxDays + 1));
        Assert.Equal("+3", GenerationPolicy.KeepLast(3).Spec);
        Assert.Equal("30d", GenerationPolicy.OlderThanDays(30).Spec);
    }

    [Fact]
    public void Preview_KeepLast_CountsFromTheProfilesGenerationAndKeepsNewerOnes()
    {
        // Measured with Nix 2.8 on a test host: generations 1-8 pointing at 4, "+2 --dry-run"
        // would remove 2 and 1.
        var profile = Profile(pointsAt: 4, running: null, Enumerable.Range(1, 8).Select(n => (n, Now.AddDays(n - 10))).ToArray());

        Assert.Equal([1, 2], Numbers(GenerationPolicy.Preview(profile, GenerationPolicy.KeepLast(2), Now)));
        Assert.Equal([1, 2, 3], Numbers(GenerationPolicy.Preview(profile, GenerationPolicy.KeepLast(1), Now)));
        Assert.Empty(GenerationPolicy.Preview(profile, GenerationPolicy.KeepLast(4), Now));
    }

    [Fact]
    public void Preview_OlderThanDays_KeepsTheGenerationThatWasCurrentThenAndTheCurrentOne()
    {
        // Generation 3 is 20 days old, the newest one older than 7 days: it was in use 7 days ago.
        var profile = Profile(pointsAt: 1, running: null,
            (1, Now.AddDays(-40)), (2, Now.AddDays(-30)), (3, Now.AddDays(-20)), (4, Now.AddDays(-2)), (5, Now.AddDays(-1)));

        Assert.Equal([2], Numbers(GenerationPolicy.Preview(profile, GenerationPolicy.OlderThanDays(7), Now)));
        Assert.Empty(GenerationPolicy.Preview(profile, GenerationPolicy.OlderThanDays(35), Now));
        Assert.Equal([2, 3], Numbers(GenerationPolicy.Preview(profile, GenerationPolicy.OlderThanDays(1), Now))); // 4 was in use a day ago
    }

    [Fact]
    public void Preview_SystemRunningAnOlderGeneration_NeverDeletesWhatRuns()
    {
        // nix-env only protects the profile's generation (3); NixFleet also keeps the running one (1).
        var profile = Profile(pointsAt: 3, running: 1, (1, Now.AddDays(-9)), (2, Now.AddDays(-8)), (3, Now.AddDays(-7)));

        Assert.Equal([2], Numbers(GenerationPolicy.Preview(profile, GenerationPolicy.KeepLast(1), Now)));
        Assert.Equal([2], Numbers(GenerationPolicy.Preview(profile, GenerationPolicy.OlderThanDays(1), Now)));
    }

    [Fact]
    public void Preview_ProfilePointingAtNoListedGeneration_KeepLastDeletesNothing()
    {
        var profile = Profile(pointsAt: 9, running: null, (1, Now.AddDays(-9)), (2, Now.AddDays(-8)));

        Assert.Empty(GenerationPolicy.Preview(profile, GenerationPolicy.KeepLast(1), Now));
    }

    internal static ProfileGenerations Profile(int pointsAt, int? running, params (int Number, DateTimeOffset Date)[] generations) =>
        new(running is null ? "/nix/var/nix/profiles/default" : "/nix/var/nix/profiles/system", "root",
            generations.OrderByDescending(g => g.Number).Select(g => new Generation(
                g.Number, g.Date, $"/nix/store/{g.Number:D32}-x", running is null ? g.Number == pointsAt : g.Number == running,
                g.Number == pointsAt, null, null, running is not null)).ToList())
        { IsSystem = running is not null };

    private static int[] Numbers(IEnumerable<Generation> generations) => generations.Select(g => g.Number).ToArray();
}
