namespace NixFleet.Testing;

/// <summary>The shared test fleet plus one NixFleet process that holds the fleet's key.</summary>
public class FleetAppFixture : AppFixture
{
    public TestFleet Fleet { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        Fleet = await TestFleet.SharedAsync();
        await base.InitializeAsync();
        await Admin.ImportKeyAsync(Fleet.PrivateKey);
    }
}

public static class FleetCollection
{
    /// <summary>Tests that use the shared fleet run one after another: they change the hosts' state.</summary>
    public const string Name = "fleet";
}
