namespace NixFleet.Testing;

/// <summary>One NixFleet process on a fresh database, shared by the tests of a class.</summary>
public class AppFixture : IAsyncLifetime
{
    public NixFleetApp App { get; private set; } = null!;
    public ApiClient Admin { get; private set; } = null!;

    /// <summary>Extra environment for the NixFleet process (settings such as NixFleet__WebhookUrl).</summary>
    protected virtual IDictionary<string, string>? Environment => null;

    public virtual async Task InitializeAsync()
    {
        App = await NixFleetApp.StartAsync(environment: Environment);
        Admin = await App.ClientAsync();
    }

    public virtual async Task DisposeAsync()
    {
        Admin.Dispose();
        await App.DisposeAsync();
    }
}
