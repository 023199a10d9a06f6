using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Accounts;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Generations;

public static class GenerationsApi
{
    public sealed record GenerationDto(
        string Profile, int Number, DateTimeOffset Date, bool Current, bool BootDefault, string StorePath,
        string? NixosVersion, string? KernelVersion, string Owner, bool IsSystem);

    public sealed record RollbackRequest(string? Profile, JsonElement? Generation, string? Mode, string? Reason, bool? ReactivateOnFailure);
    public sealed record BatchRollbackRequest(
        IReadOnlyList<Guid>? HostIds, string? Tag, string? Profile, JsonElement? Generation, string? Mode, string? Reason,
        bool? ReactivateOnFailure, JsonElement? Parallelism);

    public sealed record DeleteRequest(string? Profile, JsonElement? OlderThanDays, JsonElement? KeepLast, bool? DryRun);


    public static IEnumerable<GenerationDto> Flatten(GenerationsReport report) =>
        report.Profiles.SelectMany(p => p.Generations.Select(g => new GenerationDto(
            p.Profile, g.Number, g.Date, g.Current, g.BootDefault, g.StorePath, g.NixosVersion, g.KernelVersion, p.Owner, p.IsSystem)));

    public static RouteGroupBuilder MapGenerationsApi(this RouteGroupBuilder api)
    {
        var hosts = api.MapGroup("/hosts/{id:guid}").WithTags("Generations");

        hosts.MapGet("/generations", async Task<Results<Ok<IEnumerable<GenerationDto>>, NotFound, ProblemHttpResult>> (
            Guid id, NixFleetDb db, GenerationsService generations, CancellationToken ct) =>
        {
            if (await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct) is not { } host) return TypedResults.NotFound();
            try
            {
                return TypedResults.Ok(Flatten((await generations.ListAsync(host, ct)).Report));
            }
            catch (Exception e) when (e is OperationFailedException or HostNotTrustedException or Shared.Execution.SshException)
            {
                return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status502BadGateway, title: "The host could not be read");
            }
        }).RequireAuthorization(Policies.View);

        hosts.MapGet("/generations/diff", async Task<Results<Ok<ClosureDiff>, NotFound, ValidationProblem, ProblemHttpResult>> (
            Guid id, string? profile, string? from, string? to, NixFleetDb db, GenerationsService generations, CancellationToken ct) =>
        {
            if (await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct) is not { } host) return TypedResults.NotFound();
            try
            {
                var listing = await generations.LastOrNewAsync(host, ct);
                var errors = new Dictionary<string, string[]>();
                var found = GenerationValidation.FindProfile(listing.Report.Profiles, profile);
                if (found is null) errors["profile"] = ["The profile is not one of the host's profiles."];
                Generation? a = null, b = null;
                if (!GenerationValidation.TryParseGeneration(from, out var f) || (found is not null && (a = found.Find(f)) is null))
                    errors["from"] = ["'from' is not a generation of this profile."];
                if (!GenerationValidation.TryParseGeneration(to, out var t) || (found is not null && (b = found.Find(t)) is null))
                    errors["to"] = ["'to' is not a generation of this profile."];
                if (errors.Count > 0) return TypedResults.ValidationProblem(errors);
                return TypedResults.Ok(await generations.DiffAsync(host, found!, a!, b!, ct));
            }
            catch (Exception e) when (e is OperationFailedException or HostNotTrustedException or Shared.Execution.SshException)
            {
                return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status502BadGateway, title: "The host could not be read");
            }
        }).RequireAuthorization(Policies.View);

        hosts.MapPost("/rollback", async Task<Results<Accepted<HostsApi.OperationAccepted>, NotFound, ValidationProblem, Conflict<ProblemDetails>, ProblemHttpResult>> (
            Guid id, RollbackRequest body, NixFleetDb db, GenerationsService generations, HttpContext http, CancellationToken ct) =>
        {
            if (await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct) is not { } host) return TypedResults.NotFound();
            var errors = new Dictionary<string, string[]>();
            long? generation = null;
            if (body.Generation is { ValueKind: not JsonValueKind.Null } g)
            {
                if (g.ValueKind == JsonValueKind.Number && g.TryGetInt64(out var n) && GenerationValidation.IsGenerationNumber(n)) generation = n;
                else errors["generation"] = [GenerationsService.BadGeneration];
            }
            var input = new GenerationsService.RollbackInput(body.Profile, generation, body.Mode, body.Reason, body.ReactivateOnFailure ?? false);
            return await generations.RequestRollbackAsync(host, input, errors, http.Actor(), ct) switch
            {
                GenerationsService.Outcome.Queued q => TypedResults.Accepted($"/api/v1/operations/{q.Operation.Id}", new HostsApi.OperationAccepted(q.Operation.Id)),
                GenerationsService.Outcome.Invalid i => TypedResults.ValidationProblem(i.Errors),
                GenerationsService.Outcome.Busy b => Busy(b.Message),
                var other => Unreadable(other),
            };
        }).RequireAuthorization(Policies.Operate);

        hosts.MapPost("/generations/delete", async Task<Results<Ok<GenerationsService.DeletePreview>, Accepted<HostsApi.OperationAccepted>, NotFound, ValidationProblem, Conflict<ProblemDetails>, ProblemHttpResult>> (
            Guid id, DeleteRequest body, NixFleetDb db, GenerationsService generations, HttpContext http, CancellationToken ct) =>
        {
            if (await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct) is not { } host) return TypedResults.NotFound();
            var errors = new Dictionary<string, string[]>();
            int? keep = ReadInt(body.KeepLast, "keepLast", GenerationsService.BadKeepLast, errors);
            int? days = ReadInt(body.OlderThanDays, "olderThanDays", GenerationsService.BadOlderThanDays, errors);
            var input = new GenerationsService.DeleteInput(body.Profile, keep, days, body.DryRun ?? true);
            return await generations.RequestDeleteAsync(host, input, errors, http.Actor(), ct) switch
            {
                GenerationsService.Outcome.Previewed p => TypedResults.Ok(p.Preview),
                GenerationsService.Outcome.Queued q => TypedResults.Accepted($"/api/v1/operations/{q.Operation.Id}", new HostsApi.OperationAccepted(q.Operation.Id)),
                GenerationsService.Outcome.Invalid i => TypedResults.ValidationProblem(i.Errors),
                GenerationsService.Outcome.Busy b => Busy(b.Message),
                var other => Unreadable(other),
            };
        }).RequireAuthorization(Policies.Operate);

        api.MapPost("/rollbacks", async Task<Results<Accepted<HostsApi.OperationAccepted>, ValidationProblem>> (
            BatchRollbackRequest body, GenerationsService generations, HttpContext http, CancellationToken ct) =>
        {
            var errors = new Dictionary<string, string[]>();
            int? generation = null;
            if (body.Generation is { ValueKind: not JsonValueKind.Null } g)
            {
                if (g.ValueKind == JsonValueKind.Number && g.TryGetInt32(out var n) && n >= 1) generation = n;
                else errors["generation"] = [GenerationsService.BadGeneration];
            }
            var parallelism = 4;
            if (body.Parallelism is { ValueKind: not JsonValueKind.Null } par && !par.TryGetInt32(out parallelism)) parallelism = 0;
            var outcome = await generations.RequestBatchRollbackAsync(
                new(body.HostIds, body.Tag, body.Profile, generation, body.Mode, body.Reason, body.ReactivateOnFailure ?? false, parallelism), errors, http.Actor(), ct);
            return outcome switch
            {
                GenerationsService.Outcome.Queued q => TypedResults.Accepted($"/api/v1/operations/{q.Operation.Id}", new HostsApi.OperationAccepted(q.Operation.Id)),
                GenerationsService.Outcome.Invalid invalid => TypedResults.ValidationProblem(invalid.Errors),
                _ => throw new InvalidOperationException($"unexpected outcome {outcome}"),
            };
        }).WithTags("Generations").RequireAuthorization(Policies.Operate);

        return api;
    }


    static Conflict<ProblemDetails> Busy(string message) =>
        TypedResults.Conflict(new ProblemDetails { Title = "The host is busy", Detail = message, Status = StatusCodes.Status409Conflict });

    static ProblemHttpResult Unreadable(GenerationsService.Outcome outcome) => outcome is GenerationsService.Outcome.Unreadable u
        ? TypedResults.Problem(u.Message, statusCode: StatusCodes.Status502BadGateway, title: "The host could not be read")
        : throw new InvalidOperationException($"unexpected outcome {outcome.GetType().Name}");

    /// <summary>A whole number, or null when absent; anything else is an error on the field. Ranges are checked by the service.</summary>
    static int? ReadInt(JsonElement? value, string field, string message, Dictionary<string, string[]> errors)
    {
        if (value is not { ValueKind: not JsonValueKind.Null } v) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n)) return n;
        errors[field] = [message];
        return null;
    }
}
