using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Accounts;

namespace NixFleet.Web.Features.Hosts;

public static class HostsApi
{
    public sealed record AcceptKeyRequest(string? Fingerprint);
    public sealed record OperationAccepted(Guid OperationId);
    public sealed record FleetRefreshRequest(string? Tag);

    public static RouteGroupBuilder MapHostsApi(this RouteGroupBuilder api)
    {
        var hosts = api.MapGroup("/hosts").WithTags("Hosts");

        hosts.MapGet("/", async (HostService service, string? q, string? tag, string? sort, int? page, int? pageSize, CancellationToken ct) =>
        {
            var result = await service.ListAsync(new(q, tag, sort, page ?? 1, pageSize ?? 50), ct);
            return TypedResults.Ok(new { items = result.Items.Select(HostDto.From), total = result.Total, page = result.Page, pageSize = result.PageSize });
        }).RequireAuthorization(Policies.View);

        hosts.MapGet("/{id:guid}", async Task<Results<Ok<HostDto>, NotFound>> (Guid id, NixFleetDb db, CancellationToken ct) =>
            await db.Hosts.AsNoTracking().Include(h => h.LatestFacts).FirstOrDefaultAsync(h => h.Id == id, ct) is { } h
                ? TypedResults.Ok(HostDto.From(h))
                : TypedResults.NotFound()).RequireAuthorization(Policies.View);

        hosts.MapGet("/{id:guid}/facts", async (Guid id, NixFleetDb db, int? limit, CancellationToken ct) =>
            TypedResults.Ok((await db.HostFacts.AsNoTracking().Where(f => f.HostId == id)
                .OrderByDescending(f => f.CollectedAt).Take(Math.Clamp(limit ?? 50, 1, 1000)).ToListAsync(ct))
                .Select(FactsDto.From))).RequireAuthorization(Policies.View);

        hosts.MapPost("/", async Task<Results<Created<HostDto>, ValidationProblem>> (HostInput input, HostService service, HttpContext http, CancellationToken ct) =>
        {
            var result = await service.AddAsync(input, http.Actor(), ct);
            return result.Host is null
                ? TypedResults.ValidationProblem(result.Errors)
                : TypedResults.Created($"/api/v1/hosts/{result.Host.Id}", HostDto.From(result.Host));
        }).RequireAuthorization(Policies.Operate);

        hosts.MapDelete("/{id:guid}", async Task<Results<NoContent, NotFound>> (Guid id, HostService service, HttpContext http, CancellationToken ct) =>
            await service.DeleteAsync(id, http.Actor(), ct) ? TypedResults.NoContent() : TypedResults.NotFound())
            .RequireAuthorization(Policies.Operate);

        hosts.MapPost("/{id:guid}/host-key/scan", async Task<Results<Ok<HostDto>, NotFound>> (Guid id, HostService service, HttpContext http, CancellationToken ct) =>
            await service.RescanAsync(id, http.Actor(), ct) is { } h ? TypedResults.Ok(HostDto.From(h)) : TypedResults.NotFound())
            .RequireAuthorization(Policies.Operate);

        hosts.MapPost("/{id:guid}/host-key/accept", async Task<Results<Ok<HostDto>, NotFound, ValidationProblem, ProblemHttpResult>> (
            Guid id, AcceptKeyRequest body, HostService service, HttpContext http, CancellationToken ct) =>
        {
            var (outcome, host) = await service.AcceptKeyAsync(id, body.Fingerprint, http.Actor(), http.User.IsInRole(Roles.Admin), ct);
            return outcome switch
            {
                HostService.AcceptOutcome.Accepted => TypedResults.Ok(HostDto.From(host!)),
                HostService.AcceptOutcome.NotFound => TypedResults.NotFound(),
                HostService.AcceptOutcome.NoScannedKey => TypedResults.ValidationProblem(new Dictionary<string, string[]>
                    { ["fingerprint"] = ["No key has been scanned from this host: scan it first."] }),
                HostService.AcceptOutcome.FingerprintMismatch => TypedResults.ValidationProblem(new Dictionary<string, string[]>
                    { ["fingerprint"] = [$"This is not the fingerprint the host offers ({host!.ScannedFingerprint})."] }),
                _ => TypedResults.Problem("The host key changed after it was trusted: only an admin can re-pin it.", statusCode: 403),
            };
        }).RequireAuthorization(Policies.Operate);

        hosts.MapPost("/{id:guid}/refresh", async Task<Results<Accepted<OperationAccepted>, NotFound>> (Guid id, HostService service, HttpContext http, CancellationToken ct) =>
            await service.RefreshAsync(id, http.Actor(), ct) is { } op
                ? TypedResults.Accepted($"/api/v1/operations/{op.Id}", new OperationAccepted(op.Id))
                : TypedResults.NotFound()).RequireAuthorization(Policies.Operate);

        api.MapPost("/fleet/refresh", async (FleetRefreshRequest? body, HostService service, HttpContext http, CancellationToken ct) =>
        {
            var op = await service.RefreshFleetAsync(body?.Tag, http.Actor(), ct);
            return TypedResults.Accepted($"/api/v1/operations/{op.Id}", new OperationAccepted(op.Id));
        }).WithTags("Hosts").RequireAuthorization(Policies.Operate);

        return api;
    }
}
