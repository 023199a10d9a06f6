using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Maintenance;

/// <summary>"optimise": <c>nix-store --optimise</c> (hard-links identical files), as the store's owner.</summary>
public sealed class OptimiseHandler(SshConnections connections, HostRefresher refresher, Auditor audit, ILogger<OptimiseHandler> logger) : IOperationHandler
{
    public const string KindName = "optimise";
    public string Kind => KindName;

    /// <param name="BytesFreed">Nix's "X freed by hard-linking N files", as exact as it printed it.</param>
    public sealed record Result(long BytesFreed, int FilesLinked, long? StoreSizeBefore, long? StoreSizeAfter, double Seconds);

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var host = await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == context.Operation.HostId, ct)
            ?? throw new OperationFailedException("the host no longer exists");
        var log = context.Log;
        var clock = Stopwatch.StartNew();
        var ssh = connections.For(host);
        var lockOwner = context.Operation.Id.ToString("N");
        Result? result = null;
        try
        {
            var facts = await refresher.KnownOrFreshFactsAsync(host, log, ct);
            await HostCommands.TakeHostLockAsync(ssh, db, lockOwner, log, logger, ct);
            try
            {
                // Optimising again after an interruption is harmless: files already linked are skipped.
                var before = await GcHandler.StoreSizeAsync(ssh, log, ct);
                var command = StoreCommands.Optimise();
                var r = await HostCommands.RunLoggedAsync(ssh, NixLocator.Command(facts, host.User, command[0], command.Skip(1)), log, ct);
                var summary = StoreOutput.ParseOptimise(r.StdErr) ?? StoreOutput.ParseOptimise(r.StdOut);
                if (r.ExitCode != 0 || summary is null)
                    throw new OperationFailedException($"nix-store --optimise exited {r.ExitCode}{(summary is null ? " without its summary line" : "")}: {r.StdErr.Trim()}");
                var after = (await refresher.RefreshAsync(host.Id, log, ct)).Facts?.StoreSizeBytes ?? await GcHandler.StoreSizeAsync(ssh, log, ct);
                result = new Result(summary.BytesFreed, summary.FilesLinked, before, after, Math.Round(clock.Elapsed.TotalSeconds, 1));
                log.Info($"{HostRefresher.Bytes(summary.BytesFreed)} freed by hard-linking {summary.FilesLinked} file(s)");
                return result;
            }
            finally
            {
                await HostCommands.ReleaseHostLockAsync(ssh, lockOwner, logger, CancellationToken.None);
            }
        }
        catch (SshException e)
        {
            throw new OperationFailedException($"interrupted: {host.Name}: {e.Message}. Files already hard-linked stay linked; run it again to finish.");
        }
        finally
        {
            if (!ct.IsCancellationRequested && result is null) await refresher.RefreshAsync(host.Id, log, CancellationToken.None);
            await audit.RecordAsync(context.Operation.RequestedBy, "store.optimise", HostService.HostTarget(host),
                new { operationId = context.Operation.Id, result }, result is null ? "failed" : "succeeded", CancellationToken.None);
        }
    }
}
