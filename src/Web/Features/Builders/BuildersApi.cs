using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Accounts;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Maintenance;

namespace NixFleet.Web.Features.Builders;

/// <summary>
/// Remote build machines. Changes are Admin's: giving a host builders puts its root key on them
/// and makes the build user trusted there, which is as good as root on a builder.
/// </summary>
public static class BuildersApi
{
    public sealed record HostBuildersRequest(IReadOnlyList<Guid>? BuilderIds, JsonElement? MaxJobs, bool? UseSubstitutes, bool? Keep);

    /// <summary>The same builders for every host with a tag.</summary>
    public sealed record TagBuildersRequest(string? Tag, IReadOnlyList<Guid>? BuilderIds, JsonElement? MaxJobs, bool? UseSubstitutes, bool? Keep, JsonElement? Parallelism);

    public static RouteGroupBuilder MapBuildersApi(this RouteGroupBuilder api)
    {
        var builders = api.MapGroup("/builders").WithTags("Builders");

        builders.MapGet("/", async (BuildersService service, CancellationToken ct) => TypedResults.Ok(await service.ListAsync(ct)))
            .RequireAuthorization(Policies.View);

        builders.MapGet("/{id:guid}", async Task<Results<Ok<BuildersService.BuilderDto>, NotFound>> (Guid id, BuildersService service, CancellationToken ct) =>
            await service.GetAsync(id, ct) is { } b ? TypedResults.Ok(b) : TypedResults.NotFound()).RequireAuthorization(Policies.View);

        builders.MapPost("/", async Task<Results<Created<BuildersService.BuilderDto>, ValidationProblem>> (
            JsonElement body, BuildersService service, HttpContext http, CancellationToken ct) =>
            await service.CreateAsync(body, http.Actor(), ct) switch
            {
                BuildersService.Saved.Ok ok => TypedResults.Created($"/api/v1/builders/{ok.Builder.Id}", ok.Builder),
                BuildersService.Saved.Invalid i => TypedResults.ValidationProblem(i.Errors),
                var other => throw new InvalidOperationException($"unexpected {other}"),
            }).RequireAuthorization(Policies.Admin);

        builders.MapPut("/{id:guid}", async Task<Results<Ok<BuildersService.BuilderDto>, NotFound, ValidationProblem>> (
            Guid id, JsonElement body, BuildersService service, HttpContext http, CancellationToken ct) =>
            await service.UpdateAsync(id, body, http.Actor(), ct) switch
            {
                BuildersService.Saved.Ok ok => TypedResults.Ok(ok.Builder),
                BuildersService.Saved.Invalid i => TypedResults.ValidationProblem(i.Errors),
                _ => TypedResults.NotFound(),
            }).RequireAuthorization(Policies.Admin);

        builders.MapDelete("/{id:guid}", async Task<Results<NoContent, NotFound, Conflict<ProblemDetails>>> (
            Guid id, BuildersService service, HttpContext http, CancellationToken ct) =>
            await service.DeleteAsync(id, http.Actor(), ct) switch
            {
                BuildersService.Saved.Ok => TypedResults.NoContent(),
                BuildersService.Saved.InUse u => TypedResults.Conflict(new ProblemDetails { Title = "The builder is in use", Detail = u.Message, Status = StatusCodes.Status409Conflict }),
                _ => TypedResults.NotFound(),
            }).RequireAuthorization(Policies.Admin);

        builders.MapPost("/assign", async Task<Results<Accepted<HostsApi.OperationAccepted>, ValidationProblem>> (
            TagBuildersRequest body, NixFleetDb db, BuildersService service, HttpContext http, CancellationToken ct) =>
        {
            var errors = new Dictionary<string, string[]>();
            var tag = string.IsNullOrWhiteSpace(body.Tag) ? null : body.Tag;
            if (tag is null) errors["tag"] = ["The tag of the hosts that get these builders."];
            else if (MaintenanceInput.TagError(tag) is { } tagError) errors["tag"] = [tagError];
            var parallelism = MaintenanceInput.ReadParallelism(body.Parallelism, 4, errors);
            var configure = await ReadHostBuildersAsync(new HostBuildersRequest(body.BuilderIds, body.MaxJobs, body.UseSubstitutes, body.Keep), db, errors, ct);
            if (configure is null || tag is null || errors.Count > 0) return TypedResults.ValidationProblem(errors);
            var op = await service.RequestBatchAsync(new BuildersBatchHandler.Parameters(tag, configure, parallelism), http.Actor(), ct);
            return TypedResults.Accepted($"/api/v1/operations/{op.Id}", new HostsApi.OperationAccepted(op.Id));
        }).RequireAuthorization(Policies.Admin);

        var hosts = api.MapGroup("/hosts/{id:guid}/builders").WithTags("Builders");

        hosts.MapGet("/", async Task<Results<Ok<BuildersService.HostBuildersDto>, NotFound>> (Guid id, NixFleetDb db, BuildersService service, CancellationToken ct) =>
            await db.Hosts.AnyAsync(h => h.Id == id, ct) ? TypedResults.Ok(await service.ForHostAsync(id, ct)) : TypedResults.NotFound())
            .RequireAuthorization(Policies.View);

        hosts.MapPut("/", async Task<Results<Accepted<HostsApi.OperationAccepted>, NotFound, ValidationProblem, Conflict<ProblemDetails>>> (
            Guid id, HostBuildersRequest body, NixFleetDb db, BuildersService service, HttpContext http, CancellationToken ct) =>
        {
            if (await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct) is not { } host) return TypedResults.NotFound();
            var errors = new Dictionary<string, string[]>();
            if (await ReadHostBuildersAsync(body, db, errors, ct) is not { } p) return TypedResults.ValidationProblem(errors);
            return (await service.RequestConfigureAsync(host, p, http.Actor(), ct)).ToHttp();
        }).RequireAuthorization(Policies.Admin);

        hosts.MapPost("/verify", async Task<Results<Accepted<HostsApi.OperationAccepted>, NotFound, ValidationProblem, Conflict<ProblemDetails>>> (
            Guid id, NixFleetDb db, BuildersService service, HttpContext http, CancellationToken ct) =>
        {
            if (await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct) is not { } host) return TypedResults.NotFound();
            return (await service.RequestVerifyAsync(host, http.Actor(), ct)).ToHttp();
        }).RequireAuthorization(Policies.Operate);

        return api;
    }

    /// <summary>The change asked for: builders that exist, options in range; or null with the errors.</summary>
    public static async Task<BuildersHandler.ConfigureParameters?> ReadHostBuildersAsync(HostBuildersRequest body, NixFleetDb db, Dictionary<string, string[]> errors, CancellationToken ct)
    {
        var ids = body.BuilderIds?.Distinct().ToList();
        if (ids is null) errors["builderIds"] = ["The builders this host should use, by id; an empty list removes them all and restores the host's previous configuration."];
        else if (ids.Count > 64) errors["builderIds"] = ["At most 64 builders."];
        else if (ids.Count > 0)
        {
            var known = await db.Builders.AsNoTracking().Where(b => ids.Contains(b.Id)).Select(b => b.Id).ToListAsync(ct);
            var unknown = ids.Except(known).ToList();
            if (unknown.Count > 0) errors["builderIds"] = [$"No such builder: {string.Join(", ", unknown)}."];
        }
        var maxJobs = MaintenanceInput.ReadInt(body.MaxJobs, "maxJobs", "The host's own max-jobs: a whole number from 0 to 1024.", errors);
        var options = new BuildersOptions(maxJobs, body.UseSubstitutes ?? false, body.Keep ?? false);
        foreach (var (field, messages) in options.Errors()) errors.TryAdd(field, messages);
        return errors.Count == 0 ? new BuildersHandler.ConfigureParameters(ids!, options) : null;
    }

}
