using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Accounts;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Maintenance;

namespace NixFleet.Web.Features.Conversion;

/// <summary>Conversion to multi-user: planning and converting change (or read as root) whole stores, so they are Admin's.</summary>
public static class ConversionApi
{
    public sealed record ConvertRequest(bool? DryRun, JsonElement? BuildUsers, JsonElement? GroupId, JsonElement? FirstUserId);

    /// <summary>Many hosts: these ids, else those with the tag.</summary>
    public sealed record BatchConvertRequest(
        IReadOnlyList<Guid>? HostIds, string? Tag, bool? DryRun, JsonElement? BuildUsers, JsonElement? GroupId, JsonElement? FirstUserId, JsonElement? Parallelism);

    public static RouteGroupBuilder MapConversionApi(this RouteGroupBuilder api)
    {
        var group = api.MapGroup("").WithTags("Conversion");

        group.MapPost("/hosts/{id:guid}/convert", async Task<Results<Accepted<HostsApi.OperationAccepted>, NotFound, ValidationProblem, Conflict<ProblemDetails>>> (
            Guid id, ConvertRequest body, NixFleetDb db, ConversionService conversions, HttpContext http, CancellationToken ct) =>
        {
            if (await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct) is not { } host) return TypedResults.NotFound();
            var errors = new Dictionary<string, string[]>();
            if (ReadConvert(body, errors) is not { } p) return TypedResults.ValidationProblem(errors);
            return (await conversions.RequestConvertAsync(host, p, http.Actor(), ct)).ToHttp();
        }).RequireAuthorization(Policies.Admin);

        group.MapPost("/hosts/{id:guid}/convert/revert", async Task<Results<Accepted<HostsApi.OperationAccepted>, NotFound, ValidationProblem, Conflict<ProblemDetails>>> (
            Guid id, NixFleetDb db, ConversionService conversions, HttpContext http, CancellationToken ct) =>
        {
            if (await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct) is not { } host) return TypedResults.NotFound();
            return (await conversions.RequestRevertAsync(host, http.Actor(), ct)).ToHttp();
        }).RequireAuthorization(Policies.Admin);

        group.MapGet("/hosts/{id:guid}/convert/receipt", async Task<Results<Ok<ConversionReceipt>, NotFound>> (
            Guid id, ConversionService conversions, CancellationToken ct) =>
            await conversions.ReceiptAsync(id, ct) is { } found ? TypedResults.Ok(found.Receipt) : TypedResults.NotFound())
            .RequireAuthorization(Policies.View);

        group.MapPost("/convert", async Task<Results<Accepted<HostsApi.OperationAccepted>, ValidationProblem>> (
            BatchConvertRequest body, ConversionService conversions, HttpContext http, CancellationToken ct) =>
        {
            var errors = new Dictionary<string, string[]>();
            if (ReadBatch(body, errors) is not { } p) return TypedResults.ValidationProblem(errors);
            var op = await conversions.RequestBatchAsync(p, http.Actor(), ct);
            return TypedResults.Accepted($"/api/v1/operations/{op.Id}", new HostsApi.OperationAccepted(op.Id));
        }).RequireAuthorization(Policies.Admin);

        return api;
    }

    public static ConvertHandler.Parameters? ReadConvert(ConvertRequest body, Dictionary<string, string[]> errors)
    {
        if (body.DryRun is null) errors["dryRun"] = [ConversionService.NeedDryRun];
        var options = ConversionService.ReadOptions(body.BuildUsers, body.GroupId, body.FirstUserId, errors);
        return options is null || body.DryRun is not { } dryRun ? null : new ConvertHandler.Parameters(dryRun, options);
    }

    public static ConvertBatchHandler.Parameters? ReadBatch(BatchConvertRequest body, Dictionary<string, string[]> errors)
    {
        var one = ReadConvert(new ConvertRequest(body.DryRun, body.BuildUsers, body.GroupId, body.FirstUserId), errors);
        var parallelism = MaintenanceInput.ReadParallelism(body.Parallelism, 4, errors);
        var tag = string.IsNullOrWhiteSpace(body.Tag) ? null : body.Tag;
        if (MaintenanceInput.TagError(tag) is { } tagError) errors["tag"] = [tagError];
        var ids = body.HostIds is { Count: > 0 } given ? given.Distinct().ToList() : null;
        if (ids is { Count: > 1000 }) errors["hostIds"] = ["At most 1000 hosts by id; use a tag for more."];
        if ((ids is null) == (tag is null)) errors["hostIds"] = ["Choose the hosts one way: hostIds, or a tag."];
        if (errors.Count > 0 || one is null) return null;
        return new ConvertBatchHandler.Parameters(ids, tag, one.DryRun, one.Options, parallelism);
    }

}
