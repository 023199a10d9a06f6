using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Upgrades;

/// <summary>A host's channels read live, and channel changes queued as operations (Operator actions).</summary>
public sealed class ChannelService(NixFleetDb db, SshConnections connections, HostRefresher refresher, OperationQueue queue, Auditor audit)
{
    /// <summary>The users whose channels matter: root, and the store's owner on a single-user install.</summary>
    public static IReadOnlyList<string> ChannelUsers(HostFacts facts) =>
        facts.InstallType == NixInstallType.SingleUser && facts.StoreOwner is { } owner and not "root" ? [owner] : ["root"];

    /// <summary>Each channel user's channels, the version each points to, and when they were last updated.</summary>
    public async Task<IReadOnlyList<ChannelsReport>> ReadAsync(FleetHost host, CancellationToken ct)
    {
        var facts = await refresher.KnownOrFreshFactsAsync(host, null, ct);
        var ssh = connections.For(host);
        var reports = new List<ChannelsReport>();
        foreach (var user in ChannelUsers(facts))
        {
            var r = await ssh.RunAsync(ChannelCommands.AsUser(host.User, user, ChannelsProbe.Script), null, null, ct);
            if (r.ExitCode != 0) throw new OperationFailedException($"reading {user}'s channels failed (exit {r.ExitCode}): {r.StdErr.Trim()}");
            reports.Add(ChannelsParser.Parse(r.StdOut));
        }
        return reports;
    }

    public abstract record Outcome
    {
        public sealed record Queued(Operation Operation) : Outcome;
        public sealed record Invalid(Dictionary<string, string[]> Errors) : Outcome;
        public sealed record Busy(string Message) : Outcome;
    }

    /// <summary>add (name, url), remove (name), update (name or all), rollback (generation or the previous).</summary>
    public async Task<Outcome> RequestAsync(FleetHost host, ChannelChangeHandler.Parameters change, string actor, bool allowFileUrls, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (change.Action is not ("add" or "remove" or "update" or "rollback")) errors["action"] = ["add, remove, update or rollback."];
        if (change.Action is "add" or "remove" && !ChannelCommands.IsChannelName(change.Name) || change.Name is not null && !ChannelCommands.IsChannelName(change.Name))
            errors["name"] = ["A channel name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (for example nixos)."];
        if (change.Action == "add" && ChannelCommands.UrlError(change.Url, allowFileUrls) is { } urlError) errors["url"] = [urlError];
        if (change.Action != "add" && change.Url is not null) errors["url"] = ["A URL goes only with add."];
        if (change.Generation is < 1) errors["generation"] = ["Generation numbers start at 1."];
        if (change.Generation is not null && change.Action != "rollback") errors["generation"] = ["A generation goes only with rollback."];
        if (errors.Count > 0) return new Outcome.Invalid(errors);
        try
        {
            var op = await queue.EnqueueChangeAsync(ChannelChangeHandler.KindName, host, change, actor, ct);
            await audit.RecordAsync(actor, $"channel.{change.Action}.request", HostService.HostTarget(host), new { operationId = op.Id, change }, "queued", ct);
            return new Outcome.Queued(op);
        }
        catch (HostBusyException e)
        {
            return new Outcome.Busy(e.Message);
        }
    }

    public Task<FleetHost?> HostAsync(Guid id, CancellationToken ct) => db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct);
}

/// <summary>"channel-change": one nix-channel command as the channel's user, then the channels read back.</summary>
public sealed class ChannelChangeHandler(SshConnections connections, HostRefresher refresher, Auditor audit) : IOperationHandler
{
    public const string KindName = "channel-change";
    public string Kind => KindName;

    public sealed record Parameters(string Action, string? Name, string? Url, int? Generation, string? User = null);

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var p = context.Parameters<Parameters>() ?? throw new OperationFailedException("no parameters");
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var host = await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == context.Operation.HostId, ct)
            ?? throw new OperationFailedException("the host no longer exists");
        var log = context.Log;
        var ssh = connections.For(host);
        var result = "failed";
        try
        {
            var facts = await refresher.KnownOrFreshFactsAsync(host, log, ct);
            var user = p.User ?? ChannelService.ChannelUsers(facts)[0];
            IReadOnlyList<string> command = p.Action switch
            {
                "add" => ChannelCommands.Add(p.Url!, p.Name!),
                "remove" => ChannelCommands.Remove(p.Name!),
                "update" => ChannelCommands.Update(p.Name, bypassCache: true),
                "rollback" => ChannelCommands.Rollback(p.Generation),
                _ => throw new OperationFailedException($"unknown channel action {p.Action}"),
            };
            var r = await HostCommands.RunLoggedAsync(ssh, ChannelCommands.ForUser(facts, host.User, user, command), log, ct);
            if (r.ExitCode != 0)
                throw new OperationFailedException($"nix-channel --{p.Action} exited {r.ExitCode}: {string.Join(" / ", r.StdErr.Trim().Split('\n').TakeLast(3))}");
            var after = await ssh.RunAsync(ChannelCommands.AsUser(host.User, user, ChannelsProbe.Script), null, null, ct);
            var report = ChannelsParser.Parse(after.StdOut);
            log.Info($"{user}'s channels now: {string.Join(", ", report.Channels.Select(c => $"{c.Name} {c.Url} ({c.Version ?? "no version"})"))}");
            result = "succeeded";
            return report;
        }
        catch (SshException e)
        {
            throw new OperationFailedException($"{host.Name}: {e.Message}");
        }
        finally
        {
            if (!ct.IsCancellationRequested) await refresher.RefreshAsync(host.Id, log, CancellationToken.None);
            await audit.RecordAsync(context.Operation.RequestedBy, $"channel.{p.Action}", HostService.HostTarget(host),
                new { operationId = context.Operation.Id, p.Name, p.Url, p.Generation }, result, CancellationToken.None);
        }
    }
}
