using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Accounts;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Generations;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Upgrades;

public static class UpgradesApi
{
    public sealed record ApprovalDto(string Approver, DateTimeOffset At, DateTimeOffset ExpiresAt, bool Counts);

    public sealed record UpgradeHostDto(
        Guid HostId, string? Host, int Wave, string Status, string? Profile, int? FromGeneration, int? ToGeneration,
        string? FromStorePath, string? ToStorePath, string? Error, Guid? OperationId, Guid? RollbackOperationId);

    public sealed record UpgradeDto(
        Guid Id, string Status, string Reason, string RequestedBy, IReadOnlyList<Guid> HostIds, string? Tag, UpgradeService.ChannelInput Channel,
        string Action, IReadOnlyList<Guid> Canary, int BatchSize, int Parallelism, int PauseSeconds, string? HealthCommand, bool AutoRollback,
        string Hash, int Revision, int RequiredApprovals, IReadOnlyList<ApprovalDto> Approvals, IReadOnlyList<UpgradeHostDto> Hosts,
        Guid? OperationId, string? DecidedBy, string? DecisionReason, DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt,
        Guid? PreviewOperationId = null, DateTimeOffset? NotAfter = null);

    public sealed record ChannelRequest(string? Name, string? Url);
    public sealed record ChannelUpdateRequest(string? Name);
    public sealed record ChannelRollbackRequest(int? Generation);
    public sealed record RejectRequest(string? Reason);
    public sealed record ChannelBatchRequest(IReadOnlyList<Guid>? HostIds, string? Tag, string? Action, string? Name, string? Url, int? Generation, JsonElement? Parallelism);
    public sealed record ApprovalPolicyDto(string? Tag, int RequiredApprovals, int ApprovalTtlMinutes);

    public static RouteGroupBuilder MapUpgradesApi(this RouteGroupBuilder api)
    {
        var hosts = api.MapGroup("/hosts/{id:guid}/channels").WithTags("Channels");

        hosts.MapGet("/", async Task<Results<Ok<IReadOnlyList<ChannelsReport>>, NotFound, ProblemHttpResult>> (Guid id, ChannelService channels, CancellationToken ct) =>
        {
            if (await channels.HostAsync(id, ct) is not { } host) return TypedResults.NotFound();
            try { return TypedResults.Ok(await channels.ReadAsync(host, ct)); }
            catch (Exception e) when (e is OperationFailedException or HostNotTrustedException or Shared.Execution.SshException)
            {
                return TypedResults.Problem(e.Message, statusCode: StatusCodes.Status502BadGateway, title: "The host could not be read");
            }
        }).RequireAuthorization(Policies.View);

        hosts.MapPost("/", (Guid id, ChannelRequest body, ChannelService channels, HttpContext http, IOptions<NixFleetOptions> o, CancellationToken ct) =>
            ChangeAsync(id, new ChannelChangeHandler.Parameters("add", body.Name, body.Url, null), channels, http, o, ct)).RequireAuthorization(Policies.Operate);

        hosts.MapDelete("/", (Guid id, string? name, ChannelService channels, HttpContext http, IOptions<NixFleetOptions> o, CancellationToken ct) =>
            ChangeAsync(id, new ChannelChangeHandler.Parameters("remove", name, null, null), channels, http, o, ct)).RequireAuthorization(Policies.Operate);

        hosts.MapPost("/update", (Guid id, ChannelUpdateRequest? body, ChannelService channels, HttpContext http, IOptions<NixFleetOptions> o, CancellationToken ct) =>
            ChangeAsync(id, new ChannelChangeHandler.Parameters("update", body?.Name, null, null), channels, http, o, ct)).RequireAuthorization(Policies.Operate);

        hosts.MapPost("/rollback", (Guid id, ChannelRollbackRequest? body, ChannelService channels, HttpContext http, IOptions<NixFleetOptions> o, CancellationToken ct) =>
            ChangeAsync(id, new ChannelChangeHandler.Parameters("rollback", null, null, body?.Generation), channels, http, o, ct)).RequireAuthorization(Policies.Operate);

        api.MapPost("/channel-changes", async Task<Results<Accepted<HostsApi.OperationAccepted>, ValidationProblem>> (
            ChannelBatchRequest body, ChannelService channels, HttpContext http, IOptions<NixFleetOptions> o, CancellationToken ct) =>
        {
            var parallelism = Maintenance.MaintenanceInput.ReadParallelism(body.Parallelism, 4, new Dictionary<string, string[]>());
            return await channels.RequestBatchAsync(body.HostIds, body.Tag, new ChannelChangeHandler.Parameters(body.Action ?? "", body.Name, body.Url, body.Generation),
                parallelism, http.Actor(), o.Value.AllowFileChannelUrls, ct) switch
            {
                ChannelService.Outcome.Queued q => TypedResults.Accepted($"/api/v1/operations/{q.Operation.Id}", new HostsApi.OperationAccepted(q.Operation.Id)),
                ChannelService.Outcome.Invalid i => TypedResults.ValidationProblem(i.Errors),
                var other => throw new InvalidOperationException($"unexpected outcome {other}"),
            };
        }).WithTags("Channels").RequireAuthorization(Policies.Operate);

        var upgrades = api.MapGroup("/upgrades").WithTags("Upgrades");

        upgrades.MapGet("/", async (NixFleetDb db, string? status, CancellationToken ct) =>
        {
            var q = db.Upgrades.AsNoTracking();
            if (!string.IsNullOrEmpty(status)) q = q.Where(u => u.Status == status);
            var list = await q.OrderByDescending(u => u.CreatedAt).Take(200).ToListAsync(ct);
            var dtos = new List<UpgradeDto>();
            foreach (var u in list) dtos.Add(await DtoAsync(db, u, ct));
            return TypedResults.Ok(dtos);
        }).RequireAuthorization(Policies.View);

        upgrades.MapGet("/{id:guid}", async Task<Results<Ok<UpgradeDto>, NotFound>> (Guid id, NixFleetDb db, CancellationToken ct) =>
            await db.Upgrades.AsNoTracking().FirstOrDefaultAsync(u => u.Id == id, ct) is { } u ? TypedResults.Ok(await DtoAsync(db, u, ct)) : TypedResults.NotFound())
            .RequireAuthorization(Policies.View);

        upgrades.MapPost("/", async Task<Results<Created<UpgradeDto>, ValidationProblem>> (
            UpgradeService.RequestInput body, UpgradeService service, NixFleetDb db, HttpContext http, IOptions<NixFleetOptions> o, CancellationToken ct) =>
            await service.CreateAsync(body, http.Actor(), o.Value.AllowFileChannelUrls, ct) switch
            {
                UpgradeService.Outcome.Ok ok => TypedResults.Created($"/api/v1/upgrades/{ok.Request.Id}", await DtoAsync(db, ok.Request, ct)),
                UpgradeService.Outcome.Invalid i => TypedResults.ValidationProblem(i.Errors),
                var other => throw new InvalidOperationException($"unexpected outcome {other}"),
            }).RequireAuthorization(Policies.Operate);

        upgrades.MapPut("/{id:guid}", async (Guid id, UpgradeService.RequestInput body, UpgradeService service, NixFleetDb db, HttpContext http, IOptions<NixFleetOptions> o, CancellationToken ct) =>
            await Answer(await service.UpdateAsync(id, body, http.Actor(), o.Value.AllowFileChannelUrls, ct), db, ct)).RequireAuthorization(Policies.Operate);

        upgrades.MapPost("/{id:guid}/approve", async (Guid id, UpgradeService service, NixFleetDb db, HttpContext http, CancellationToken ct) =>
            await Answer(await service.ApproveAsync(id, http.Actor(), ct), db, ct)).RequireAuthorization(Policies.Approve);

        upgrades.MapPost("/{id:guid}/reject", async (Guid id, RejectRequest? body, UpgradeService service, NixFleetDb db, HttpContext http, CancellationToken ct) =>
            await Answer(await service.RejectAsync(id, body?.Reason, http.Actor(), ct), db, ct)).RequireAuthorization(Policies.Approve);

        foreach (var action in new[] { "abort", "pause", "resume" })
            upgrades.MapPost($"/{{id:guid}}/{action}", async (Guid id, UpgradeService service, NixFleetDb db, HttpContext http, CancellationToken ct) =>
                await Answer(await service.ControlAsync(id, action, http.Actor(), ct), db, ct)).RequireAuthorization(Policies.Operate);

        upgrades.MapPost("/{id:guid}/rollback", async Task<Results<Accepted<HostsApi.OperationAccepted>, NotFound, Conflict<ProblemDetails>>> (
            Guid id, RejectRequest? body, UpgradeService service, HttpContext http, CancellationToken ct) =>
            await service.RollBackAllAsync(id, body?.Reason, http.Actor(), ct) switch
            {
                UpgradeService.Outcome.Queued q => TypedResults.Accepted($"/api/v1/operations/{q.Operation.Id}", new HostsApi.OperationAccepted(q.Operation.Id)),
                UpgradeService.Outcome.NotFound => TypedResults.NotFound(),
                UpgradeService.Outcome.Conflict c => TypedResults.Conflict(new ProblemDetails { Title = "Nothing to roll back", Detail = c.Message, Status = StatusCodes.Status409Conflict }),
                var other => throw new InvalidOperationException($"unexpected outcome {other}"),
            }).RequireAuthorization(Policies.Operate);

        var policies = api.MapGroup("/approval-policies").WithTags("Upgrades");

        policies.MapGet("/", async (NixFleetDb db, CancellationToken ct) => TypedResults.Ok(
            await db.ApprovalPolicies.AsNoTracking().OrderBy(p => p.Tag).Select(p => new ApprovalPolicyDto(p.Tag, p.RequiredApprovals, p.ApprovalTtlMinutes)).ToListAsync(ct)))
            .RequireAuthorization(Policies.View);

        policies.MapPut("/", async Task<Results<Ok<List<ApprovalPolicyDto>>, ValidationProblem>> (
            List<ApprovalPolicyDto> body, NixFleetDb db, Auditor audit, HttpContext http, CancellationToken ct) =>
        {
            var errors = new Dictionary<string, string[]>();
            for (var i = 0; i < body.Count; i++)
            {
                var p = body[i];
                if (Maintenance.MaintenanceInput.TagError(p.Tag) is { } tagError) errors[$"[{i}].tag"] = [tagError];
                if (p.RequiredApprovals is < 1 or > 20) errors[$"[{i}].requiredApprovals"] = ["1 to 20 approvers."];
                if (p.ApprovalTtlMinutes is < 1 or > 60 * 24 * 90) errors[$"[{i}].approvalTtlMinutes"] = ["1 minute to 90 days."];
            }
            if (body.GroupBy(p => p.Tag).Any(g => g.Count() > 1)) errors["tag"] = ["One policy per tag (and one fleet-wide, with no tag)."];
            if (errors.Count > 0) return TypedResults.ValidationProblem(errors);
            var before = await db.ApprovalPolicies.AsNoTracking().Select(p => new ApprovalPolicyDto(p.Tag, p.RequiredApprovals, p.ApprovalTtlMinutes)).ToListAsync(ct);
            await db.ApprovalPolicies.ExecuteDeleteAsync(ct);
            db.ApprovalPolicies.AddRange(body.Select(p => new ApprovalPolicy { Tag = p.Tag, RequiredApprovals = p.RequiredApprovals, ApprovalTtlMinutes = p.ApprovalTtlMinutes, UpdatedBy = http.Actor() }));
            await db.SaveChangesAsync(ct);
            await audit.RecordAsync(http.Actor(), "approval-policies.update", "approval-policies", new { before, after = body }, "ok", ct);
            return TypedResults.Ok(body);
        }).RequireAuthorization(Policies.Admin);

        return api;
    }

    static async Task<Results<Accepted<HostsApi.OperationAccepted>, NotFound, ValidationProblem, Conflict<ProblemDetails>>> ChangeAsync(
        Guid id, ChannelChangeHandler.Parameters change, ChannelService channels, HttpContext http, IOptions<NixFleetOptions> o, CancellationToken ct)
    {
        if (await channels.HostAsync(id, ct) is not { } host) return TypedResults.NotFound();
        return await channels.RequestAsync(host, change, http.Actor(), o.Value.AllowFileChannelUrls, ct) switch
        {
            ChannelService.Outcome.Queued q => TypedResults.Accepted($"/api/v1/operations/{q.Operation.Id}", new HostsApi.OperationAccepted(q.Operation.Id)),
            ChannelService.Outcome.Invalid i => TypedResults.ValidationProblem(i.Errors),
            ChannelService.Outcome.Busy b => TypedResults.Conflict(new ProblemDetails { Title = "The host is busy", Detail = b.Message, Status = StatusCodes.Status409Conflict }),
            var other => throw new InvalidOperationException($"unexpected outcome {other}"),
        };
    }

    static async Task<Results<Ok<UpgradeDto>, NotFound, ValidationProblem, ProblemHttpResult, Conflict<ProblemDetails>>> Answer(UpgradeService.Outcome outcome, NixFleetDb db, CancellationToken ct) => outcome switch
    {
        UpgradeService.Outcome.Ok ok => TypedResults.Ok(await DtoAsync(db, ok.Request, ct)),
        UpgradeService.Outcome.NotFound => TypedResults.NotFound(),
        UpgradeService.Outcome.Invalid i => TypedResults.ValidationProblem(i.Errors),
        UpgradeService.Outcome.Forbidden f => TypedResults.Problem(f.Message, statusCode: StatusCodes.Status403Forbidden, title: "Not allowed"),
        UpgradeService.Outcome.Conflict c => TypedResults.Conflict(new ProblemDetails { Title = "Not now", Detail = c.Message, Status = StatusCodes.Status409Conflict }),
        _ => throw new InvalidOperationException($"unexpected outcome {outcome}"),
    };

    public static async Task<UpgradeDto> DtoAsync(NixFleetDb db, UpgradeRequest u, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        var approvals = await db.UpgradeApprovals.AsNoTracking().Where(a => a.RequestId == u.Id).OrderBy(a => a.At).ToListAsync(ct);
        var rows = await db.UpgradeHosts.AsNoTracking().Where(h => h.RequestId == u.Id).ToListAsync(ct);
        var names = await db.Hosts.AsNoTracking().Where(h => u.HostIds.Contains(h.Id)).ToDictionaryAsync(h => h.Id, h => h.Name, ct);
        return new UpgradeDto(u.Id, u.Status, u.Reason, u.RequestedBy, u.HostIds, u.Tag, new(u.ChannelName, u.ChannelUrl), u.Action, u.CanaryHostIds,
            u.BatchSize, u.Parallelism, u.PauseSeconds, u.HealthCommand, u.AutoRollback, u.Hash, u.Revision, u.RequiredApprovals,
            approvals.Select(a => new ApprovalDto(a.Approver, a.At, a.ExpiresAt, a.Hash == u.Hash && a.ExpiresAt > now && a.Approver != u.RequestedBy)).ToList(),
            rows.OrderBy(h => h.Wave).ThenBy(h => names.GetValueOrDefault(h.HostId)).Select(h => new UpgradeHostDto(h.HostId, names.GetValueOrDefault(h.HostId), h.Wave, h.Status,
                h.Profile, h.FromGeneration, h.ToGeneration, h.FromStorePath, h.ToStorePath, h.Error, h.OperationId, h.RollbackOperationId)).ToList(),
            u.OperationId, u.DecidedBy, u.DecisionReason, u.CreatedAt, u.StartedAt, u.FinishedAt, u.PreviewOperationId, u.NotAfter);
    }
}
