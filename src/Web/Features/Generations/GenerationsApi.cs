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
    public sealed record DeleteRequest(string? Profile, JsonElement? OlderThanDays, JsonElement? KeepLast, bool? DryRun);

    public const int MaxReasonLength = 1000;

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
            Guid id, RollbackRequest body, NixFleetDb db, GenerationsService generations, OperationQueue queue, Auditor audit, HttpContext http, CancellationToken ct) =>
        {
            if (await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct) is not { } host) return TypedResults.NotFound();
            var errors = new Dictionary<string, string[]>();
            long? generation = null;
            if (body.Generation is { ValueKind: not JsonValueKind.Null } g)
            {
                if (g.ValueKind == JsonValueKind.Number && g.TryGetInt64(out var n) && GenerationValidation.IsGenerationNumber(n)) generation = n;
                else errors["generation"] = ["A generation is a whole number from 1 to 2147483647 (omit it for the previous generation)."];
            }
            var mode = body.Mode ?? ActivationMode.Switch;
            if (!ActivationMode.IsValid(mode)) errors["mode"] = ["The mode must be switch, boot or test."];
            if (string.IsNullOrWhiteSpace(body.Reason)) errors["reason"] = ["Say why: the reason goes into the audit trail."];
            else if (body.Reason.Length > MaxReasonLength) errors["reason"] = [$"At most {MaxReasonLength} characters."];
            else if (!IsPlainReason(body.Reason))
                errors["reason"] = ["A reason is one line of plain text: no control characters, and no `...` or $(...), which only command injection uses."];
            if (string.IsNullOrWhiteSpace(body.Profile)) errors["profile"] = ["Which profile: one the host's generations list shows."];
            if (errors.Count > 0) return TypedResults.ValidationProblem(errors);

            GenerationsService.Listing listing;
            try { listing = await generations.LastOrNewAsync(host, ct); }
            catch (Exception e) when (e is OperationFailedException or HostNotTrustedException or Shared.Execution.SshException)
            {
                return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status502BadGateway, title: "The host could not be read");
            }
            var (target, error) = GenerationValidation.CheckRollback(listing.Report.Profiles, body.Profile, generation, mode);
            if (target is null)
            {
                var field = error!.Contains("profile", StringComparison.OrdinalIgnoreCase) && !error.Contains("generation", StringComparison.OrdinalIgnoreCase) ? "profile"
                    : error.Contains("mode", StringComparison.OrdinalIgnoreCase) ? "mode" : "generation";
                return TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [error] });
            }

            var parameters = new RollbackHandler.Parameters(target.Profile.Profile, target.To.Number, mode, body.Reason!, body.ReactivateOnFailure ?? false);
            try
            {
                var op = await queue.EnqueueChangeAsync(RollbackHandler.KindName, host, parameters, http.Actor(), ct);
                await audit.RecordAsync(http.Actor(), "generation.rollback.request", HostService.HostTarget(host), new
                {
                    operationId = op.Id, parameters.Profile, from = target.From?.StorePath, to = target.To.StorePath, parameters.Mode, parameters.Reason,
                }, "queued", ct);
                return TypedResults.Accepted($"/api/v1/operations/{op.Id}", new HostsApi.OperationAccepted(op.Id));
            }
            catch (HostBusyException e)
            {
                await audit.RecordAsync(http.Actor(), "generation.rollback.request", HostService.HostTarget(host), new { parameters.Profile, parameters.Reason }, $"refused: {e.Message}", ct);
                return TypedResults.Conflict(new ProblemDetails { Title = "The host is busy", Detail = e.Message, Status = StatusCodes.Status409Conflict });
            }
        }).RequireAuthorization(Policies.Operate);

        hosts.MapPost("/generations/delete", async Task<Results<Ok<DeletePreview>, Accepted<HostsApi.OperationAccepted>, NotFound, ValidationProblem, Conflict<ProblemDetails>, ProblemHttpResult>> (
            Guid id, DeleteRequest body, NixFleetDb db, GenerationsService generations, OperationQueue queue, Auditor audit, HttpContext http, CancellationToken ct) =>
        {
            if (await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct) is not { } host) return TypedResults.NotFound();
            var errors = new Dictionary<string, string[]>();
            int? keep = ReadInt(body.KeepLast, 1, 10_000, "keepLast", "Keep the last K generations: K from 1 to 10000.", errors);
            int? days = ReadInt(body.OlderThanDays, 1, GenerationPolicy.MaxDays, "olderThanDays", $"Older than D days: D from 1 to {GenerationPolicy.MaxDays}.", errors);
            if (errors.Count == 0 && (keep is null) == (days is null))
                errors["keepLast"] = ["Give exactly one of keepLast and olderThanDays."];
            if (string.IsNullOrWhiteSpace(body.Profile)) errors["profile"] = ["Which profile: one the host's generations list shows."];
            if (errors.Count > 0) return TypedResults.ValidationProblem(errors);

            GenerationsService.Listing listing;
            try { listing = await generations.ListAsync(host, ct); }
            catch (Exception e) when (e is OperationFailedException or HostNotTrustedException or Shared.Execution.SshException)
            {
                return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status502BadGateway, title: "The host could not be read");
            }
            var profile = GenerationValidation.FindProfile(listing.Report.Profiles, body.Profile);
            if (profile is null) return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["profile"] = ["The profile is not one of the host's profiles."] });
            var policy = keep is { } k ? GenerationPolicy.KeepLast(k) : GenerationPolicy.OlderThanDays(days!.Value);
            var doomed = GenerationPolicy.Preview(profile, policy, DateTimeOffset.UtcNow);
            var preview = new DeletePreview(profile.Profile, policy.Spec, doomed.Select(g => g.Number).ToList(),
                profile.Generations.Where(g => !doomed.Contains(g)).Select(g => g.Number).ToList());
            if (body.DryRun ?? true) return TypedResults.Ok(preview);

            try
            {
                var op = await queue.EnqueueChangeAsync(DeleteGenerationsHandler.KindName, host,
                    new DeleteGenerationsHandler.Parameters(profile.Profile, keep, days, preview.WouldDelete), http.Actor(), ct);
                await audit.RecordAsync(http.Actor(), "generation.delete.request", HostService.HostTarget(host), new { operationId = op.Id, preview }, "queued", ct);
                return TypedResults.Accepted($"/api/v1/operations/{op.Id}", new HostsApi.OperationAccepted(op.Id));
            }
            catch (HostBusyException e)
            {
                return TypedResults.Conflict(new ProblemDetails { Title = "The host is busy", Detail = e.Message, Status = StatusCodes.Status409Conflict });
            }
        }).RequireAuthorization(Policies.Operate);

        return api;
    }

    /// <summary>
    /// The reason is stored and shown, never run; still, what only an injection attempt would
    /// contain (control characters, terminal escapes, command substitution) is refused so the
    /// audit trail stays plain text that is safe to paste into a terminal.
    /// </summary>
    public static bool IsPlainReason(string reason) =>
        !reason.Any(char.IsControl) && !reason.Contains('`') && !reason.Contains("$(");

    public sealed record DeletePreview(string Profile, string Policy, IReadOnlyList<int> WouldDelete, IReadOnlyList<int> Kept);

    static int? ReadInt(JsonElement? value, int min, int max, string field, string message, Dictionary<string, string[]> errors)
    {
        if (value is not { ValueKind: not JsonValueKind.Null } v) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) && n >= min && n <= max) return n;
        errors[field] = [message];
        return null;
    }
}
