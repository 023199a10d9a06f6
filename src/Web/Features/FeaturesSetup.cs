using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Accounts;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Builders;
using NixFleet.Web.Features.Conversion;
using NixFleet.Web.Features.Generations;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Maintenance;
using NixFleet.Web.Features.Upgrades;
using NixFleet.Web.Features.Operations;
using NixFleet.Web.Features.SshKey;

namespace NixFleet.Web.Features;

public static class FeaturesSetup
{
    public static void AddNixFleetFeatures(this WebApplicationBuilder builder)
    {
        var s = builder.Services;
        s.AddOpenApi("v1");
        s.AddProblemDetails();
        s.AddSingleton<Auditor>();
        s.AddScoped<OperationQueue>();
        s.AddScoped<FleetKeyStore>();
        s.AddSingleton<SshConnections>();
        s.AddSingleton<HostRefresher>();
        s.AddScoped<HostService>();
        s.AddOperationHandler<RefreshHandler>();
        s.AddOperationHandler<FleetRefreshHandler>();
        s.AddScoped<Generations.GenerationsService>();
        s.AddSingleton<Generations.SystemActivation>();
        s.AddOperationHandler<Generations.RollbackHandler>();
        s.AddSingleton<IOperationHandler>(sp => ActivatorUtilities.CreateInstance<Generations.RollbackHandler>(sp, Generations.RollbackHandler.ActivateKindName));
        s.AddOperationHandler<Generations.DeleteGenerationsHandler>();
        s.AddOperationHandler<Generations.RollbackBatchHandler>();
        s.AddScoped<Maintenance.MaintenanceService>();
        s.AddScoped<Maintenance.MaintenancePolicies>();
        s.AddOperationHandler<Maintenance.GcHandler>();
        s.AddOperationHandler<Maintenance.OptimiseHandler>();
        s.AddOperationHandler<Maintenance.VerifyHandler>();
        s.AddOperationHandler<Maintenance.GcBatchHandler>();
        s.AddSingleton<Upgrades.Webhooks>();
        s.AddScoped<Upgrades.UpgradeService>();
        s.AddScoped<Upgrades.ChannelService>();
        s.AddOperationHandler<Upgrades.UpgradeRolloutHandler>();
        s.AddOperationHandler<Upgrades.UpgradeHostHandler>();
        s.AddOperationHandler<Upgrades.ChannelChangeHandler>();
        s.AddOperationHandler<Upgrades.ChannelBatchHandler>();
        s.AddOperationHandler<Upgrades.UpgradePreviewHandler>();
        s.AddScoped<Conversion.ConversionService>();
        s.AddOperationHandler<Conversion.ConvertHandler>();
        s.AddSingleton<IOperationHandler>(sp => ActivatorUtilities.CreateInstance<Conversion.ConvertHandler>(sp, Conversion.ConvertHandler.RevertKindName));
        s.AddOperationHandler<Conversion.ConvertBatchHandler>();
        s.AddScoped<Builders.BuildersService>();
        s.AddOperationHandler<Builders.BuildersHandler>();
        s.AddOperationHandler<Builders.BuildersBatchHandler>();
        s.AddSingleton<IOperationHandler>(sp => ActivatorUtilities.CreateInstance<Builders.BuildersHandler>(sp, Builders.BuildersHandler.VerifyKind));
        // Also run directly by operations made of parts (a fleet-wide rollback runs one per host).
        s.AddTransient<OperationJob>();
    }

    public static void AddOperationHandler<T>(this IServiceCollection services) where T : class, IOperationHandler =>
        services.AddSingleton<IOperationHandler, T>();

    public static void MapNixFleetApi(this WebApplication app)
    {
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapGet("/healthz", async (NixFleetDb db, CancellationToken ct) =>
            await db.Database.CanConnectAsync(ct) ? Results.Ok("ok") : Results.StatusCode(503)).ExcludeFromDescription();

        var api = app.MapGroup("/api/v1")
            .RequireAuthorization(new Microsoft.AspNetCore.Authorization.AuthorizeAttribute { AuthenticationSchemes = TokenAuthenticationHandler.SchemeName })
            .DisableAntiforgery();
        api.MapAccountsApi();
        api.MapSshKeyApi();
        api.MapHostsApi();
        api.MapOperationsApi();
        api.MapGenerationsApi();
        api.MapMaintenanceApi();
        api.MapUpgradesApi();
        api.MapConversionApi();
        api.MapBuildersApi();
    }

    /// <summary>Conservative headers for a dashboard that runs operations as root on a fleet.</summary>
    public static void UseNixFleetSecurityHeaders(this WebApplication app) => app.Use(async (http, next) =>
    {
        var h = http.Response.Headers;
        h["X-Content-Type-Options"] = "nosniff";
        h["X-Frame-Options"] = "DENY";
        h["Referrer-Policy"] = "same-origin";
        h["Content-Security-Policy"] = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'";
        await next();
    });
}
