using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Maintenance;

/// <summary>
/// "verify": <c>nix-store --verify [--check-contents] [--repair]</c>. Each path Nix reports is
/// checked again afterwards with <c>nix-store --verify-path</c>, so "repaired" means the host's
/// store says so, not that Nix tried. The operation fails while any corruption remains.
/// </summary>
public sealed class VerifyHandler(SshConnections connections, HostRefresher refresher, Auditor audit, ILogger<VerifyHandler> logger) : IOperationHandler
{
    public const string KindName = "verify";
    public string Kind => KindName;

    public sealed record Parameters(bool CheckContents, bool Repair);

    public sealed record PathFinding(string Path, string Problem, string? ExpectedHash, string? ActualHash, bool? Repaired);

    /// <param name="Healthy">Nothing wrong remains.</param>
    /// <param name="RepairNote">What the repair did or could not do, in words.</param>
    public sealed record Result(
        bool Healthy, bool CheckContents, bool Repair, IReadOnlyList<PathFinding> Findings, string? RepairNote,
        IReadOnlyList<string> Errors, int ExitCode, double Seconds);

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var p = context.Parameters<Parameters>() ?? new Parameters(true, false);
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
                var r = await NixAsync(ssh, host, facts, StoreCommands.Verify(p.CheckContents, p.Repair), log, ct);
                var report = StoreOutput.ParseVerify(r.StdErr);
                var findings = new List<PathFinding>();
                foreach (var c in report.Corrupted)
                    findings.Add(new PathFinding(c.Path, "modified", c.ExpectedHash, c.ActualHash, p.Repair ? await IntactAsync(ssh, host, facts, c.Path, log, ct) : null));
                foreach (var m in report.Missing)
                    findings.Add(new PathFinding(m, "missing", null, null, p.Repair ? await IntactAsync(ssh, host, facts, m, log, ct) : null));

                var unrepaired = findings.Count(f => f.Repaired != true);
                var healthy = unrepaired == 0 && r.ExitCode == 0 && !report.NotAllFixed;
                string? note = null;
                if (p.Repair && findings.Count > 0)
                {
                    note = unrepaired == 0
                        ? $"Nix repaired {findings.Count} path(s) (rebuilt from their derivations or substituted); nix-store --verify-path now passes for each."
                        : $"Nix could not repair {unrepaired} path(s). --repair rebuilds a path from its derivation or downloads it from a binary cache; " +
                          "neither worked for these (a host with no reachable binary cache can only rebuild paths whose derivations it still has). " +
                          (report.Errors.Count > 0 ? "Nix said: " + string.Join(" / ", report.Errors) : "See the output for Nix's messages.");
                }
                else if (!p.Repair && findings.Count > 0)
                {
                    note = "Not repaired: run verify again with repair to let Nix rebuild or re-download these paths.";
                }

                result = new Result(healthy, p.CheckContents, p.Repair, findings, note, report.Errors, r.ExitCode, Math.Round(clock.Elapsed.TotalSeconds, 1));
                if (note is not null) log.Info(note);
                if (!healthy)
                {
                    var what = findings.Count == 0 ? $"nix-store --verify exited {r.ExitCode}" : $"{unrepaired} damaged store path(s) remain: {string.Join(", ", findings.Where(f => f.Repaired != true).Select(f => $"{f.Path} ({f.Problem})").Take(5))}";
                    throw new OperationFailedException($"the store is not healthy: {what}", result);
                }
                log.Info(findings.Count == 0 ? "the store is healthy: no problems found" : "the store is healthy again");
                return result;
            }
            finally
            {
                await HostCommands.ReleaseHostLockAsync(ssh, lockOwner, logger, CancellationToken.None);
            }
        }
        catch (SshException e)
        {
            throw new OperationFailedException($"interrupted: {host.Name}: {e.Message}. The verification did not finish; run it again.");
        }
        finally
        {
            await audit.RecordAsync(context.Operation.RequestedBy, "store.verify", HostService.HostTarget(host),
                new { operationId = context.Operation.Id, p.CheckContents, p.Repair, findings = result?.Findings }, result is null ? "failed" : result.Healthy ? "healthy" : "damaged", CancellationToken.None);
        }
    }

    static async Task<bool> IntactAsync(IRemoteShell ssh, FleetHost host, HostFacts facts, string path, OperationLog log, CancellationToken ct) =>
        (await NixAsync(ssh, host, facts, StoreCommands.VerifyPath(path), log, ct)).ExitCode == 0;

    static Task<CommandResult> NixAsync(IRemoteShell ssh, FleetHost host, HostFacts facts, IReadOnlyList<string> command, OperationLog log, CancellationToken ct) =>
        HostCommands.RunLoggedAsync(ssh, NixLocator.Command(facts, host.User, command[0], command.Skip(1)), log, ct);
}
