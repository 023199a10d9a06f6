namespace NixFleet.Shared.Tests;

internal static class TestContext
{
    /// <summary>A bound for any single external command in a test, so a hang fails instead of stalling the run.</summary>
    public static CancellationToken Timeout => new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token;

    public static string FixturePath(params string[] parts) =>
        Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);
}
