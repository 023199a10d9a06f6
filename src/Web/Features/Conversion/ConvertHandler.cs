using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Conversion;

/// <summary>
/// "convert": a single-user Nix install to multi-user, by the host-side steps of
/// <see cref="ConversionRunner"/> (Shared/Nix/convert.sh). A dry run only reads: the preflight and
/// the plan. A real run holds the host's lock, saves the receipt (on the host and in
/// host_conversions) before and after every step, and reads the host's facts again afterwards, so
/// the host shows what it really is. Run again, by hand or by a node taking over from one that
/// died, it resumes from the host's receipt.
/// </summary>
/// <remarks>Also registered as "convert-revert": the same lock, receipt, facts and audit around a revert.</remarks>
public sealed class ConvertHandler(SshConnections connections, HostRefresher refresher, Auditor audit, ILogger<ConvertHandler> logger, string kind = ConvertHandler.KindName)
    : IOperationHandler
{
    public const string KindName = "convert";
    public const string RevertKindName = "convert-revert";
    public string Kind => kind;

    public sealed record Parameters(bool DryRun, ConversionOptions Options);

    /// <summary>The plan's own part (its preflight is next to it in <see cref="PlanResult"/>).</summary>
    public sealed record Plan(ConversionOptions Options, IReadOnlyList<PlannedStep> Steps, string? NoOp);

    /// <summary>What a dry run stores.</summary>
    public sealed record PlanResult(Plan Plan, ConversionPreflight Preflight);

    /// <summary>What a conversion or a revert stores.</summary>
    /// <param name="Outcome">The runner's outcome, or "interrupted" when the connection was lost.</param>
    /// <param name="InstallType">What the facts read afterwards say; null when they could not be read.</param>
    public sealed record Result(string Outcome, string Message, ConversionReceipt? Receipt, ConversionPreflight? Preflight, string? InstallType);

    /// <summary>Where the last saved receipt stood: what a recovered run reports before it reads the host's own.</summary>
    public sealed record Checkpoint(string ConversionId, string Status, string? Step);

    public const string Interrupted = "interrupted";

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var revert = kind == RevertKindName;
        var p = revert ? null : context.Parameters<Parameters>() ?? throw new OperationFailedException("the conversion has no parameters");
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var host = await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == context.Operation.HostId, ct)
            ?? throw new OperationFailedException("the host no longer exists");
        var log = context.Log;
        var ssh = connections.For(host);
        ConversionReceipt? saved = null;
        var runner = new ConversionRunner(ssh, new ConversionRunner.Events(
            log.Info,
            line =>
            {
                log.Write(line.Stream == OutputStream.StdErr ? OperationLog.ErrStream : OperationLog.OutStream, line.Text);
                return ValueTask.CompletedTask;
            },
            async (receipt, token) =>
            {
                saved = receipt;
                await SaveReceiptAsync(db, host.Id, receipt, token);
                await context.SaveCheckpointAsync(new Checkpoint(receipt.Id, receipt.Status, StepUnderWay(receipt)), token);
            }));

        if (p is { DryRun: true }) return await PlanAsync(runner, host, p, context.Operation.Id, log, ct);

        if (context.IsRecovery && context.Checkpoint<Checkpoint>() is { } cp)
            log.Info($"NixFleet stopped during conversion {cp.ConversionId} ({cp.Status}{(cp.Step is null ? "" : $", step {cp.Step}")}); " +
                "running again from the host's receipt");

        var lockOwner = context.Operation.Id.ToString("N");
        ConversionResult? outcome = null;
        string auditResult = "failed", message = "";
        string? installType = null;
        try
        {
            await HostCommands.TakeHostLockAsync(ssh, db, lockOwner, log, logger, ct);
            try
            {
                // The operation's id is the conversion's: its backups go to a directory of that name.
                outcome = revert ? await runner.RevertAsync(ct) : await runner.ConvertAsync(p!.Options, lockOwner, ct);
                // Recovered after the host finished: converted by this operation, not by an earlier one.
                if (outcome is { Outcome: ConversionResult.AlreadyConverted, Receipt.Id: var id } && id == lockOwner)
                    outcome = outcome with { Outcome = ConversionResult.Converted, Message = $"converted: every step had finished on {host.Name} before NixFleet stopped (the host's receipt says so)" };
            }
            finally
            {
                await HostCommands.ReleaseHostLockAsync(ssh, lockOwner, logger, CancellationToken.None);
            }
            (auditResult, message) = (outcome.Outcome, outcome.Message);
        }
        catch (SshException e)
        {
            (auditResult, message) = (saved is null ? "failed" : Interrupted, LostMessage(host.Name, saved, revert, e));
            throw new OperationFailedException(message, new Result(auditResult, message, saved, null, null));
        }
        catch (OperationFailedException e)
        {
            message = e.Message;
            throw;
        }
        catch (OperationCanceledException)
        {
            (auditResult, message) = ("stopped", $"stopped before it ended (cancelled, or this node shutting down); the host's receipt records how far it got: run {(revert ? "Revert" : "Convert")} again to go on from it");
            throw;
        }
        finally
        {
            // Whatever happened, the facts say what the host is now: single- or multi-user.
            if (!ct.IsCancellationRequested) installType = (await refresher.RefreshAsync(host.Id, log, CancellationToken.None)).Facts?.InstallType;
            await audit.RecordAsync(context.Operation.RequestedBy, revert ? "host.convert.revert" : "host.convert", HostService.HostTarget(host), new
            {
                operationId = context.Operation.Id,
                options = p?.Options,
                message,
                preflight = outcome?.Preflight.Checks,
                receipt = outcome?.Receipt ?? saved,
                installType,
            }, auditResult, CancellationToken.None);
        }

        var result = new Result(outcome.Outcome, outcome.Message, outcome.Receipt, outcome.Preflight, installType);
        if (!outcome.Succeeded) throw new OperationFailedException(outcome.Message, result);
        log.Info($"{outcome.Message}; the facts now say {installType ?? "nothing (they could not be read)"}");
        return result;
    }

    static async Task<PlanResult> PlanAsync(ConversionRunner runner, FleetHost host, Parameters p, Guid operationId, OperationLog log, CancellationToken ct)
    {
        ConversionPreflight preflight;
        try
        {
            preflight = await runner.PreflightAsync(p.Options, ct);
        }
        catch (SshException e)
        {
            throw new OperationFailedException($"{host.Name}: {e.Message}. Nothing was changed.");
        }
        var plan = ConversionPlanner.Plan(preflight, p.Options, operationId.ToString("N"));
        log.Info(plan.NoOp ?? (preflight.CanConvert
            ? $"the plan has {plan.Steps.Count} steps; nothing was changed"
            : $"preflight failed, a conversion would stop before any change: {preflight.FailureSummary}"));
        return new PlanResult(new Plan(plan.Options, plan.Steps, plan.NoOp), preflight);
    }

    /// <summary>Upserts the host's row: one per host, the newest receipt.</summary>
    public static async Task SaveReceiptAsync(NixFleetDb db, Guid hostId, ConversionReceipt receipt, CancellationToken ct)
    {
        var json = System.Text.Json.JsonSerializer.Serialize(receipt, System.Text.Json.JsonSerializerOptions.Web);
        var now = DateTimeOffset.UtcNow;
        var updated = await db.HostConversions.Where(c => c.HostId == hostId).ExecuteUpdateAsync(s => s
            .SetProperty(c => c.ConversionId, receipt.Id)
            .SetProperty(c => c.Status, receipt.Status)
            .SetProperty(c => c.Receipt, json)
            .SetProperty(c => c.UpdatedAt, now), ct);
        if (updated > 0) return;
        // The first receipt of this host; the host's lock keeps a second writer away.
        db.HostConversions.Add(new HostConversion { HostId = hostId, ConversionId = receipt.Id, Status = receipt.Status, Receipt = json, UpdatedAt = now });
        await db.SaveChangesAsync(ct);
    }

    /// <summary>
    /// The step a run was in when the receipt was saved: converting, the one marked running;
    /// reverting, the newest one not yet undone (the runner reverts newest first).
    /// </summary>
    public static string? StepUnderWay(ConversionReceipt r) => r.Status == ConversionReceipt.Reverting
        ? ConversionSteps.Order.Reverse().FirstOrDefault(n => r.StepNamed(n).Status is ReceiptStep.Done or ReceiptStep.Failed or ReceiptStep.Running)
        : r.Steps.FirstOrDefault(s => s.Status == ReceiptStep.Running)?.Name;

    static string LostMessage(string hostName, ConversionReceipt? saved, bool revert, SshException e)
    {
        if (saved is null) return $"{hostName}: {e.Message}. No step had started: nothing was changed.";
        var step = StepUnderWay(saved);
        var during = step is null ? "" : $" during step {step}";
        var next = revert ? "run Revert again to finish it" : "run Convert again to resume from it, or Revert";
        return $"interrupted: the connection to {hostName} was lost{during} ({e.Message}). " +
            $"The host's receipt ({ConversionScript.ReceiptPath}) records how far it got: {next}.";
    }
}
