using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Operations;
using Quartz;

namespace NixFleet.Web.Features.Maintenance;

/// <summary>
/// Maintenance policies: rows in maintenance_policies, each with a cron trigger in Quartz's
/// clustered store (so it survives restarts and fires on one node). A firing records a
/// maintenance_runs row keyed by (policy, scheduled time) together with its "gc-batch" operation.
/// </summary>
public sealed class MaintenancePolicies(NixFleetDb db, ISchedulerFactory schedulers, Auditor audit)
{
    public const string JobGroup = "maintenance";

    public sealed record PolicyRequest(
        string? Name, string? Tag, string? Cron, string? Mode, JsonElement? OlderThanDays, JsonElement? KeepLast,
        IReadOnlyList<string?>? Profiles, JsonElement? OnlyWhenFreeBelowPercent, bool? OptimiseWeekly, JsonElement? Parallelism, bool? Enabled);

    public sealed record RunDto(DateTimeOffset ScheduledFor, DateTimeOffset FiredAt, Guid OperationId, string Status, string? Error, long? BytesFreed, DateTimeOffset? FinishedAt);

    public sealed record PolicyDto(
        Guid Id, string Name, string? Tag, string Cron, string Mode, int? OlderThanDays, int? KeepLast, IReadOnlyList<string> Profiles,
        int? OnlyWhenFreeBelowPercent, bool OptimiseWeekly, int Parallelism, bool Enabled, DateTimeOffset? NextRunAt,
        IReadOnlyList<RunDto> LastRuns, IReadOnlyList<string> Warnings, string UpdatedBy, DateTimeOffset UpdatedAt);

    public abstract record Outcome
    {
        public sealed record Saved(PolicyDto Policy) : Outcome;
        public sealed record Invalid(Dictionary<string, string[]> Errors) : Outcome;
        public sealed record NotFound : Outcome;
    }

    public async Task<List<PolicyDto>> ListAsync(CancellationToken ct)
    {
        var policies = await db.MaintenancePolicies.AsNoTracking().OrderBy(p => p.Name).ToListAsync(ct);
        var runs = await LastRunsAsync(policies.Select(p => p.Id).ToList(), 5, ct);
        return policies.Select(p => ToDto(p, runs.GetValueOrDefault(p.Id) ?? [])).ToList();
    }

    public async Task<PolicyDto?> GetAsync(Guid id, int runs, CancellationToken ct)
    {
        var p = await db.MaintenancePolicies.AsNoTracking().FirstOrDefaultAsync(x => x.Id == id, ct);
        return p is null ? null : ToDto(p, (await LastRunsAsync([id], runs, ct)).GetValueOrDefault(id) ?? []);
    }

    public async Task<Outcome> CreateAsync(PolicyRequest body, string actor, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        var policy = new MaintenancePolicy { Name = "", Cron = "", GcMode = "", UpdatedBy = actor };
        if (!Apply(policy, body, errors)) return new Outcome.Invalid(errors);
        if (await db.MaintenancePolicies.AnyAsync(p => p.Name == policy.Name, ct))
            return new Outcome.Invalid(new() { ["name"] = ["A policy with this name exists."] });
        db.MaintenancePolicies.Add(policy);
        await db.SaveChangesAsync(ct);
        await ScheduleAsync(await schedulers.GetScheduler(ct), policy, ct);
        await audit.RecordAsync(actor, "maintenance.policy.create", PolicyTarget(policy), Describe(policy), "ok", ct);
        return new Outcome.Saved(ToDto(policy, []));
    }

    public async Task<Outcome> UpdateAsync(Guid id, PolicyRequest body, string actor, CancellationToken ct)
    {
        var policy = await db.MaintenancePolicies.FirstOrDefaultAsync(p => p.Id == id, ct);
        if (policy is null) return new Outcome.NotFound();
        var before = Describe(policy);
        var errors = new Dictionary<string, string[]>();
        if (!Apply(policy, body, errors)) return new Outcome.Invalid(errors);
        if (await db.MaintenancePolicies.AnyAsync(p => p.Name == policy.Name && p.Id != id, ct))
            return new Outcome.Invalid(new() { ["name"] = ["A policy with this name exists."] });
        policy.UpdatedBy = actor;
        policy.UpdatedAt = DateTimeOffset.UtcNow;
        await db.SaveChangesAsync(ct);
        await ScheduleAsync(await schedulers.GetScheduler(ct), policy, ct);
        await audit.RecordAsync(actor, "maintenance.policy.update", PolicyTarget(policy), new { before, after = Describe(policy) }, "ok", ct);
        return new Outcome.Saved((await GetAsync(id, 5, ct))!);
    }

    public async Task<bool> DeleteAsync(Guid id, string actor, CancellationToken ct)
    {
        var policy = await db.MaintenancePolicies.FirstOrDefaultAsync(p => p.Id == id, ct);
        if (policy is null) return false;
        db.MaintenancePolicies.Remove(policy);
        await db.SaveChangesAsync(ct);
        await (await schedulers.GetScheduler(ct)).DeleteJob(JobKeyFor(id), ct);
        await audit.RecordAsync(actor, "maintenance.policy.delete", PolicyTarget(policy), Describe(policy), "ok", ct);
        return true;
    }

    /// <summary>Checks the request and copies it onto the policy; false with <paramref name="errors"/> when it is refused.</summary>
    static bool Apply(MaintenancePolicy policy, PolicyRequest body, Dictionary<string, string[]> errors)
    {
        var (gc, free, parallelism) = Read(body, errors);
        if (errors.Count > 0 || gc is null) return false;
        var tag = string.IsNullOrWhiteSpace(body.Tag) ? null : body.Tag;

        policy.Name = body.Name!.Trim();
        policy.Tag = tag;
        policy.Cron = body.Cron!.Trim();
        policy.GcMode = gc.Mode;
        policy.OlderThanDays = gc.OlderThanDays;
        policy.KeepLast = gc.KeepLast;
        policy.Profiles = gc.Profiles?.ToList() ?? [];
        policy.OnlyWhenFreeBelowPercent = free;
        policy.OptimiseWeekly = body.OptimiseWeekly ?? false;
        policy.Parallelism = parallelism;
        policy.Enabled = body.Enabled ?? true;
        return true;
    }

    /// <summary>The field checks of a save, without saving (a taken name is only found when saving).</summary>
    public static Dictionary<string, string[]> Check(PolicyRequest body)
    {
        var errors = new Dictionary<string, string[]>();
        Read(body, errors);
        return errors;
    }

    static (GcHandler.Parameters? Gc, int? FreeBelow, int Parallelism) Read(PolicyRequest body, Dictionary<string, string[]> errors)
    {
        if (MaintenanceInput.NameError(body.Name) is { } nameError) errors["name"] = [nameError];
        if (MaintenanceInput.TagError(string.IsNullOrWhiteSpace(body.Tag) ? null : body.Tag) is { } tagError) errors["tag"] = [tagError];
        if (MaintenanceInput.CronError(body.Cron) is { } cronError) errors["cron"] = [cronError];
        var gc = MaintenanceInput.ReadGc(new(body.Mode, body.OlderThanDays, body.KeepLast, body.Profiles, false), errors, forPolicy: true);
        var free = MaintenanceInput.ReadPercent(body.OnlyWhenFreeBelowPercent, "onlyWhenFreeBelowPercent", errors);
        var parallelism = MaintenanceInput.ReadParallelism(body.Parallelism, 4, errors);
        return (gc, free, parallelism);
    }

    /// <summary>What one firing runs.</summary>
    public static GcBatchHandler.Parameters RunParameters(MaintenancePolicy p) => new(
        null, p.Tag, new GcHandler.Parameters(p.GcMode, p.OlderThanDays, p.KeepLast, p.Profiles, false, p.OnlyWhenFreeBelowPercent),
        p.OptimiseWeekly, p.Parallelism, p.Id);

    public static DateTimeOffset? NextRun(MaintenancePolicy p, DateTimeOffset after)
    {
        if (!p.Enabled) return null;
        try { return new CronExpression(p.Cron, TimeZoneInfo.Utc).GetNextValidTimeAfter(after); }
        catch (FormatException) { return null; }
    }

    public static JobKey JobKeyFor(Guid policyId) => new(policyId.ToString(), JobGroup);

    /// <summary>The policy's trigger as its row says: replaced when enabled, removed when not.</summary>
    public static async Task ScheduleAsync(IScheduler scheduler, MaintenancePolicy policy, CancellationToken ct)
    {
        var key = JobKeyFor(policy.Id);
        if (!policy.Enabled)
        {
            await scheduler.DeleteJob(key, ct);
            return;
        }
        var job = JobBuilder.Create<PolicyFireJob>()
            .WithIdentity(key)
            .UsingJobData(PolicyFireJob.PolicyIdKey, policy.Id.ToString())
            // A node that dies while recording a firing leaves it to another node: not skipped.
            .RequestRecovery()
            .Build();
        var trigger = TriggerBuilder.Create()
            .WithIdentity(policy.Id.ToString(), JobGroup)
            .ForJob(key)
            // Missed while every node was down: fire once now, so the run is late rather than lost.
            .WithCronSchedule(policy.Cron, c => c.InTimeZone(TimeZoneInfo.Utc).WithMisfireInstruction(CronTriggerMisfireInstruction.FireAndProceed))
            .Build();
        await scheduler.ScheduleJob(job, [trigger], new ScheduleJobOptions { Replace = true }, ct);
    }

    /// <summary>
    /// Makes Quartz's triggers match the table (a node may have died between saving a policy and
    /// scheduling it). Run by the reaper, on one node at a time.
    /// </summary>
    public static async Task ReconcileAsync(NixFleetDb db, IScheduler scheduler, ILogger logger, CancellationToken ct)
    {
        var policies = await db.MaintenancePolicies.AsNoTracking().ToListAsync(ct);
        var scheduled = await scheduler.GetJobKeys(GroupMatcher<JobKey>.GroupEquals(JobGroup), ct);
        foreach (var key in scheduled.Where(k => policies.All(p => !p.Enabled || JobKeyFor(p.Id) != k)))
        {
            logger.LogWarning("Removing the trigger of maintenance policy {Key}: deleted or disabled", key.Name);
            await scheduler.DeleteJob(key, ct);
        }
        foreach (var policy in policies.Where(p => p.Enabled))
        {
            var trigger = await scheduler.GetTrigger(new TriggerKey(policy.Id.ToString(), JobGroup), ct);
            if (trigger is ICronTrigger cron && cron.CronExpressionString == policy.Cron) continue;
            logger.LogWarning("Scheduling maintenance policy {Name}: its trigger was missing or out of date", policy.Name);
            await ScheduleAsync(scheduler, policy, ct);
        }
    }

    async Task<Dictionary<Guid, List<RunDto>>> LastRunsAsync(IReadOnlyList<Guid> ids, int perPolicy, CancellationToken ct)
    {
        var rows = await db.MaintenanceRuns.AsNoTracking()
            .Where(r => ids.Contains(r.PolicyId))
            .OrderByDescending(r => r.ScheduledFor)
            .Take(Math.Max(1, ids.Count) * perPolicy * 4)
            .Join(db.Operations.AsNoTracking(), r => r.OperationId, o => o.Id, (r, o) => new { r, o.Status, o.Error, o.Result, o.FinishedAt })
            .ToListAsync(ct);
        return rows.GroupBy(x => x.r.PolicyId).ToDictionary(g => g.Key, g => g.Take(perPolicy)
            .Select(x => new RunDto(x.r.ScheduledFor, x.r.FiredAt, x.r.OperationId, x.Status, x.Error, GcRunNumbers.Parse(x.Result)?.BytesFreed, x.FinishedAt)).ToList());
    }

    static PolicyDto ToDto(MaintenancePolicy p, IReadOnlyList<RunDto> runs) => new(
        p.Id, p.Name, p.Tag, p.Cron, p.GcMode, p.OlderThanDays, p.KeepLast, p.Profiles, p.OnlyWhenFreeBelowPercent, p.OptimiseWeekly,
        p.Parallelism, p.Enabled, NextRun(p, DateTimeOffset.UtcNow), runs, MaintenanceInput.Warnings(p.GcMode, p.KeepLast), p.UpdatedBy, p.UpdatedAt);

    static object Describe(MaintenancePolicy p) => new { p.Name, p.Tag, p.Cron, p.GcMode, p.OlderThanDays, p.KeepLast, p.Profiles, p.OnlyWhenFreeBelowPercent, p.OptimiseWeekly, p.Parallelism, p.Enabled };

    static string PolicyTarget(MaintenancePolicy p) => $"policy:{p.Name} ({p.Id})";
}

/// <summary>
/// One firing of a policy's trigger: records the run and queues its "gc-batch" operation in one
/// transaction. The run's key (policy, scheduled time) refuses a second record of the same firing.
/// </summary>
[DisallowConcurrentExecution]
public sealed class PolicyFireJob(NixFleetDb db, ILogger<PolicyFireJob> logger) : IJob
{
    public const string PolicyIdKey = "policyId";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken ct = default)
    {
        var id = Guid.Parse(context.MergedJobDataMap.GetString(PolicyIdKey)!);
        var policy = await db.MaintenancePolicies.AsNoTracking().FirstOrDefaultAsync(p => p.Id == id, ct);
        if (policy is null || !policy.Enabled) return;
        var scheduledFor = context.ScheduledFireTimeUtc ?? context.FireTimeUtc;
        scheduledFor = new DateTimeOffset(scheduledFor.UtcTicks - scheduledFor.UtcTicks % TimeSpan.TicksPerSecond, TimeSpan.Zero);

        var op = OperationQueue.NewOperation(GcBatchHandler.KindName, null, MaintenancePolicies.RunParameters(policy), $"policy:{policy.Name}");
        db.Operations.Add(op);
        db.MaintenanceRuns.Add(new MaintenanceRun { PolicyId = id, ScheduledFor = scheduledFor, OperationId = op.Id });
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            logger.LogInformation("Maintenance policy {Name}: the firing of {At:u} is already recorded", policy.Name, scheduledFor);
            return;
        }
        catch (DbUpdateException e) when (e.InnerException is PostgresException { SqlState: PostgresErrorCodes.ForeignKeyViolation })
        {
            logger.LogInformation("Maintenance policy {Name} was deleted as it fired; nothing runs", policy.Name);
            return;
        }
        logger.LogInformation("Maintenance policy {Name} fired for {At:u}: operation {Op}", policy.Name, scheduledFor, op.Id);
        await OperationQueue.ScheduleAsync(context.Scheduler, op.Id, ct);
    }
}
