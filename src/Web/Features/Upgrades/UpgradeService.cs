using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Upgrades;

/// <summary>
/// Upgrade requests and their approval: the rules hold here, so the API and the pages cannot
/// differ. A request starts exactly once, when enough distinct Approvers other than the requester
/// approved its current content; the start is a compare-and-set on the request's status.
/// </summary>
public sealed class UpgradeService(NixFleetDb db, OperationQueue queue, Auditor audit, Webhooks webhooks)
{
    public const int MaxHosts = 1000;
    public const int MaxPauseSeconds = 24 * 3600;

    public sealed record ChannelInput(string? Name, string? Url);

    public sealed record RequestInput(
        IReadOnlyList<Guid>? HostIds, string? Tag, ChannelInput? Channel, string? Action, JsonElement? Canary, JsonElement? BatchSize,
        JsonElement? Parallelism, JsonElement? PauseSeconds, string? HealthCommand, bool? AutoRollback, string? Reason, DateTimeOffset? NotAfter = null);

    public abstract record Outcome
    {
        public sealed record Ok(UpgradeRequest Request) : Outcome;
        public sealed record Invalid(Dictionary<string, string[]> Errors) : Outcome;
        public sealed record Forbidden(string Message) : Outcome;
        public sealed record Conflict(string Message) : Outcome;
        public sealed record NotFound : Outcome;
        /// <summary>An operation was queued (rolling back every host that took an upgrade).</summary>
        public sealed record Queued(Operation Operation) : Outcome;
    }

    /// <summary>What a request would be (its hosts in waves, the approvals it needs), checked but not saved: the form's review step.</summary>
    public sealed record Draft(UpgradeRequest Request, IReadOnlyList<UpgradeHost> Waves);

    public async Task<Draft?> DraftAsync(RequestInput input, string actor, bool allowFileUrls, Dictionary<string, string[]> errors, CancellationToken ct)
    {
        var request = new UpgradeRequest { Reason = "", RequestedBy = actor, ChannelName = "", ChannelUrl = "", Action = "", Hash = "" };
        return await ApplyAsync(request, input, errors, allowFileUrls, ct) ? new Draft(request, Waves(request).ToList()) : null;
    }

    public async Task<Outcome> CreateAsync(RequestInput input, string actor, bool allowFileUrls, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (await DraftAsync(input, actor, allowFileUrls, errors, ct) is not { } draft) return new Outcome.Invalid(errors);
        var request = draft.Request;
        db.Upgrades.Add(request);
        db.UpgradeHosts.AddRange(draft.Waves);
        await db.SaveChangesAsync(ct);
        await audit.RecordAsync(actor, "upgrade.request", Target(request), Describe(request), "pending", ct);
        await webhooks.SendAsync("requested", request, actor, null, ct);
        await PreviewAsync(request, actor, ct);
        return new Outcome.Ok(request);
    }

    /// <summary>Changes a pending request; approvals given for its earlier content no longer count.</summary>
    public async Task<Outcome> UpdateAsync(Guid id, RequestInput input, string actor, bool allowFileUrls, CancellationToken ct)
    {
        var request = await db.Upgrades.FirstOrDefaultAsync(r => r.Id == id, ct);
        if (request is null) return new Outcome.NotFound();
        if (request.Status != UpgradeStatus.Pending) return new Outcome.Conflict($"the request is {request.Status}: only a pending request can change");
        if (request.RequestedBy != actor) return new Outcome.Forbidden("only the requester can change a request");
        var errors = new Dictionary<string, string[]>();
        var before = request.Hash;
        if (!await ApplyAsync(request, input, errors, allowFileUrls, ct)) return new Outcome.Invalid(errors);
        request.Revision++;
        request.UpdatedAt = DateTimeOffset.UtcNow;
        await db.UpgradeHosts.Where(h => h.RequestId == id).ExecuteDeleteAsync(ct);
        db.UpgradeHosts.AddRange(Waves(request));
        await db.SaveChangesAsync(ct);
        await audit.RecordAsync(actor, "upgrade.change", Target(request), new { before, after = request.Hash, request = Describe(request) }, "pending", ct);
        await PreviewAsync(request, actor, ct);
        return new Outcome.Ok(request);
    }

    /// <summary>
    /// Records an approval (a user counts once) and starts the rollout when enough valid approvals
    /// are in. The requester cannot approve; the caller checked the Approver role.
    /// </summary>
    public async Task<Outcome> ApproveAsync(Guid id, string actor, CancellationToken ct)
    {
        var request = await db.Upgrades.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id, ct);
        if (request is null) return new Outcome.NotFound();
        if (request.RequestedBy == actor)
        {
            await audit.RecordAsync(actor, "upgrade.approve", Target(request), new { request.Hash }, "refused: the requester cannot approve their own request", ct);
            return new Outcome.Forbidden("you requested this upgrade: someone else must approve it");
        }
        if (request.Status != UpgradeStatus.Pending) return new Outcome.Conflict($"the request is {request.Status}: there is nothing to approve");

        var ttl = await TtlAsync(request, ct);
        var now = DateTimeOffset.UtcNow;
        await db.Database.ExecuteSqlInterpolatedAsync($"""
            INSERT INTO upgrade_approvals ("RequestId", "Approver", "Hash", "At", "ExpiresAt")
            VALUES ({id}, {actor}, {request.Hash}, {now}, {now + ttl})
            ON CONFLICT ("RequestId", "Approver", "Hash") DO UPDATE SET "At" = EXCLUDED."At", "ExpiresAt" = EXCLUDED."ExpiresAt"
            """, ct);
        await audit.RecordAsync(actor, "upgrade.approve", Target(request), new { request.Hash, expiresAt = now + ttl }, "approved", ct);
        await webhooks.SendAsync("approved", request, actor, null, ct);
        await TryStartAsync(id, ct);
        return new Outcome.Ok((await db.Upgrades.AsNoTracking().FirstAsync(r => r.Id == id, ct)));
    }

    public async Task<Outcome> RejectAsync(Guid id, string? reason, string actor, CancellationToken ct)
    {
        if (GenerationsReason(reason) is { } error) return new Outcome.Invalid(new() { ["reason"] = [error] });
        var request = await db.Upgrades.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id, ct);
        if (request is null) return new Outcome.NotFound();
        var changed = await db.Upgrades.Where(r => r.Id == id && r.Status == UpgradeStatus.Pending)
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, UpgradeStatus.Rejected).SetProperty(r => r.DecidedBy, actor)
                .SetProperty(r => r.DecisionReason, reason).SetProperty(r => r.FinishedAt, DateTimeOffset.UtcNow), ct);
        if (changed == 0) return new Outcome.Conflict($"the request is {request.Status}: it can no longer be rejected");
        await audit.RecordAsync(actor, "upgrade.reject", Target(request), new { reason }, "rejected", ct);
        await webhooks.SendAsync("rejected", request, actor, reason, ct);
        return new Outcome.Ok(await db.Upgrades.AsNoTracking().FirstAsync(r => r.Id == id, ct));
    }

    /// <summary>Abort (pending or running), pause or resume a rollout.</summary>
    public async Task<Outcome> ControlAsync(Guid id, string action, string actor, CancellationToken ct)
    {
        var (from, to) = action switch
        {
            "abort" => (new[] { UpgradeStatus.Pending, UpgradeStatus.Running, UpgradeStatus.Paused }, UpgradeStatus.Aborted),
            "pause" => (new[] { UpgradeStatus.Running }, UpgradeStatus.Paused),
            "resume" => (new[] { UpgradeStatus.Paused }, UpgradeStatus.Running),
            _ => throw new ArgumentOutOfRangeException(nameof(action)),
        };
        var request = await db.Upgrades.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id, ct);
        if (request is null) return new Outcome.NotFound();
        var changed = await db.Upgrades.Where(r => r.Id == id && from.Contains(r.Status))
            .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, to).SetProperty(r => r.UpdatedAt, DateTimeOffset.UtcNow)
                .SetProperty(r => r.FinishedAt, r => to == UpgradeStatus.Aborted && r.OperationId == null ? DateTimeOffset.UtcNow : r.FinishedAt), ct);
        if (changed == 0) return new Outcome.Conflict($"the request is {request.Status}: it cannot {action}");
        await audit.RecordAsync(actor, $"upgrade.{action}", Target(request), null, to, ct);
        return new Outcome.Ok(await db.Upgrades.AsNoTracking().FirstAsync(r => r.Id == id, ct));
    }

    /// <summary>
    /// Every host that took the upgrade goes back to the generation it ran before, as one
    /// rollback-batch operation (the request's action and parallelism). The API and the page both use this.
    /// </summary>
    public async Task<Outcome> RollBackAllAsync(Guid id, string? reason, string actor, CancellationToken ct)
    {
        if (await db.Upgrades.AsNoTracking().FirstOrDefaultAsync(u => u.Id == id, ct) is not { } u) return new Outcome.NotFound();
        var took = await db.UpgradeHosts.AsNoTracking()
            .Where(h => h.RequestId == id && h.Status == UpgradeHostStatus.Succeeded && h.FromGeneration != null && h.Profile != null).ToListAsync(ct);
        if (took.Count == 0) return new Outcome.Conflict("No host took this upgrade: there is nothing to roll back.");
        reason = string.IsNullOrWhiteSpace(reason) ? $"roll back upgrade {id}" : reason;
        var op = await queue.EnqueueAsync(Generations.RollbackBatchHandler.KindName, null, new Generations.RollbackBatchHandler.Parameters(
            took.Select(h => h.HostId).ToList(), "", null, u.Action, reason, false, u.Parallelism,
            took.Select(h => new Generations.RollbackBatchHandler.HostTarget(h.HostId, h.Profile!, h.FromGeneration!.Value)).ToList()), actor, ct);
        // Marked now, so a second click finds nothing left to roll back; the operation tells how each host went.
        var ids = took.Select(h => h.HostId).ToList();
        await db.UpgradeHosts.Where(h => h.RequestId == id && ids.Contains(h.HostId))
            .ExecuteUpdateAsync(s => s.SetProperty(h => h.Status, UpgradeHostStatus.RollingBack).SetProperty(h => h.RollbackOperationId, op.Id), ct);
        await audit.RecordAsync(actor, "upgrade.rollback", Target(u), new { operationId = op.Id, hosts = took.Count, reason }, "queued", ct);
        return new Outcome.Queued(op);
    }

    /// <summary>
    /// Queues a preview on the first host to be upgraded (a canary if there is one): the new system
    /// built, not activated, and its difference with what runs, for the approvers to read.
    /// </summary>
    async Task PreviewAsync(UpgradeRequest request, string actor, CancellationToken ct)
    {
        var first = request.CanaryHostIds.FirstOrDefault();
        if (first == Guid.Empty)
            first = await db.UpgradeHosts.AsNoTracking().Where(h => h.RequestId == request.Id).OrderBy(h => h.Wave)
                .Join(db.Hosts, u => u.HostId, h => h.Id, (u, h) => new { u.Wave, h.Name, h.Id }).OrderBy(x => x.Wave).ThenBy(x => x.Name).Select(x => x.Id).FirstOrDefaultAsync(ct);
        if (first == Guid.Empty) return;
        var op = await queue.EnqueueAsync(UpgradePreviewHandler.KindName, first, new UpgradePreviewHandler.Parameters(request.Id), actor, ct);
        request.PreviewOperationId = op.Id;
        await db.Upgrades.Where(r => r.Id == request.Id).ExecuteUpdateAsync(s => s.SetProperty(r => r.PreviewOperationId, op.Id), ct);
    }

    /// <summary>Approvals that count now: for the current content, not expired, not the requester's.</summary>
    public async Task<List<UpgradeApproval>> ValidApprovalsAsync(UpgradeRequest request, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        return await db.UpgradeApprovals.AsNoTracking()
            .Where(a => a.RequestId == request.Id && a.Hash == request.Hash && a.ExpiresAt > now && a.Approver != request.RequestedBy)
            .OrderBy(a => a.At).ToListAsync(ct);
    }

    /// <summary>Starts the rollout if enough approvals count; the status CAS makes it happen once.</summary>
    async Task TryStartAsync(Guid id, CancellationToken ct)
    {
        var request = await db.Upgrades.AsNoTracking().FirstAsync(r => r.Id == id, ct);
        if (request.Status != UpgradeStatus.Pending) return;
        var valid = await ValidApprovalsAsync(request, ct);
        if (valid.Select(a => a.Approver).Distinct().Count() < request.RequiredApprovals) return;
        if (request.NotAfter is { } notAfter && DateTimeOffset.UtcNow > notAfter)
        {
            // Never late: the request waits for a decision (a new window, or a rejection).
            await audit.RecordAsync("nixfleet", "upgrade.window-missed", Target(request), new { notAfter }, "pending", ct);
            return;
        }

        var op = OperationQueue.NewOperation(UpgradeRolloutHandler.KindName, null, new UpgradeRolloutHandler.Parameters(id), $"upgrade:{id}");
        var strategy = db.Database.CreateExecutionStrategy();
        var started = await strategy.ExecuteAsync(async () =>
        {
            db.ChangeTracker.Clear();
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            var won = await db.Upgrades.Where(r => r.Id == id && r.Status == UpgradeStatus.Pending && r.Hash == request.Hash)
                .ExecuteUpdateAsync(s => s.SetProperty(r => r.Status, UpgradeStatus.Running).SetProperty(r => r.ApprovedHash, request.Hash)
                    .SetProperty(r => r.OperationId, op.Id).SetProperty(r => r.StartedAt, DateTimeOffset.UtcNow), ct);
            if (won == 0) { await tx.RollbackAsync(ct); return false; }
            db.Operations.Add(op);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            return true;
        });
        if (!started) return;
        await queue.ScheduleExistingAsync(op.Id, ct);
        await audit.RecordAsync("nixfleet", "upgrade.start", Target(request),
            new { operationId = op.Id, approvers = valid.Select(a => a.Approver).Distinct(), request.Hash }, "running", ct);
    }

    /// <summary>Checks the input and copies it onto the request (hosts resolved now, hash recomputed).</summary>
    async Task<bool> ApplyAsync(UpgradeRequest r, RequestInput input, Dictionary<string, string[]> errors, bool allowFileUrls, CancellationToken ct)
    {
        var tag = string.IsNullOrWhiteSpace(input.Tag) ? null : input.Tag;
        if (Maintenance.MaintenanceInput.TagError(tag) is { } tagError) errors["tag"] = [tagError];
        var ids = input.HostIds?.Distinct().ToList() ?? [];
        if ((ids.Count > 0) == (tag is not null)) errors["hostIds"] = ["Choose the hosts one way: hostIds or a tag."];
        if (ids.Count > MaxHosts) errors["hostIds"] = [$"At most {MaxHosts} hosts."];
        if (!ChannelCommands.IsChannelName(input.Channel?.Name))
            errors["channel.name"] = ["A channel name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (for example nixos)."];
        if (ChannelCommands.UrlError(input.Channel?.Url, allowFileUrls) is { } urlError) errors["channel.url"] = [urlError];
        if (input.Action is not (ActivationMode.Switch or ActivationMode.Boot)) errors["action"] = ["The action must be switch or boot."];
        var batch = Maintenance.MaintenanceInput.ReadInt(input.BatchSize, "batchSize", "A batch is 1 to 1000 hosts.", errors) ?? 5;
        if (batch is < 1 or > MaxHosts) errors["batchSize"] = ["A batch is 1 to 1000 hosts."];
        var parallelism = Maintenance.MaintenanceInput.ReadParallelism(input.Parallelism, 2, errors);
        var pause = Maintenance.MaintenanceInput.ReadInt(input.PauseSeconds, "pauseSeconds", $"Pause 0 to {MaxPauseSeconds} seconds.", errors) ?? 0;
        if (pause is < 0 or > MaxPauseSeconds) errors["pauseSeconds"] = [$"Pause 0 to {MaxPauseSeconds} seconds."];
        var health = string.IsNullOrWhiteSpace(input.HealthCommand) ? null : input.HealthCommand;
        if (health is not null && (health.Length > 500 || health.Any(char.IsControl)))
            errors["healthCommand"] = ["The health command is one line of at most 500 characters (run with sh -c as root on each host)."];
        if (GenerationsReason(input.Reason) is { } reasonError) errors["reason"] = [reasonError];
        if (input.NotAfter is { } notAfter && notAfter <= DateTimeOffset.UtcNow) errors["notAfter"] = ["The window must end in the future."];

        var hosts = errors.ContainsKey("hostIds") || errors.ContainsKey("tag") ? [] :
            tag is not null
                ? await db.Hosts.AsNoTracking().Where(h => h.Tags.Contains(tag)).Select(h => h.Id).ToListAsync(ct)
                : await db.Hosts.AsNoTracking().Where(h => ids.Contains(h.Id)).Select(h => h.Id).ToListAsync(ct);
        if (!errors.ContainsKey("hostIds") && !errors.ContainsKey("tag"))
        {
            if (hosts.Count == 0) errors[tag is null ? "hostIds" : "tag"] = ["No hosts: the request would upgrade nothing."];
            else if (tag is null && hosts.Count != ids.Count) errors["hostIds"] = [$"{ids.Count - hosts.Count} of the host ids are not hosts."];
        }
        var canary = ReadCanary(input.Canary, hosts, errors);
        if (errors.Count > 0) return false;

        r.HostIds = hosts.Order().ToList();
        r.Tag = tag;
        r.ChannelName = input.Channel!.Name!;
        r.ChannelUrl = input.Channel.Url!;
        r.Action = input.Action!;
        r.CanaryHostIds = canary;
        r.BatchSize = batch;
        r.Parallelism = parallelism;
        r.PauseSeconds = pause;
        r.HealthCommand = health;
        r.AutoRollback = input.AutoRollback ?? false;
        r.NotAfter = input.NotAfter?.ToUniversalTime();
        r.Reason = input.Reason!.Trim();
        r.Hash = HashOf(r);
        r.RequiredApprovals = await RequiredApprovalsAsync(r.HostIds, ct);
        return true;
    }

    /// <summary>"canary": a number of hosts (the first by name) or a list of host ids among the request's hosts.</summary>
    List<Guid> ReadCanary(JsonElement? value, List<Guid> hosts, Dictionary<string, string[]> errors)
    {
        if (value is not { ValueKind: not JsonValueKind.Null } v) return [];
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) && n >= 0 && n <= hosts.Count)
        {
            var names = db.Hosts.AsNoTracking().Where(h => hosts.Contains(h.Id)).OrderBy(h => h.Name).Select(h => h.Id).Take(n).ToList();
            return names;
        }
        if (v.ValueKind == JsonValueKind.Array)
        {
            var list = new List<Guid>();
            foreach (var e in v.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.String || !Guid.TryParse(e.GetString(), out var g) || !hosts.Contains(g))
                {
                    errors["canary"] = ["Canary hosts must be among the request's hosts."];
                    return [];
                }
                list.Add(g);
            }
            return list.Distinct().ToList();
        }
        errors["canary"] = ["canary is a number of hosts (0 to the number of hosts) or a list of host ids."];
        return [];
    }

    /// <summary>The hosts in waves: canaries (wave 0), then batches of BatchSize by host name.</summary>
    IEnumerable<UpgradeHost> Waves(UpgradeRequest r)
    {
        var names = db.Hosts.AsNoTracking().Where(h => r.HostIds.Contains(h.Id)).ToDictionary(h => h.Id, h => h.Name);
        foreach (var id in r.CanaryHostIds) yield return new UpgradeHost { RequestId = r.Id, HostId = id, Wave = 0 };
        var rest = r.HostIds.Except(r.CanaryHostIds).OrderBy(id => names.GetValueOrDefault(id)).ToList();
        for (var i = 0; i < rest.Count; i++) yield return new UpgradeHost { RequestId = r.Id, HostId = rest[i], Wave = 1 + i / r.BatchSize };
    }

    /// <summary>The most any policy for one of the hosts' tags asks, else the fleet-wide policy's, else 1.</summary>
    async Task<int> RequiredApprovalsAsync(IReadOnlyList<Guid> hostIds, CancellationToken ct)
    {
        var tags = (await db.Hosts.AsNoTracking().Where(h => hostIds.Contains(h.Id)).Select(h => h.Tags).ToListAsync(ct)).SelectMany(t => t).Distinct().ToList();
        var policies = await db.ApprovalPolicies.AsNoTracking().Where(p => p.Tag == null || tags.Contains(p.Tag)).ToListAsync(ct);
        return policies.Count == 0 ? 1 : Math.Max(1, policies.Max(p => p.RequiredApprovals));
    }

    async Task<TimeSpan> TtlAsync(UpgradeRequest r, CancellationToken ct)
    {
        var tags = (await db.Hosts.AsNoTracking().Where(h => r.HostIds.Contains(h.Id)).Select(h => h.Tags).ToListAsync(ct)).SelectMany(t => t).Distinct().ToList();
        var policies = await db.ApprovalPolicies.AsNoTracking().Where(p => p.Tag == null || tags.Contains(p.Tag)).ToListAsync(ct);
        return TimeSpan.FromMinutes(policies.Count == 0 ? 24 * 60 : policies.Min(p => p.ApprovalTtlMinutes));
    }

    /// <summary>What an approval is for: every field that decides what happens to the hosts.</summary>
    public static string HashOf(UpgradeRequest r)
    {
        var content = JsonSerializer.Serialize(new
        {
            hostIds = r.HostIds.Order().ToList(), r.Tag, r.ChannelName, r.ChannelUrl, r.Action, canary = r.CanaryHostIds.Order().ToList(),
            r.BatchSize, r.Parallelism, r.PauseSeconds, r.HealthCommand, r.AutoRollback, r.Reason, r.NotAfter,
        }, JsonSerializerOptions.Web);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(content)));
    }

    static string? GenerationsReason(string? reason) => Generations.GenerationsService.ReasonError(reason);

    public static string Target(UpgradeRequest r) => $"upgrade:{r.Id}";

    static object Describe(UpgradeRequest r) => new
    {
        r.HostIds, r.Tag, channel = new { name = r.ChannelName, url = r.ChannelUrl }, r.Action, canary = r.CanaryHostIds, r.BatchSize,
        r.Parallelism, r.PauseSeconds, r.HealthCommand, r.AutoRollback, r.Reason, r.NotAfter, r.Hash, r.RequiredApprovals,
    };
}
