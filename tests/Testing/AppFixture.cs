namespace NixFleet.Testing;

/// <summary>One NixFleet process on a fresh database, shared by the tests of a class.</summary>
public class AppFixture : IAsyncLifetime
{
    public NixFleetApp App { get; private set; } = null!;
    public ApiClient Admin { get; private set; } = null!;

    public virtual async Task InitializeAsync()
    {
        App = await NixFleetApp.StartAsync();
        Admin = await App.ClientAsync();
    }

    public virtual async Task DisposeAsync()
    {
        Admin.Dispose();
        await App.DisposeAsync();
    }
}
