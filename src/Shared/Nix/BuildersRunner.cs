using NixFleet.Shared.Execution;
using static System.FormattableString;

namespace NixFleet.Shared.Nix;

/// <summary>How configuring or removing a client's builders ended.</summary>
/// <param name="Outcome">configured; kept (verification failed, configuration kept as asked); failed (the host's previous configuration was restored); nixos (nothing written: the snippet is for configuration.nix); removed.</param>
/// <param name="Changes">Every change, each starting with where it was made ("client: ..." or "builder ID: ...").</param>
/// <param name="Authorizations">What authorize did on each fleet builder.</param>
public sealed record BuildersResult(
    string Outcome, string Message, string? PublicKey, IReadOnlyList<BuilderAuthorization> Authorizations,
    IReadOnlyList<string> Changes, IReadOnlyList<ConfigDiff> Diffs, IReadOnlyList<BuilderVerification> Verifications, string? NixOsSnippet)
{
    public const string Configured = "configured", Kept = "kept", Failed = "failed", NixOS = "nixos", Removed = "removed";

    public bool Succeeded => Outcome is Configured or NixOS or Removed;
}

/// <summary>
/// Gives one client host its build machines over its connection: root's key, the key authorized
/// on every builder that is a fleet host, the files written, then a real build on each builder;
/// when that fails, the client's configuration before NixFleet is restored (unless kept) and the
/// builders' authorizations removed.
/// </summary>
/// <param name="clientName">The client's name in the builders' authorized_keys markers (letters, digits, '.', '_', '-').</param>
/// <param name="builderShell">A connection to a builder that is a fleet host; null for an outside machine.</param>
public sealed class BuildersRunner(IRemoteShell client, string clientName, Func<RemoteBuilder, IRemoteShell?> builderShell, BuildersRunner.Events events)
{
    /// <param name="Info">A line for the operation's log.</param>
    /// <param name="Output">Each line an action prints.</param>
    public sealed record Events(Action<string> Info, Func<OutputLine, ValueTask> Output);

    /// <summary>Root's public key on the client (made if missing): what an outside builder must authorize.</summary>
    /// <exception cref="InvalidOperationException">The key action failed; the message says why.</exception>
    public Task<ClientKey> ClientKeyAsync(CancellationToken ct) => KeyAsync(new Log(), ct);

    async Task<ClientKey> KeyAsync(Log log, CancellationToken ct)
    {
        var r = await RunAsync(client, BuildersScript.Key(), null, ct);
        if (!r.Succeeded) throw new InvalidOperationException("the client's key pair: " + BuildersScript.Error(r));
        log.Take("client", r);
        return BuildersScript.ReadKey(r.StdOut);
    }

    public async Task<BuildersResult> ConfigureAsync(IReadOnlyList<RemoteBuilder> builders, BuildersOptions options, CancellationToken ct)
    {
        if (builders.Count == 0) throw new ArgumentException("at least one builder; to remove all, use RemoveAsync", nameof(builders));
        var log = new Log();
        var key = await KeyAsync(log, ct);

        var authorizations = new List<BuilderAuthorization>();
        foreach (var b in builders)
        {
            if (builderShell(b) is not { } shell)
            {
                events.Info($"builder {b.Id} ({b.Address}) is not a fleet host: its {b.User} must already accept {key.Key.Line}");
                continue;
            }

            events.Info($"authorizing the client's key for {b.User} on builder {b.Id}");
            var (r, error) = await TryRunAsync(shell, BuildersScript.Authorize(b.User, clientName, key.Key), ct);
            if (error is not null)
            {
                // The client's files are not touched yet (an earlier configuration stays): only what
                // this run did on builders is undone.
                var failure = $"authorizing the key on builder {b.Id} failed: {error}";
                events.Info(failure);
                var changed = builders.Where(x => authorizations.Any(a => a.BuilderId == x.Id && (a.KeyAdded || a.TrustAdded))).ToList();
                var undo = await UnauthorizeAsync(changed, log, ct);
                return log.Result(BuildersResult.Failed, undo.Count == 0
                    ? $"{failure}. The host's configuration was not touched."
                    : $"{failure}. Taking the key back from the other builders failed: {string.Join("; ", undo)}", key, authorizations, [], null);
            }
            log.Take($"builder {b.Id}", r!);
            authorizations.Add(BuildersScript.ReadAuthorize(b.Id, r!.StdOut));
        }

        if (key.IsNixOS)
        {
            var snippet = NixOsSnippet.Render(builders, options);
            return log.Result(BuildersResult.NixOS,
                "NixOS generates /etc/nix from configuration.nix: nothing was written on the host; add the snippet to configuration.nix and run nixos-rebuild switch, then verify",
                key, authorizations, [], snippet);
        }

        events.Info($"writing /etc/nix/machines ({builders.Count} machine(s)), nix.conf, root's ssh config and known_hosts");
        var apply = await RunAsync(client, BuildersScript.Apply(options), BuildersConfig.Input(builders), ct);
        log.Take("client", apply);
        if (!apply.Succeeded)
            return await RollBackAsync(builders, "writing the configuration failed: " + BuildersScript.Error(apply), key, authorizations, log, [], ct);

        var verifications = await VerifyAsync(builders, ct);
        var failed = verifications.Where(v => !v.Succeeded).ToList();
        if (failed.Count == 0)
            return log.Result(BuildersResult.Configured,
                "configured: " + string.Join(", ", verifications.Select(v => Invariant($"{v.BuilderId} built on {v.RanOn} in {v.Seconds:0.0} s"))),
                key, authorizations, verifications, null);

        var why = string.Join("; ", failed.Select(v => $"builder {v.BuilderId}: {v.Error}"));
        if (options.Keep)
            return log.Result(BuildersResult.Kept, $"verification failed, configuration kept as asked: {why}", key, authorizations, verifications, null);
        return await RollBackAsync(builders, "verification failed: " + why, key, authorizations, log, verifications, ct);
    }

    /// <summary>The client's configuration as before NixFleet configured builders, and the fleet builders' authorizations removed.</summary>
    public async Task<BuildersResult> RemoveAsync(IReadOnlyList<RemoteBuilder> builders, CancellationToken ct)
    {
        var log = new Log();
        var errors = await UndoAsync(builders, log, ct);
        return log.Result(errors.Count == 0 ? BuildersResult.Removed : BuildersResult.Failed,
            errors.Count == 0 ? "removed: the host's configuration is as it was before NixFleet configured builders" : "removing failed: " + string.Join("; ", errors),
            null, [], [], null);
    }

    /// <summary>Removes the client's key from fleet builders that no longer serve it (the client's files are left alone).</summary>
    public async Task<BuildersResult> UnauthorizeAsync(IReadOnlyList<RemoteBuilder> builders, CancellationToken ct)
    {
        var log = new Log();
        var errors = await UnauthorizeAsync(builders, log, ct);
        return log.Result(errors.Count == 0 ? BuildersResult.Removed : BuildersResult.Failed,
            errors.Count == 0 ? "the client's key was removed from the builders" : "removing the key failed: " + string.Join("; ", errors),
            null, [], [], null);
    }

    /// <summary>From the client, as root: <c>nix store ping</c> of each builder, then a build only it can do.</summary>
    public async Task<IReadOnlyList<BuilderVerification>> VerifyAsync(IReadOnlyList<RemoteBuilder> builders, CancellationToken ct)
    {
        events.Info($"verifying {builders.Count} builder(s): nix store ping, then a build with --max-jobs 0 through the daemon");
        var r = await RunAsync(client, BuildersScript.Verify(Guid.NewGuid().ToString("N"), builders.Select(b => b.StoreUri)), null, ct);
        var results = r.Succeeded
            ? BuildersScript.ReadVerify(r.StdOut, builders)
            : builders.Select(b => new BuilderVerification(b.Id, false, null, false, null, null, "other: " + BuildersScript.Error(r), BuilderErrors.Other, b.StoreUri, null)).ToList();
        foreach (var v in results)
            events.Info(v.Succeeded ? Invariant($"builder {v.BuilderId}: built on {v.RanOn} in {v.Seconds:0.0} s") : $"builder {v.BuilderId}: {v.Error}");
        return results;
    }

    /// <summary>After the client's files were written: the configuration before NixFleet back, the key off the fleet builders.</summary>
    async Task<BuildersResult> RollBackAsync(
        IReadOnlyList<RemoteBuilder> builders, string why, ClientKey key, IReadOnlyList<BuilderAuthorization> authorizations,
        Log log, IReadOnlyList<BuilderVerification> verifications, CancellationToken ct)
    {
        events.Info(why + "; restoring the host's previous configuration");
        var errors = await UndoAsync(builders, log, ct);
        var message = errors.Count == 0
            ? $"{why}. The host's previous configuration was restored and the key removed from the fleet builders."
            : $"{why}. Restoring did not finish: {string.Join("; ", errors)}";
        return log.Result(BuildersResult.Failed, message, key, authorizations, verifications, null);
    }

    async Task<List<string>> UndoAsync(IReadOnlyList<RemoteBuilder> builders, Log log, CancellationToken ct)
    {
        var restore = await RunAsync(client, BuildersScript.Restore(), null, ct);
        log.Take("client", restore);
        var errors = new List<string>();
        if (!restore.Succeeded) errors.Add("client: " + BuildersScript.Error(restore));
        errors.AddRange(await UnauthorizeAsync(builders, log, ct));
        return errors;
    }

    async Task<List<string>> UnauthorizeAsync(IReadOnlyList<RemoteBuilder> builders, Log log, CancellationToken ct)
    {
        var errors = new List<string>();
        foreach (var b in builders)
        {
            if (builderShell(b) is not { } shell) continue;
            var (r, error) = await TryRunAsync(shell, BuildersScript.Unauthorize(b.User, clientName), ct);
            if (error is not null) errors.Add($"builder {b.Id}: {error}");
            else log.Take($"builder {b.Id}", r!);
        }

        return errors;
    }

    /// <summary>Runs on a builder; a builder NixFleet cannot reach is an error with its reason, not an exception.</summary>
    async Task<(CommandResult? Result, string? Error)> TryRunAsync(IRemoteShell shell, IReadOnlyList<string> argv, CancellationToken ct)
    {
        try
        {
            var r = await RunAsync(shell, argv, null, ct);
            return r.Succeeded ? (r, null) : (r, BuildersScript.Error(r));
        }
        catch (SshException e)
        {
            var kind = e.Failure switch
            {
                SshFailure.Unreachable => BuilderErrors.Unreachable,
                SshFailure.AuthenticationFailed => BuilderErrors.KeyRefused,
                SshFailure.HostKeyChanged or SshFailure.HostKeyUnknown => BuilderErrors.HostKey,
                _ => BuilderErrors.Other,
            };
            return (null, $"{kind}: NixFleet cannot reach the builder over SSH: {e.Message}");
        }
    }

    async Task<CommandResult> RunAsync(IRemoteShell shell, IReadOnlyList<string> argv, string? stdin, CancellationToken ct)
    {
        events.Info("$ builders.sh " + ShellQuote.Join(argv.Skip(4)));
        return await shell.RunAsync(argv, events.Output, stdin, ct);
    }

    /// <summary>Changes and diffs of every action of one run, in order.</summary>
    sealed class Log
    {
        readonly List<string> _changes = [];
        readonly List<ConfigDiff> _diffs = [];

        public void Take(string where, CommandResult r)
        {
            _changes.AddRange(BuildersScript.Changes(r.StdOut).Select(c => $"{where}: {c}"));
            _diffs.AddRange(BuildersScript.Diffs(r.StdOut, where));
        }

        public BuildersResult Result(
            string outcome, string message, ClientKey? key, IReadOnlyList<BuilderAuthorization> authorizations,
            IReadOnlyList<BuilderVerification> verifications, string? snippet) =>
            new(outcome, message, key?.PublicKey, authorizations, [.. _changes], [.. _diffs], verifications, snippet);
    }
}
