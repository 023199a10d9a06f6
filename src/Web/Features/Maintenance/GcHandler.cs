using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Generations;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Maintenance;

/// <summary>
/// "gc": deletes the generations the mode asks for (by number, never the one that runs nor the
/// boot default), then <c>nix-store --gc</c>, as the store's owner on a single-user install and
/// as root on a multi-user one. A dry run changes nothing and says what would go and how much
/// it would free. The result compares Nix's own "freed" figure with the store's size before and
/// after (du). See docs/operations.md, "Garbage collection".
/// </summary>
public sealed class GcHandler(SshConnections connections, HostRefresher refresher, Auditor audit, ILogger<GcHandler> logger) : IOperationHandler
{
    public const string KindName = "gc";
    public string Kind => KindName;

    /// <param name="OnlyWhenFreeBelowPercent">Skip the host (a success that says so) unless /nix has less free space than this.</param>
    public sealed record Parameters(string Mode, int? OlderThanDays, int? KeepLast, IReadOnlyList<string>? Profiles, bool DryRun, int? OnlyWhenFreeBelowPercent = null)
    {
        public GcOptions Options => new(Mode, OlderThanDays, KeepLast, Profiles ?? []);
    }

    public sealed record DeletedGenerations(string Profile, IReadOnlyList<int> Generations);

    /// <param name="PathsDeleted">From Nix's summary line ("N store paths deleted").</param>
    /// <param name="BytesFreed">From Nix's summary line ("X MiB freed"), as exact as Nix printed it (<paramref name="BytesFreedRounding"/>).</param>
    /// <param name="StoreSizeBefore">du -sb /nix/store before anything was deleted.</param>
    /// <param name="WouldFree">Dry run: the NAR size of every path the GC would delete.</param>
    /// <param name="Paths">The store paths deleted (or, for a dry run, that would be), at most 1000.</param>
    /// <param name="SizeCheck">Nix's figure against the store's shrinkage, in words.</param>
    public sealed record Result(
        string Mode, bool DryRun, int PathsDeleted, long BytesFreed, long BytesFreedRounding,
        long? StoreSizeBefore, long? StoreSizeAfter, long? WouldFree, int? PathsWouldDelete,
        IReadOnlyList<DeletedGenerations> Generations, IReadOnlyList<string> Paths, int PathsTotal,
        double Seconds, string? SizeCheck, bool Skipped = false, string? SkipReason = null);

    /// <summary>How far a real GC got: a recovered run reports the interruption instead of guessing.</summary>
    public sealed record Checkpoint(string Phase, long? StoreSizeBefore, IReadOnlyList<DeletedGenerations> Planned);

    const string Deleting = "deleting-generations", Collecting = "collecting";
    const int PathsKept = 1000;

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var p = context.Parameters<Parameters>() ?? throw new OperationFailedException("the GC has no parameters");
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var host = await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == context.Operation.HostId, ct)
            ?? throw new OperationFailedException("the host no longer exists");
        var log = context.Log;
        var clock = Stopwatch.StartNew();
        var ssh = connections.For(host);
        var outcome = "failed";
        object? auditDetails = null;
        try
        {
            var facts = await refresher.KnownOrFreshFactsAsync(host, log, ct);
            if (p.OnlyWhenFreeBelowPercent is { } threshold && await FreePercentAsync(ssh, log, ct) is var free && !(free < threshold))
            {
                var reason = free is null
                    ? $"the free space on /nix could not be read, so it is not known to be below {threshold}%: nothing was done"
                    : $"/nix has {free:0.#}% free, not below {threshold}%: nothing to do";
                log.Info(reason);
                outcome = "skipped";
                return Empty(p, clock) with { Skipped = true, SkipReason = reason };
            }

            var result = p.DryRun
                ? await DryRunAsync(ssh, host, facts, p, log, isPart: context.Operation.ParentId is not null, ct)
                : await CollectAsync(context, ssh, host, facts, p, db, ct);
            result = result with { Seconds = Math.Round(clock.Elapsed.TotalSeconds, 1) };
            outcome = "succeeded";
            auditDetails = new { result.PathsDeleted, result.BytesFreed, result.StoreSizeBefore, result.StoreSizeAfter, result.WouldFree, result.Generations };
            return result;
        }
        catch (SshException e)
        {
            var cp = context.Checkpoint<Checkpoint>();
            var message = cp is null
                ? $"{host.Name}: {e.Message}; nothing was deleted"
                : $"interrupted: the connection to {host.Name} was lost during {Describe(cp.Phase)} ({e.Message}). Paths Nix deleted before that are gone; the store's size is read again at the next refresh.";
            outcome = "interrupted";
            throw new OperationFailedException(message, cp is null ? null : Empty(p, clock) with { StoreSizeBefore = cp.StoreSizeBefore, Generations = cp.Planned });
        }
        catch (OperationFailedException e)
        {
            outcome = e.Message.StartsWith("interrupted", StringComparison.Ordinal) ? "interrupted" : "failed";
            throw;
        }
        finally
        {
            if (!p.DryRun)
            {
                // After an interruption or a failure the chart still gets the store's real size (a success refreshed already).
                if (!ct.IsCancellationRequested && outcome is not ("succeeded" or "skipped")) await refresher.RefreshAsync(host.Id, log, CancellationToken.None);
                await audit.RecordAsync(context.Operation.RequestedBy, "store.gc", HostService.HostTarget(host),
                    new { operationId = context.Operation.Id, p.Mode, p.OlderThanDays, p.KeepLast, p.Profiles, result = auditDetails }, outcome, CancellationToken.None);
            }
        }
    }

    async Task<Result> DryRunAsync(IRemoteShell ssh, FleetHost host, HostFacts facts, Parameters p, OperationLog log, bool isPart, CancellationToken ct)
    {
        var plan = await PlanAsync(ssh, p, log, isPart, ct);
        var doomedLinks = plan.SelectMany(d => d.Links).ToList();
        foreach (var d in plan) log.Info($"would delete generations {string.Join(", ", d.Generations)} of {d.Profile}");

        var deadNow = StoreOutput.StorePaths((await NixAsync(ssh, host, facts, StoreCommands.PrintDead(), log, ct)).StdOut);
        IReadOnlyList<string> wouldDie = deadNow;
        if (doomedLinks.Count > 0)
        {
            var closureOfDoomed = await ClosureAsync(ssh, host, facts, doomedLinks, log, ct);
            var roots = StoreOutput.RootTargets((await NixAsync(ssh, host, facts, StoreCommands.PrintRoots(), log, ct)).StdOut, doomedLinks);
            var closureOfKept = roots.Count == 0 ? [] : await ClosureAsync(ssh, host, facts, roots, log, ct);
            wouldDie = GcPlanner.WouldDie(deadNow, closureOfDoomed, closureOfKept);
        }

        long wouldFree = 0;
        foreach (var chunk in wouldDie.Chunk(StoreCommands.PathsPerCommand))
        {
            var r = await NixAsync(ssh, host, facts, StoreCommands.Sizes(chunk), null, ct);
            wouldFree += StoreOutput.Numbers(r.StdOut).Sum();
        }

        log.Info($"dry run: {wouldDie.Count} store path(s) would be deleted, freeing about {HostRefresher.Bytes(wouldFree)}; nothing was changed");
        return new Result(p.Mode, true, 0, 0, 0, null, null, wouldFree, wouldDie.Count,
            plan.Select(d => new DeletedGenerations(d.Profile, d.Generations)).ToList(), wouldDie.Take(PathsKept).ToList(), wouldDie.Count, 0, null);
    }

    async Task<Result> CollectAsync(OperationContext context, IRemoteShell ssh, FleetHost host, HostFacts facts, Parameters p, NixFleetDb db, CancellationToken ct)
    {
        var log = context.Log;
        var lockOwner = context.Operation.Id.ToString("N");
        // Already held after a recovery: the lost attempt took it under the same id.
        await HostCommands.TakeHostLockAsync(ssh, db, lockOwner, log, logger, ct);
        try
        {
            if (context.IsRecovery && context.Checkpoint<Checkpoint>() is { } interrupted)
            {
                // The node running it died mid-way. Nix's GC is safe to stop at any point, but what it
                // deleted is not known: report the interruption and the store as it is now, do not start over.
                var now = await StoreSizeAsync(ssh, log, ct);
                throw new OperationFailedException(
                    $"interrupted: NixFleet stopped during {Describe(interrupted.Phase)}; the store is {HostRefresher.Bytes(now)} now " +
                    $"(it was {HostRefresher.Bytes(interrupted.StoreSizeBefore)}). Nothing was repeated; run the GC again to finish it.",
                    Empty(p, Stopwatch.StartNew()) with { StoreSizeBefore = interrupted.StoreSizeBefore, StoreSizeAfter = now, Generations = interrupted.Planned });
            }

            var plan = await PlanAsync(ssh, p, log, isPart: context.Operation.ParentId is not null, ct);
            var before = await StoreSizeAsync(ssh, log, ct);
            var planned = plan.Select(d => new DeletedGenerations(d.Profile, d.Generations)).ToList();
            await context.SaveCheckpointAsync(new Checkpoint(Deleting, before, planned), ct);

            foreach (var d in plan)
            {
                var r = await HostCommands.RunLoggedAsync(ssh,
                    RollbackCommands.ForHost(facts, host.User, RollbackCommands.DeleteGenerationNumbers(d.Profile, d.Generations), d.Owner), log, ct);
                if (r.ExitCode != 0)
                    throw new OperationFailedException($"nix-env --delete-generations on {d.Profile} exited {r.ExitCode}: {r.StdErr.Trim()}. Nothing was collected.");
            }

            await context.SaveCheckpointAsync(new Checkpoint(Collecting, before, planned), ct);
            var gc = await NixAsync(ssh, host, facts, StoreCommands.CollectGarbage(), log, ct);
            var summary = StoreOutput.ParseGcSummary(gc.StdOut) ?? StoreOutput.ParseGcSummary(gc.StdErr);
            if (gc.ExitCode != 0 || summary is null)
                throw new OperationFailedException($"nix-store --gc exited {gc.ExitCode}{(summary is null ? " without its summary line" : "")}: {LastLines(gc.StdErr)}");
            var rounding = StoreOutput.Rounding(StoreOutput.GcSummarySize(gc.StdOut) ?? StoreOutput.GcSummarySize(gc.StdErr) ?? "");
            var deleted = StoreOutput.DeletedPaths(gc.StdErr);
            // The facts refresh measures the store as du does: the chart's point and the "after" in one.
            var after = (await refresher.RefreshAsync(host.Id, log, ct)).Facts?.StoreSizeBytes ?? await StoreSizeAsync(ssh, log, ct);

            await CheckProtectedAsync(ssh, plan, log, ct);
            var check = SizeCheck(summary.BytesFreed, before, after);
            log.Info($"{summary.PathsDeleted} store path(s) deleted, {HostRefresher.Bytes(summary.BytesFreed)} freed; {check}");
            return new Result(p.Mode, false, summary.PathsDeleted, summary.BytesFreed, rounding, before, after, null, null,
                planned, deleted.Take(PathsKept).ToList(), deleted.Count, 0, check);
        }
        finally
        {
            await HostCommands.ReleaseHostLockAsync(ssh, lockOwner, logger, CancellationToken.None);
        }
    }

    /// <summary>The generations to delete, from a fresh listing of the host's profiles.</summary>
    static async Task<IReadOnlyList<ProfileDeletion>> PlanAsync(IRemoteShell ssh, Parameters p, OperationLog log, bool isPart, CancellationToken ct)
    {
        if (p.Mode == GcMode.Plain) return [];
        var report = await GenerationsService.ProbeAsync(ssh, ct);
        var missing = GcPlanner.MissingProfiles(report.Profiles, p.Options);
        if (missing.Count > 0)
        {
            var names = string.Join(", ", missing);
            // One host asked by name: a wrong profile is a mistake to fix. Part of a fleet run: hosts differ.
            if (!isPart) throw new OperationFailedException($"no such profile on this host: {names}. Nothing was deleted.");
            log.Info($"not on this host, skipped: {names}");
        }
        return GcPlanner.GenerationsToDelete(report.Profiles, p.Options, DateTimeOffset.UtcNow);
    }

    /// <summary>After deleting: every generation that ran or would boot is still there.</summary>
    static async Task CheckProtectedAsync(IRemoteShell ssh, IReadOnlyList<ProfileDeletion> plan, OperationLog log, CancellationToken ct)
    {
        if (plan.Count == 0) return;
        var report = await GenerationsService.ProbeAsync(ssh, ct);
        foreach (var d in plan)
        {
            var profile = GenerationValidation.FindProfile(report.Profiles, d.Profile);
            var left = profile?.Generations.Select(g => g.Number).ToList() ?? [];
            var still = d.Generations.Intersect(left).ToList();
            if (still.Count > 0) throw new OperationFailedException($"generations {string.Join(", ", still)} of {d.Profile} are still there after deleting them");
            log.Info($"{d.Profile}: kept generations {string.Join(", ", left.Order())}");
        }
    }

    static async Task<IReadOnlyList<string>> ClosureAsync(IRemoteShell ssh, FleetHost host, HostFacts facts, IReadOnlyList<string> paths, OperationLog log, CancellationToken ct)
    {
        var closure = new HashSet<string>(StringComparer.Ordinal);
        foreach (var chunk in paths.Chunk(StoreCommands.PathsPerCommand))
        {
            var r = await NixAsync(ssh, host, facts, StoreCommands.Requisites(chunk), null, ct);
            if (r.ExitCode != 0) throw new OperationFailedException($"nix-store --query --requisites exited {r.ExitCode}: {LastLines(r.StdErr)}");
            closure.UnionWith(StoreOutput.StorePaths(r.StdOut));
        }
        log.Info($"closure of {paths.Count} path(s): {closure.Count} store path(s)");
        return closure.ToList();
    }

    /// <summary>Runs a Nix command as the right user; logs it (and its output) when a log is given.</summary>
    static async Task<CommandResult> NixAsync(IRemoteShell ssh, FleetHost host, HostFacts facts, IReadOnlyList<string> command, OperationLog? log, CancellationToken ct)
    {
        var argv = NixLocator.Command(facts, host.User, command[0], command.Skip(1));
        if (log is not null) return await HostCommands.RunLoggedAsync(ssh, argv, log, ct);
        return await ssh.RunAsync(argv, null, null, ct);
    }

    /// <summary>du -sb /nix/store; null when it cannot tell (then the result says so).</summary>
    public static async Task<long?> StoreSizeAsync(IRemoteShell ssh, OperationLog log, CancellationToken ct)
    {
        var r = await ssh.RunAsync(StoreCommands.StoreSize(), null, null, ct);
        var bytes = r.ExitCode == 0 ? StoreOutput.DuBytes(r.StdOut) : null;
        log.Info(bytes is null ? $"store size unknown: du exited {r.ExitCode}" : $"store size: {bytes} bytes ({HostRefresher.Bytes(bytes)})");
        return bytes;
    }

    /// <summary>Free space on /nix in percent, as df says now.</summary>
    public static async Task<double?> FreePercentAsync(IRemoteShell ssh, OperationLog log, CancellationToken ct)
    {
        var r = await ssh.RunAsync(StoreCommands.DiskSpace(), null, null, ct);
        if (StoreOutput.DiskSpace(r.StdOut) is not { Size: > 0 } space) return null;
        var percent = 100.0 * space.Free / space.Size;
        log.Info($"/nix: {HostRefresher.Bytes(space.Free)} free of {HostRefresher.Bytes(space.Size)} ({percent:0.#}%)");
        return percent;
    }

    /// <summary>
    /// Nix counts the bytes of the files it deleted; du counts the whole store, directories
    /// included, and other processes may add to it meanwhile. They should agree to within
    /// Nix's rounding plus a few directory entries per path.
    /// </summary>
    public static string SizeCheck(long bytesFreed, long? before, long? after)
    {
        if (before is not { } b || after is not { } a) return "the store's size could not be measured before and after";
        var shrank = b - a;
        var difference = Math.Abs(shrank - bytesFreed);
        var agrees = difference <= Math.Max(64 * 1024, bytesFreed / 20);
        return $"the store shrank by {HostRefresher.Bytes(shrank)} ({shrank} bytes, du -sb){(agrees ? ", which agrees" : $", which differs by {HostRefresher.Bytes(difference)}: something else changed the store meanwhile, or Nix counted hard-linked files")}";
    }

    static Result Empty(Parameters p, Stopwatch clock) =>
        new(p.Mode, p.DryRun, 0, 0, 0, null, null, null, null, [], [], 0, Math.Round(clock.Elapsed.TotalSeconds, 1), null);

    static string Describe(string phase) => phase == Deleting ? "the deletion of old generations" : "nix-store --gc";

    static string LastLines(string text) => string.Join(" / ", text.Trim().Split('\n').TakeLast(3));
}
