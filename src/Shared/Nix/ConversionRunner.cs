using System.Text.Json;
using System.Text.RegularExpressions;
using NixFleet.Shared.Execution;

namespace NixFleet.Shared.Nix;

/// <summary>How a conversion or a revert ended.</summary>
/// <param name="Outcome">converted, already-converted, refused, failed (a step failed; the rest was reverted), reverted, revert-failed, nothing-to-revert.</param>
public sealed record ConversionResult(string Outcome, string Message, ConversionPreflight Preflight, ConversionReceipt? Receipt)
{
    public const string Converted = "converted", AlreadyConverted = "already-converted", Refused = "refused", Failed = "failed",
        Reverted = "reverted", RevertFailed = "revert-failed", NothingToRevert = "nothing-to-revert";

    public bool Succeeded => Outcome is Converted or AlreadyConverted or Reverted or NothingToRevert;
}

/// <summary>
/// Converts one host, step by step over one connection, and reverts. Before and after every step
/// the receipt is written on the host and handed to <see cref="Events.Saved"/> (the database), so
/// a run cut off anywhere (connection, NixFleet itself) is resumed or reverted from it. A lost
/// connection surfaces as <see cref="SshException"/> with the receipt showing the step under way.
/// </summary>
public sealed partial class ConversionRunner(IRemoteShell ssh, ConversionRunner.Events events)
{
    /// <param name="Info">A line for the operation's log.</param>
    /// <param name="Output">Each line a step prints.</param>
    /// <param name="Saved">The receipt after it was written on the host.</param>
    public sealed record Events(Action<string> Info, Func<OutputLine, ValueTask> Output, Func<ConversionReceipt, CancellationToken, Task> Saved);

    public async Task<ConversionPreflight> PreflightAsync(ConversionOptions options, CancellationToken ct)
    {
        var preflight = await ProbeAsync(options, ct);
        foreach (var c in preflight.Checks) events.Info($"preflight {c.Name}: {c.Status}: {c.Detail}");
        return preflight;
    }

    async Task<ConversionPreflight> ProbeAsync(ConversionOptions options, CancellationToken ct)
    {
        var r = await ssh.RunAsync(ConversionScript.Probe(options), null, null, ct);
        return ConversionPreflightParser.Parse(r.StdOut, options);
    }

    public async Task<ConversionResult> ConvertAsync(ConversionOptions options, string conversionId, CancellationToken ct)
    {
        var preflight = await PreflightAsync(options, ct);
        if (preflight.AlreadyConverted)
            return new ConversionResult(ConversionResult.AlreadyConverted,
                $"already multi-user: converted by NixFleet ({preflight.Receipt!.Id}); nothing was changed", preflight, preflight.Receipt);
        if (!preflight.CanConvert)
            return new ConversionResult(ConversionResult.Refused, $"preflight failed, nothing was changed: {preflight.FailureSummary}", preflight, null);

        if (await EarlierStepsAsync(ct) is { } stillRunning)
            return new ConversionResult(ConversionResult.Refused, stillRunning, preflight, preflight.Receipt);

        ConversionReceipt receipt;
        if (preflight.Receipt is { Status: ConversionReceipt.Converting } unfinished)
        {
            receipt = unfinished;
            events.Info($"resuming conversion {receipt.Id} from its receipt; done: {string.Join(", ", receipt.Steps.Where(s => s.Status == ReceiptStep.Done).Select(s => s.Name).DefaultIfEmpty("nothing"))}");
        }
        else
        {
            receipt = ConversionPlanner.NewReceipt(preflight, options, conversionId);
        }
        receipt = await SaveAsync(receipt, ct);

        var nonce = Guid.NewGuid().ToString("N");
        for (var i = 0; i < ConversionSteps.Order.Count; i++)
        {
            var name = ConversionSteps.Order[i];
            var step = receipt.StepNamed(name);
            if (step.Status == ReceiptStep.Done)
            {
                events.Info($"step {i + 1}/{ConversionSteps.Order.Count} {name}: done before, skipped");
                continue;
            }

            events.Info($"step {i + 1}/{ConversionSteps.Order.Count} {name}: {ConversionSteps.Title(name)}");
            receipt = await SaveAsync(receipt.WithStep(step with { Status = ReceiptStep.Running, StartedAt = DateTimeOffset.UtcNow, Error = null }), ct);
            var r = await RunStepAsync("apply", name, receipt, nonce, ct);
            string? error = r.ExitCode == 0 ? null : ConversionScript.Error(r.StdErr) is { Length: > 0 } e ? e : $"exited {r.ExitCode}";
            ConversionAfter? after = null;
            if (error is null && name == ConversionSteps.Verify)
            {
                (after, error) = CheckVerification(r.StdOut, receipt);
            }

            var finished = receipt.StepNamed(name) with { FinishedAt = DateTimeOffset.UtcNow, Changes = ConversionScript.Changes(r.StdOut) };
            if (error is not null)
            {
                events.Info($"step {name} failed: {error}; reverting the steps that ran, newest first");
                receipt = await SaveAsync(receipt.WithStep(finished with { Status = ReceiptStep.Failed, Error = error }) with
                {
                    Error = $"step {name} failed: {error}",
                    After = after,
                }, ct);
                receipt = await RevertStepsAsync(receipt, ct);
                var message = receipt.Status == ConversionReceipt.Reverted
                    ? $"step {name} failed: {error}. The steps that ran were reverted; the host is single-user as before."
                    : $"step {name} failed: {error}. The revert did not finish: {string.Join("; ", receipt.RevertErrors ?? [])}";
                return new ConversionResult(ConversionResult.Failed, message, preflight, receipt);
            }

            receipt = await SaveAsync(receipt.WithStep(finished with { Status = ReceiptStep.Done }) with { After = after ?? receipt.After }, ct);
        }

        receipt = await SaveAsync(receipt with { Status = ConversionReceipt.Converted, Error = null }, ct);
        return new ConversionResult(ConversionResult.Converted,
            $"converted: {receipt.Owner}'s single-user install is multi-user; builds run as {receipt.After?.BuildUser ?? "a nixbld user"} through nix-daemon", preflight, receipt);
    }

    /// <summary>Undoes the conversion recorded in the host's receipt, newest step first, going on past errors.</summary>
    public async Task<ConversionResult> RevertAsync(CancellationToken ct)
    {
        // Only the receipt and the running processes matter here: the checks for a conversion do not.
        var preflight = await ProbeAsync(new ConversionOptions(), ct);
        var receipt = preflight.Receipt;
        if (receipt is not null) events.Info($"receipt of conversion {receipt.Id}: {receipt.Status}, updated {receipt.UpdatedAt:u}");
        if (receipt is null)
            return new ConversionResult(ConversionResult.Refused, $"no NixFleet receipt on this host ({ConversionScript.ReceiptPath}): nothing to revert", preflight, null);
        if (receipt.Status == ConversionReceipt.Reverted)
            return new ConversionResult(ConversionResult.NothingToRevert, $"conversion {receipt.Id} was reverted already ({receipt.UpdatedAt:u}): nothing to do", preflight, receipt);
        var busy = preflight.Processes.Where(p => !p.Contains(" nix-daemon ", StringComparison.Ordinal) && !p.Contains("nixfleet-nix-da", StringComparison.Ordinal)).ToList();
        if (busy.Count > 0)
            return new ConversionResult(ConversionResult.Refused, "Nix is running (wait for it to finish): " + string.Join("; ", busy.Take(5)) + ". Nothing was changed.", preflight, receipt);

        if (await EarlierStepsAsync(ct) is { } stillRunning)
            return new ConversionResult(ConversionResult.Refused, stillRunning, preflight, receipt);

        receipt = await RevertStepsAsync(receipt, ct);
        return receipt.Status == ConversionReceipt.Reverted
            ? new ConversionResult(ConversionResult.Reverted, $"reverted conversion {receipt.Id}: the store is {receipt.Owner}'s again, single-user, with no daemon", preflight, receipt)
            : new ConversionResult(ConversionResult.RevertFailed, "the revert did not finish: " + string.Join("; ", receipt.RevertErrors ?? []), preflight, receipt);
    }

    async Task<ConversionReceipt> RevertStepsAsync(ConversionReceipt receipt, CancellationToken ct)
    {
        receipt = await SaveAsync(receipt with { Status = ConversionReceipt.Reverting, RevertErrors = [] }, ct);
        var errors = new List<string>();
        foreach (var name in ConversionSteps.Order.Reverse())
        {
            var step = receipt.StepNamed(name);
            if (step.Status is ReceiptStep.Pending or ReceiptStep.Reverted) continue;
            events.Info($"reverting {name}");
            var r = await RunStepAsync("revert", name, receipt, "x", ct);
            var changes = step.Changes.Concat(ConversionScript.Changes(r.StdOut).Select(c => "reverted: " + c)).ToList();
            if (r.ExitCode == 0)
            {
                receipt = await SaveAsync(receipt.WithStep(step with { Status = ReceiptStep.Reverted, Changes = changes }), ct);
            }
            else
            {
                var error = $"{name}: {ConversionScript.Error(r.StdErr)}";
                errors.Add(error);
                events.Info($"revert of {error}; going on with the other steps");
                receipt = await SaveAsync(receipt.WithStep(step with { Status = ReceiptStep.RevertFailed, Changes = changes, Error = error }) with { RevertErrors = [.. errors] }, ct);
            }
        }

        return await SaveAsync(receipt with { Status = errors.Count == 0 ? ConversionReceipt.Reverted : ConversionReceipt.RevertFailed, RevertErrors = errors }, ct);
    }

    /// <summary>
    /// Waits (up to <see cref="EarlierStepsWait"/>) for steps of an earlier run that lost its
    /// connection and goes on by itself on the host: the two must not race. The reason to stop when they do not end.
    /// </summary>
    async Task<string?> EarlierStepsAsync(CancellationToken ct)
    {
        var deadline = DateTimeOffset.UtcNow + EarlierStepsWait;
        for (var first = true; ; first = false)
        {
            var r = await ssh.RunAsync(ConversionScript.Running(), null, null, ct);
            var running = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (running.Length == 0) return null;
            if (first) events.Info($"waiting for a step of an earlier run that is still at work on the host: {string.Join("; ", running)}");
            if (DateTimeOffset.UtcNow > deadline)
                return $"a step of an earlier run is still at work on the host after {EarlierStepsWait.TotalSeconds:0} s ({string.Join("; ", running)}); nothing was changed: try again when it has ended";
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }

    public static readonly TimeSpan EarlierStepsWait = TimeSpan.FromMinutes(2);

    async Task<CommandResult> RunStepAsync(string action, string step, ConversionReceipt receipt, string nonce, CancellationToken ct)
    {
        var argv = ConversionScript.Step(action, step, receipt, nonce);
        events.Info("$ convert.sh " + ShellQuote.Join(argv.Skip(4)));
        return await ssh.RunAsync(argv, events.Output, null, ct);
    }

    /// <summary>Writes the receipt on the host (atomically), then hands it to the database.</summary>
    async Task<ConversionReceipt> SaveAsync(ConversionReceipt receipt, CancellationToken ct)
    {
        receipt = receipt with { UpdatedAt = DateTimeOffset.UtcNow };
        var json = JsonSerializer.Serialize(receipt, JsonSerializerOptions.Web);
        var r = await ssh.RunAsync(ConversionScript.WriteReceipt(), null, json, ct);
        if (r.ExitCode != 0) events.Info($"could not write {ConversionScript.ReceiptPath}: {ConversionScript.Error(r.StdErr)}");
        await events.Saved(receipt, ct);
        return receipt;
    }

    /// <summary>The verify step's findings against what the preflight recorded; the error names the first thing that is wrong.</summary>
    public static (ConversionAfter After, string? Error) CheckVerification(string stdout, ConversionReceipt receipt)
    {
        var sections = FactsParser.ReadSections(stdout).GroupBy(s => s.Name).ToDictionary(g => g.Key, g => g.Last());
        IReadOnlyList<string> Lines(string name) => sections.TryGetValue(name, out var s)
            ? s.Lines.Select(l => l.Trim()).Where(l => l.Length > 0).ToList() : [];

        var packages = Lines("packages");
        var generations = Lines("generations").Select(l => l.Split(' ')[0]).ToList();
        var build = Lines("build").FirstOrDefault()?.Split(' ');
        var buildUser = build?.ElementAtOrDefault(2);
        var after = new ConversionAfter(buildUser, build?.ElementAtOrDefault(0), packages, generations, Lines("modes"));

        if (!Lines("daemon-root").Any(l => l.StartsWith("sha256:", StringComparison.Ordinal)))
            return (after, $"root cannot reach the daemon: {string.Join(" / ", Lines("daemon-root"))}");
        if (!Lines("daemon-user").Any(l => l.StartsWith("sha256:", StringComparison.Ordinal)))
            return (after, $"{receipt.Owner} cannot reach the daemon: {string.Join(" / ", Lines("daemon-user"))}");
        var missing = receipt.PackagesBefore.Except(packages).ToList();
        if (missing.Count > 0 || packages.Count != receipt.PackagesBefore.Count)
            return (after, $"{receipt.Owner}'s packages changed: before {string.Join(", ", receipt.PackagesBefore)}; now {string.Join(", ", packages)}");
        var numbersAfter = generations.Select(GenerationNumber).ToHashSet();
        var lost = receipt.GenerationsBefore.Where(g => !numbersAfter.Contains(GenerationNumber(g))).ToList();
        if (lost.Count > 0) return (after, $"generations of {receipt.Owner} no longer listed: {string.Join(", ", lost)}");
        if (buildUser is null || !BuildUserName().IsMatch(buildUser))
            return (after, build is null ? "the test build through the daemon failed" : $"the test build ran as UID {build.ElementAtOrDefault(1)} ({buildUser ?? "no such user"}), not as a nixbld user");
        return (after, null);
    }

    static string GenerationNumber(string link)
    {
        var m = Regex.Match(link, @"-(\d+)-link$");
        return m.Success ? m.Groups[1].Value : link;
    }

    [GeneratedRegex(@"^nixbld\d+$")]
    private static partial Regex BuildUserName();
}
