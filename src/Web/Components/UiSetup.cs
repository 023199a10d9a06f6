namespace NixFleet.Web.Components;

public static class UiSetup
{
    public static void AddNixFleetUi(this WebApplicationBuilder builder)
    {
        builder.Services.AddRazorComponents();
        builder.Services.AddCascadingAuthenticationState();
    }

    public static void MapNixFleetUi(this WebApplication app)
    {
        app.MapStaticAssets();
        app.MapRazorComponents<App>();
    }
}
