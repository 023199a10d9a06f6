using NixFleet.Web.Features.Accounts;
using NixFleet.Web.Features.Conversion;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;
using NixFleet.Web.Features.Upgrades;

namespace NixFleet.Web.Components;

public static class UiSetup
{
    public static void AddNixFleetUi(this WebApplicationBuilder builder)
    {
        // Outside Development, `dotnet run` would serve only wwwroot itself, and MapStaticAssets' compressed
        // variants (built under obj/) would come back empty. The build's manifest maps them; a published
        // app has no such manifest and this does nothing.
        builder.WebHost.UseStaticWebAssets();
        builder.Services.AddRazorComponents();
        builder.Services.AddCascadingAuthenticationState();
    }

    /// <summary>The dashboard: static files, sign-in, the pages' htmx fragments and SSE, then the pages.</summary>
    public static void MapNixFleetUi(this WebApplication app)
    {
        app.MapStaticAssets();
        app.MapAccountsUi();
        app.MapHostsUi();
        app.MapOperationsUi();
        app.MapUpgradesUi();
        app.MapConversionUi();
        app.MapRazorComponents<App>();
    }
}
