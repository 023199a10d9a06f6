using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Accounts;
using NixFleet.Web.Features.Hosts;

namespace NixFleet.Web.Features.Maintenance;

public static class MaintenanceApi
{
    public sealed record VerifyRequest(bool? CheckContents, bool? Repair);

    /// <summary>GC on many hosts: these ids, else those with the tag, else (with allHosts) every host.</summary>
    public sealed record BatchGcRequest(
        IReadOnlyList<Guid>? HostIds, string? Tag, bool? AllHosts, string? Mode, JsonElement? OlderThanDays, JsonElement? KeepLast,
        IReadOnlyList<string?>? Profiles, bool? DryRun, JsonElement? OnlyWhenFreeBelowPercent, bool? OptimiseWeekly, JsonElement? Parallelism);

    public static RouteGroupBuilder MapMaintenanceApi(this RouteGroupBuilder api)
    {
        var hosts = api.MapGroup("/hosts/{id:guid}").WithTags("Maintenance");

        hosts.MapPost("/gc", async Task<Results<Accepted<HostsApi.OperationAccepted>, NotFound, ValidationProblem, Conflict<ProblemDetails>>> (
            Guid id, MaintenanceInput.GcRequest body, NixFleetDb db, MaintenanceService maintenance, HttpContext http, CancellationToken ct) =>
        {
            if (await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct) is not { } host) return TypedResults.NotFound();
            var errors = new Dictionary<string, string[]>();
            if (MaintenanceInput.ReadGc(body, errors) is not { } gc) return TypedResults.ValidationProblem(errors);
            return Answer(await maintenance.RequestGcAsync(host, gc, http.Actor(), ct));
        }).RequireAuthorization(Policies.Operate);

        hosts.MapPost("/optimise", async Task<Results<Accepted<HostsApi.OperationAccepted>, NotFound, ValidationProblem, Conflict<ProblemDetails>>> (
            Guid id, NixFleetDb db, MaintenanceService maintenance, HttpContext http, CancellationToken ct) =>
        {
            if (await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct) is not { } host) return TypedResults.NotFound();
            return Answer(await maintenance.RequestOptimiseAsync(host, http.Actor(), ct));
        }).RequireAuthorization(Policies.Operate);

        hosts.MapPost("/verify", async Task<Results<Accepted<HostsApi.OperationAccepted>, NotFound, ValidationProblem, Conflict<ProblemDetails>>> (
            Guid id, VerifyRequest? body, NixFleetDb db, MaintenanceService maintenance, HttpContext http, CancellationToken ct) =>
        {
            if (await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct) is not { } host) return TypedResults.NotFound();
            var p = new VerifyHandler.Parameters(body?.CheckContents ?? true, body?.Repair ?? false);
            return Answer(await maintenance.RequestVerifyAsync(host, p, http.Actor(), ct));
        }).RequireAuthorization(Policies.Operate);

        api.MapPost("/maintenance/gc", async Task<Results<Accepted<HostsApi.OperationAccepted>, ValidationProblem>> (
            BatchGcRequest body, MaintenanceService maintenance, HttpContext http, CancellationToken ct) =>
        {
            var errors = new Dictionary<string, string[]>();
            if (ReadBatch(body, errors) is not { } p) return TypedResults.ValidationProblem(errors);
            var op = await maintenance.RequestBatchAsync(p, http.Actor(), ct);
            return TypedResults.Accepted($"/api/v1/operations/{op.Id}", new HostsApi.OperationAccepted(op.Id));
        }).WithTags("Maintenance").RequireAuthorization(Policies.Operate);

        var policies = api.MapGroup("/maintenance-policies").WithTags("Maintenance");

        policies.MapGet("/", async (MaintenancePolicies service, CancellationToken ct) =>
            TypedResults.Ok(await service.ListAsync(ct))).RequireAuthorization(Policies.View);

        policies.MapGet("/{id:guid}", async Task<Results<Ok<MaintenancePolicies.PolicyDto>, NotFound>> (Guid id, MaintenancePolicies service, CancellationToken ct) =>
            await service.GetAsync(id, 20, ct) is { } p ? TypedResults.Ok(p) : TypedResults.NotFound()).RequireAuthorization(Policies.View);

        policies.MapPost("/", async Task<Results<Created<MaintenancePolicies.PolicyDto>, ValidationProblem>> (
            MaintenancePolicies.PolicyRequest body, MaintenancePolicies service, HttpContext http, CancellationToken ct) =>
            await service.CreateAsync(body, http.Actor(), ct) switch
            {
                MaintenancePolicies.Outcome.Saved s => TypedResults.Created($"/api/v1/maintenance-policies/{s.Policy.Id}", s.Policy),
                MaintenancePolicies.Outcome.Invalid i => TypedResults.ValidationProblem(i.Errors),
                var other => throw new InvalidOperationException($"unexpected outcome {other}"),
            }).RequireAuthorization(Policies.Operate);

        policies.MapPut("/{id:guid}", async Task<Results<Ok<MaintenancePolicies.PolicyDto>, NotFound, ValidationProblem>> (
            Guid id, MaintenancePolicies.PolicyRequest body, MaintenancePolicies service, HttpContext http, CancellationToken ct) =>
            await service.UpdateAsync(id, body, http.Actor(), ct) switch
            {
                MaintenancePolicies.Outcome.Saved s => TypedResults.Ok(s.Policy),
                MaintenancePolicies.Outcome.Invalid i => TypedResults.ValidationProblem(i.Errors),
                _ => TypedResults.NotFound(),
            }).RequireAuthorization(Policies.Operate);

        policies.MapDelete("/{id:guid}", async Task<Results<NoContent, NotFound>> (Guid id, MaintenancePolicies service, HttpContext http, CancellationToken ct) =>
            await service.DeleteAsync(id, http.Actor(), ct) ? TypedResults.NoContent() : TypedResults.NotFound()).RequireAuthorization(Policies.Operate);

        return api;
    }

    /// <summary>The batch asked for, or null with the errors.</summary>
    public static GcBatchHandler.Parameters? ReadBatch(BatchGcRequest body, Dictionary<string, string[]> errors)
    {
        var gc = MaintenanceInput.ReadGc(new(body.Mode, body.OlderThanDays, body.KeepLast, body.Profiles, body.DryRun), errors);
        var free = MaintenanceInput.ReadPercent(body.OnlyWhenFreeBelowPercent, "onlyWhenFreeBelowPercent", errors);
        var parallelism = MaintenanceInput.ReadParallelism(body.Parallelism, 4, errors);
        var tag = string.IsNullOrWhiteSpace(body.Tag) ? null : body.Tag;
        if (MaintenanceInput.TagError(tag) is { } tagError) errors["tag"] = [tagError];
        var ids = body.HostIds is { Count: > 0 } given ? given.Distinct().ToList() : null;
        if (ids is { Count: > 1000 }) errors["hostIds"] = ["At most 1000 hosts by id; use a tag for more."];
        var choices = (ids is null ? 0 : 1) + (tag is null ? 0 : 1) + (body.AllHosts == true ? 1 : 0);
        if (choices != 1) errors["hostIds"] = ["Choose the hosts one way: hostIds, a tag, or allHosts: true (with onlyWhenFreeBelowPercent for \"every host with less than X% free\")."];
        if (errors.Count > 0 || gc is null) return null;
        return new GcBatchHandler.Parameters(ids, tag, gc with { OnlyWhenFreeBelowPercent = free }, body.OptimiseWeekly ?? false, parallelism);
    }

    static Results<Accepted<HostsApi.OperationAccepted>, NotFound, ValidationProblem, Conflict<ProblemDetails>> Answer(MaintenanceService.Outcome outcome) => outcome switch
    {
        MaintenanceService.Outcome.Queued q => TypedResults.Accepted($"/api/v1/operations/{q.Operation.Id}", new HostsApi.OperationAccepted(q.Operation.Id)),
        MaintenanceService.Outcome.Busy b => TypedResults.Conflict(new ProblemDetails { Title = "The host is busy", Detail = b.Message, Status = StatusCodes.Status409Conflict }),
        MaintenanceService.Outcome.Refused r => TypedResults.Conflict(new ProblemDetails { Title = "The host cannot be used", Detail = r.Message, Status = StatusCodes.Status409Conflict }),
        _ => throw new InvalidOperationException($"unexpected outcome {outcome}"),
    };
}
