using System.Text.Json;
using NixFleet.Web.Data;

namespace NixFleet.Web.Features.Audit;

/// <summary>Appends to the audit table (the database refuses updates and deletes there).</summary>
public sealed class Auditor(IServiceScopeFactory scopes)
{
    public async Task RecordAsync(string actor, string action, string target, object? details, string result, CancellationToken ct = default)
    {
        // A scope of its own: an audit row must land even when the caller's unit of work is rolled back.
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<NixFleetDb>();
        db.Audit.Add(new AuditEntry
        {
            Actor = actor,
            Action = action,
            Target = target,
            Details = details is null ? null : JsonSerializer.Serialize(details, JsonSerializerOptions.Web),
            Result = result,
        });
        await db.SaveChangesAsync(ct);
    }
}
