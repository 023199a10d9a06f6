using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Generations;

/// <summary>
/// Reads a host's profiles and generations (one SSH round trip) and keeps the last listing, which
/// is what rollback and delete requests are checked against before anything is queued. The API
/// and the pages both ask for rollbacks and deletions here, so both check and audit alike.
/// </summary>
public sealed class GenerationsService(NixFleetDb db, SshConnections connections, HostRefresher refresher, OperationQueue queue, Auditor audit)
{
    public sealed record Listing(GenerationsReport Report, DateTimeOffset CollectedAt);

    public const int MaxReasonLength = 1000;
    public const int MaxKeepLast = 10_000;
    public const string BadGeneration = "A generation is a whole number from 1 to 2147483647 (omit it for the previous generation).";
    public const string BadKeepLast = "Keep the last K generations: K from 1 to 10000.";
    public static readonly string BadOlderThanDays = $"Older than D days: D from 1 to {GenerationPolicy.MaxDays}.";

    /// <param name="Generation">Null for the previous generation (what <c>nix-env --rollback</c> picks).</param>
    public sealed record RollbackInput(string? Profile, long? Generation, string? Mode, string? Reason, bool ReactivateOnFailure);

    /// <param name="Expected">
    /// The numbers the operator was shown: when the host's generations have changed since, so that
    /// the same policy would now delete others, nothing is queued (the pages pass it; the API does not).
    /// </param>
    public sealed record DeleteInput(string? Profile, int? KeepLast, int? OlderThanDays, bool DryRun, IReadOnlyList<int>? Expected = null);

    public sealed record DeletePreview(string Profile, string Policy, IReadOnlyList<int> WouldDelete, IReadOnlyList<int> Kept);

    /// <summary>What a rollback or delete request came to.</summary>
    public abstract record Outcome
    {
        public sealed record Queued(Operation Operation) : Outcome;
        /// <summary>Errors by field (the API's names: profile, generation, mode, reason, keepLast, olderThanDays).</summary>
        public sealed record Invalid(Dictionary<string, string[]> Errors) : Outcome;
        public sealed record Unreadable(string Message) : Outcome;
        public sealed record Busy(string Message) : Outcome;
        public sealed record Previewed(DeletePreview Preview, ProfileGenerations Profile) : Outcome;
        /// <summary>The same policy now deletes other generations than <see cref="DeleteInput.Expected"/>: nothing was queued.</summary>
        public sealed record PreviewChanged(DeletePreview Preview, ProfileGenerations Profile) : Outcome;
    }

    /// <summary>The host could not be read (not trusted, unreachable, a probe that failed): a message for the user, not a crash.</summary>
    public static bool CouldNotRead(Exception e) => e is OperationFailedException or HostNotTrustedException or SshException;

    /// <summary>
    /// The reason is stored and shown, never run; still, what only an injection attempt would
    /// contain (control characters, terminal escapes, command substitution) is refused so the
    /// audit trail stays plain text that is safe to paste into a terminal.
    /// </summary>
    public static bool IsPlainReason(string reason) =>
        !reason.Any(char.IsControl) && !reason.Contains('`') && !reason.Contains("$(");

    /// <summary>Why the reason is refused, or null.</summary>
    public static string? ReasonError(string? reason) =>
        string.IsNullOrWhiteSpace(reason) ? "Say why: the reason goes into the audit trail."
        : reason.Length > MaxReasonLength ? $"At most {MaxReasonLength} characters."
        : !IsPlainReason(reason) ? "A reason is one line of plain text: no control characters, and no `...` or $(...), which only command injection uses."
        : null;

    /// <summary>
    /// Checks a rollback against the host's last listing and queues it (with the host's lock), or
    /// says why not. <paramref name="readErrors"/> holds what the caller could not read from the
    /// request (a generation that is no number); the rest is checked here.
    /// </summary>
    public async Task<Outcome> RequestRollbackAsync(FleetHost host, RollbackInput input, Dictionary<string, string[]> readErrors, string actor, CancellationToken ct)
    {
        var errors = readErrors;
        if (input.Generation is { } n && !GenerationValidation.IsGenerationNumber(n)) errors["generation"] = [BadGeneration];
        var mode = input.Mode ?? ActivationMode.Switch;
        if (!ActivationMode.IsValid(mode)) errors["mode"] = ["The mode must be switch, boot or test."];
        if (ReasonError(input.Reason) is { } reasonError) errors["reason"] = [reasonError];
        if (string.IsNullOrWhiteSpace(input.Profile)) errors["profile"] = ["Which profile: one the host's generations list shows."];
        if (errors.Count > 0) return new Outcome.Invalid(errors);

        Listing listing;
        try { listing = await LastOrNewAsync(host, ct); }
        catch (Exception e) when (CouldNotRead(e)) { return new Outcome.Unreadable(e.Message); }
        var (target, error) = GenerationValidation.CheckRollback(listing.Report.Profiles, input.Profile, input.Generation, mode);
        if (target is null)
        {
            var field = error!.Contains("profile", StringComparison.OrdinalIgnoreCase) && !error.Contains("generation", StringComparison.OrdinalIgnoreCase) ? "profile"
                : error.Contains("mode", StringComparison.OrdinalIgnoreCase) ? "mode" : "generation";
            return new Outcome.Invalid(new Dictionary<string, string[]> { [field] = [error] });
        }

        var parameters = new RollbackHandler.Parameters(target.Profile.Profile, target.To.Number, mode, input.Reason!, input.ReactivateOnFailure);
        try
        {
            var op = await queue.EnqueueChangeAsync(RollbackHandler.KindName, host, parameters, actor, ct);
            await audit.RecordAsync(actor, "generation.rollback.request", HostService.HostTarget(host), new
            {
                operationId = op.Id, parameters.Profile, from = target.From?.StorePath, to = target.To.StorePath, parameters.Mode, parameters.Reason,
            }, "queued", ct);
            return new Outcome.Queued(op);
        }
        catch (HostBusyException e)
        {
            await audit.RecordAsync(actor, "generation.rollback.request", HostService.HostTarget(host), new { parameters.Profile, parameters.Reason }, $"refused: {e.Message}", ct);
            return new Outcome.Busy(e.Message);
        }
    }

    /// <summary>
    /// What a deletion policy would delete on a fresh listing (a dry run), or the deletion of
    /// exactly that queued. <paramref name="readErrors"/> holds what the caller could not read.
    /// </summary>
    public async Task<Outcome> RequestDeleteAsync(FleetHost host, DeleteInput input, Dictionary<string, string[]> readErrors, string actor, CancellationToken ct)
    {
        var errors = readErrors;
        var (keep, days) = (input.KeepLast, input.OlderThanDays);
        if (keep is < 1 or > MaxKeepLast) errors["keepLast"] = [BadKeepLast];
        if (days is < 1 || days > GenerationPolicy.MaxDays) errors["olderThanDays"] = [BadOlderThanDays];
        if (errors.Count == 0 && (keep is null) == (days is null))
            errors["keepLast"] = ["Give exactly one of keepLast and olderThanDays."];
        if (string.IsNullOrWhiteSpace(input.Profile)) errors["profile"] = ["Which profile: one the host's generations list shows."];
        if (errors.Count > 0) return new Outcome.Invalid(errors);

        Listing listing;
        try { listing = await ListAsync(host, ct); }
        catch (Exception e) when (CouldNotRead(e)) { return new Outcome.Unreadable(e.Message); }
        var profile = GenerationValidation.FindProfile(listing.Report.Profiles, input.Profile);
        if (profile is null) return new Outcome.Invalid(new Dictionary<string, string[]> { ["profile"] = ["The profile is not one of the host's profiles."] });
        var policy = keep is { } k ? GenerationPolicy.KeepLast(k) : GenerationPolicy.OlderThanDays(days!.Value);
        var doomed = GenerationPolicy.Preview(profile, policy, DateTimeOffset.UtcNow);
        var preview = new DeletePreview(profile.Profile, policy.Spec, doomed.Select(g => g.Number).ToList(),
            profile.Generations.Where(g => !doomed.Contains(g)).Select(g => g.Number).ToList());
        if (input.DryRun) return new Outcome.Previewed(preview, profile);
        if (input.Expected is { } expected && !expected.Order().SequenceEqual(preview.WouldDelete.Order()))
            return new Outcome.PreviewChanged(preview, profile);

        try
        {
            var op = await queue.EnqueueChangeAsync(DeleteGenerationsHandler.KindName, host,
                new DeleteGenerationsHandler.Parameters(profile.Profile, keep, days, preview.WouldDelete), actor, ct);
            await audit.RecordAsync(actor, "generation.delete.request", HostService.HostTarget(host), new { operationId = op.Id, preview }, "queued", ct);
            return new Outcome.Queued(op);
        }
        catch (HostBusyException e)
        {
            return new Outcome.Busy(e.Message);
        }
    }

    public sealed record BatchRollbackInput(IReadOnlyList<Guid>? HostIds, string? Tag, string? Profile, int? Generation, string? Mode, string? Reason, bool ReactivateOnFailure, int Parallelism);

    /// <summary>The hosts a fleet-wide rollback would touch: the given ids, or those with the tag.</summary>
    public Task<List<FleetHost>> BatchHostsAsync(IReadOnlyList<Guid>? hostIds, string? tag, CancellationToken ct) =>
        hostIds is { Count: > 0 }
            ? db.Hosts.AsNoTracking().Where(h => hostIds.Contains(h.Id)).OrderBy(h => h.Name).ToListAsync(ct)
            : string.IsNullOrWhiteSpace(tag)
                ? Task.FromResult(new List<FleetHost>())
                : db.Hosts.AsNoTracking().Where(h => h.Tags.Contains(tag)).OrderBy(h => h.Name).ToListAsync(ct);

    /// <summary>Checks a fleet-wide rollback and queues it: one rollback per host, run with a parallelism limit.</summary>
    public async Task<Outcome> RequestBatchRollbackAsync(BatchRollbackInput input, Dictionary<string, string[]> readErrors, string actor, CancellationToken ct)
    {
        var errors = readErrors;
        var hosts = await BatchHostsAsync(input.HostIds, input.Tag, ct);
        if (hosts.Count == 0 || (input.HostIds is { Count: > 0 } ids && hosts.Count != ids.Distinct().Count()))
            errors["hostIds"] = ["Choose hosts that exist: hostIds, or a tag that some hosts have."];
        if (input.Generation is { } n && !GenerationValidation.IsGenerationNumber(n)) errors["generation"] = [BadGeneration];
        if (input.Parallelism is < 1 or > 32) errors["parallelism"] = ["Parallelism is 1 to 32 hosts at a time."];
        var mode = input.Mode ?? ActivationMode.Switch;
        if (!ActivationMode.IsValid(mode)) errors["mode"] = ["The mode must be switch, boot or test."];
        var profile = string.IsNullOrWhiteSpace(input.Profile) ? NixLocator.SystemProfile : input.Profile;
        if (!profile.StartsWith('/') || profile.Any(char.IsControl)) errors["profile"] = ["A profile is an absolute path, as the generations list shows it."];
        if (ReasonError(input.Reason) is { } reasonError) errors["reason"] = [reasonError];
        if (errors.Count > 0) return new Outcome.Invalid(errors);

        var parameters = new RollbackBatchHandler.Parameters(hosts.Select(h => h.Id).ToList(), profile, input.Generation, mode, input.Reason!, input.ReactivateOnFailure, input.Parallelism);
        var op = await queue.EnqueueAsync(RollbackBatchHandler.KindName, null, parameters, actor, ct);
        await audit.RecordAsync(actor, "generation.rollback.batch", input.Tag is { Length: > 0 } t && input.HostIds is not { Count: > 0 } ? $"tag:{t}" : $"{hosts.Count} hosts",
            new { operationId = op.Id, hosts = hosts.Select(h => h.Name), parameters.Profile, parameters.Generation, parameters.Mode, parameters.Reason }, "queued", ct);
        return new Outcome.Queued(op);
    }

    public async Task<Listing> ListAsync(FleetHost host, CancellationToken ct)
    {
        var report = await ProbeAsync(connections.For(host), ct);
        var now = DateTimeOffset.UtcNow;
        var json = JsonSerializer.Serialize(report, JsonSerializerOptions.Web);
        await db.Database.ExecuteSqlInterpolatedAsync(
            $"""INSERT INTO generation_listings ("HostId", "CollectedAt", "Report") VALUES ({host.Id}, {now}, {json}::jsonb) ON CONFLICT ("HostId") DO UPDATE SET "CollectedAt" = EXCLUDED."CollectedAt", "Report" = EXCLUDED."Report" """, ct);
        return new Listing(report, now);
    }

    /// <summary>The last listing, or a new one when there is none yet.</summary>
    public async Task<Listing> LastOrNewAsync(FleetHost host, CancellationToken ct)
    {
        var row = await db.GenerationListings.AsNoTracking().FirstOrDefaultAsync(l => l.HostId == host.Id, ct);
        return row is null
            ? await ListAsync(host, ct)
            : new Listing(JsonSerializer.Deserialize<GenerationsReport>(row.Report, JsonSerializerOptions.Web)!, row.CollectedAt);
    }

    public static async Task<GenerationsReport> ProbeAsync(IRemoteShell ssh, CancellationToken ct)
    {
        var result = await ssh.RunScriptAsync(GenerationsProbe.Script, null, null, ct);
        if (result.ExitCode != 0)
            throw new OperationFailedException($"listing generations failed (exit {result.ExitCode}): {result.StdErr.Trim()}");
        return GenerationsParser.ParseReport(result.StdOut);
    }

    /// <summary>Packages added, removed and changed between two generations of a profile, and the closure size change.</summary>
    public async Task<ClosureDiff> DiffAsync(FleetHost host, ProfileGenerations profile, Generation from, Generation to, CancellationToken ct)
    {
        var ssh = connections.For(host);
        var facts = await refresher.KnownOrFreshFactsAsync(host, null, ct);
        var argv = RollbackCommands.ForHost(facts, host.User, RollbackCommands.DiffClosures(from.StorePath, to.StorePath));
        var result = await ssh.RunAsync(argv, null, null, ct);
        if (result.ExitCode != 0)
            throw new OperationFailedException($"nix store diff-closures failed (exit {result.ExitCode}): {result.StdErr.Trim()}");
        return DiffClosures.Parse(result.StdOut);
    }

}
