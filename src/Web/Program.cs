using NixFleet.Web;
using NixFleet.Web.Components;
using NixFleet.Web.Data;
using NixFleet.Web.Features;
using NixFleet.Web.Features.Accounts;
using NixFleet.Web.Jobs;

var builder = WebApplication.CreateBuilder(args);
NixFleetOptions.MapEnvironment(builder.Configuration);
if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("ASPNETCORE_URLS")))
    builder.WebHost.UseUrls("http://127.0.0.1:5080");

builder.Services.AddOptions<NixFleetOptions>().BindConfiguration(NixFleetOptions.Section).ValidateDataAnnotations().ValidateOnStart();
await builder.AddNixFleetDatabaseAsync();
builder.AddNixFleetAccounts();
builder.AddNixFleetJobs();
builder.AddNixFleetFeatures();
builder.AddNixFleetUi();

var app = builder.Build();
await app.InitializeAsync();

app.UseNixFleetSecurityHeaders();
// A stale form post (antiforgery, a form no longer shown) says so instead of an empty page.
app.UseStatusCodePages();
app.UseRateLimiter();
app.UseAuthentication();
app.UseAuthorization();
app.UseAntiforgery();
app.MapNixFleetApi();
app.MapNixFleetUi();
app.Run();
