using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Accounts;
using NixFleet.Web.Features.Audit;

namespace NixFleet.Web.Features.Operations;

public static class OperationsApi
{
    public sealed record OperationDto(
        Guid Id, string Kind, Guid? HostId, Guid? ParentId, string Status, string? Error, JsonElement? Result, JsonElement? Parameters,
        string RequestedBy, DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, int Attempt)
    {
        public static OperationDto From(Operation o) => new(
            o.Id, o.Kind, o.HostId, o.ParentId, o.Status, o.Error, Parse(o.Result), Parse(o.Parameters),
            o.RequestedBy, o.CreatedAt, o.StartedAt, o.FinishedAt, o.Attempt);

        static JsonElement? Parse(string? json) => json is null ? null : JsonDocument.Parse(json).RootElement.Clone();
    }

    public sealed record LineDto(int Seq, string Stream, string Text, DateTimeOffset At);

    public static RouteGroupBuilder MapOperationsApi(this RouteGroupBuilder api)
    {
        var ops = api.MapGroup("/operations").WithTags("Operations");

        ops.MapGet("/", async (NixFleetDb db, Guid? hostId, Guid? parentId, string? status, int? limit, CancellationToken ct) =>
        {
            var q = db.Operations.AsNoTracking();
            if (hostId is { } h) q = q.Where(o => o.HostId == h);
            if (parentId is { } parent) q = q.Where(o => o.ParentId == parent);
            if (!string.IsNullOrEmpty(status)) q = q.Where(o => o.Status == status);
            var list = await q.OrderByDescending(o => o.CreatedAt).Take(Math.Clamp(limit ?? 50, 1, 500)).ToListAsync(ct);
            return TypedResults.Ok(list.Select(OperationDto.From));
        }).RequireAuthorization(Policies.View);

        ops.MapGet("/{id:guid}", async Task<Results<Ok<OperationDto>, NotFound>> (Guid id, NixFleetDb db, CancellationToken ct) =>
            await db.Operations.AsNoTracking().FirstOrDefaultAsync(o => o.Id == id, ct) is { } o
                ? TypedResults.Ok(OperationDto.From(o)) : TypedResults.NotFound()).RequireAuthorization(Policies.View);

        ops.MapGet("/{id:guid}/log", async Task<Results<Ok<List<LineDto>>, NotFound>> (Guid id, int? after, NixFleetDb db, CancellationToken ct) =>
        {
            if (!await db.Operations.AnyAsync(o => o.Id == id, ct)) return TypedResults.NotFound();
            return TypedResults.Ok(await Lines(db, id, after ?? 0, 100_000, ct));
        }).RequireAuthorization(Policies.View);

        ops.MapGet("/{id:guid}/stream", (Guid id, HttpContext http, IServiceScopeFactory scopes, CancellationToken ct) =>
            TypedResults.ServerSentEvents(Tail(id, LastEventId(http), scopes, ct)))
            .RequireAuthorization(Policies.View);

        ops.MapPost("/{id:guid}/cancel", async Task<Results<Accepted, Conflict<string>>> (Guid id, OperationQueue queue, Auditor audit, HttpContext http, CancellationToken ct) =>
        {
            var ok = await queue.CancelAsync(id, http.Actor(), ct);
            await audit.RecordAsync(http.Actor(), "operation.cancel", $"operation:{id}", null, ok ? "ok" : "refused: not queued or running", ct);
            return ok ? TypedResults.Accepted($"/api/v1/operations/{id}") : TypedResults.Conflict("The operation is not queued or running.");
        }).RequireAuthorization(Policies.Operate);

        return api;
    }

    public static int LastEventId(HttpContext http) =>
        int.TryParse(http.Request.Headers["Last-Event-ID"].ToString(), out var v) ? v
        : int.TryParse(http.Request.Query["after"].ToString(), out var a) ? a : 0;

    public static Task<List<LineDto>> Lines(NixFleetDb db, Guid id, int after, int max, CancellationToken ct) =>
        db.OperationLines.AsNoTracking()
            .Where(l => l.OperationId == id && l.Seq > after)
            .OrderBy(l => l.Seq).Take(max)
            .Select(l => new LineDto(l.Seq, l.Stream, l.Text, l.At))
            .ToListAsync(ct);

    /// <summary>
    /// Live output: a throttled tail of the stored lines (so every node, and a reconnecting browser
    /// with Last-Event-ID, sees the same thing), then a "status" event and an "end" once finished.
    /// </summary>
    public static async IAsyncEnumerable<SseItem<string>> Tail(Guid id, int after, IServiceScopeFactory scopes, [EnumeratorCancellation] CancellationToken ct)
    {
        string? lastStatus = null;
        while (!ct.IsCancellationRequested)
        {
            List<LineDto> lines;
            Operation? op;
            await using (var scope = scopes.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<NixFleetDb>();
                op = await db.Operations.AsNoTracking().FirstOrDefaultAsync(o => o.Id == id, ct);
                lines = await Lines(db, id, after, 1000, ct);
            }
            if (op is null) yield break;
            foreach (var l in lines)
            {
                after = l.Seq;
                yield return new SseItem<string>(JsonSerializer.Serialize(l, JsonSerializerOptions.Web), "line") { EventId = l.Seq.ToString() };
            }
            if (op.Status != lastStatus)
            {
                lastStatus = op.Status;
                yield return new SseItem<string>(JsonSerializer.Serialize(OperationDto.From(op), JsonSerializerOptions.Web), "status");
            }
            // Finished, and every stored line sent: the stream is complete.
            if (OperationStatus.IsFinished(op.Status) && lines.Count == 0)
            {
                yield return new SseItem<string>(op.Status, "end");
                yield break;
            }
            if (lines.Count == 0) await Task.Delay(400, ct);
        }
    }
}
