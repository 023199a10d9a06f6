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
        var errors = Check(change, allowFileUrls);
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

    static Dictionary<string, string[]> Check(ChannelChangeHandler.Parameters change, bool allowFileUrls)
    {
        var errors = new Dictionary<string, string[]>();
        if (change.Action is not ("add" or "remove" or "update" or "rollback")) errors["action"] = ["add, remove, update or rollback."];
        if (change.Action is "add" or "remove" && !ChannelCommands.IsChannelName(change.Name) || change.Name is not null && !ChannelCommands.IsChannelName(change.Name))
            errors["name"] = ["A channel name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (for example nixos)."];
        if (change.Action == "add" && ChannelCommands.UrlError(change.Url, allowFileUrls) is { } urlError) errors["url"] = [urlError];
        if (change.Action != "add" && change.Url is not null) errors["url"] = ["A URL goes only with add."];
        if (change.Generation is < 1) errors["generation"] = ["Generation numbers start at 1."];
        if (change.Generation is not null && change.Action != "rollback") errors["generation"] = ["A generation goes only with rollback."];
        return errors;
    }

    public Task<FleetHost?> HostAsync(Guid id, CancellationToken ct) => db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == id, ct);

    /// <summary>The same change on many hosts (ids or a tag): one "channel-batch" operation with a part per host.</summary>
    public async Task<Outcome> RequestBatchAsync(IReadOnlyList<Guid>? hostIds, string? tag, ChannelChangeHandler.Parameters change, int parallelism, string actor, bool allowFileUrls, CancellationToken ct)
    {
        var errors = Check(change, allowFileUrls);
        tag = string.IsNullOrWhiteSpace(tag) ? null : tag;
        if (Maintenance.MaintenanceInput.TagError(tag) is { } tagError) errors["tag"] = [tagError];
        var ids = hostIds?.Distinct().ToList() ?? [];
        if ((ids.Count > 0) == (tag is not null)) errors["hostIds"] = ["Choose the hosts one way: hostIds or a tag."];
        if (parallelism is < 1 or > Maintenance.MaintenanceInput.MaxParallelism) errors["parallelism"] = [Maintenance.MaintenanceInput.BadParallelism];
        if (errors.Count > 0) return new Outcome.Invalid(errors);
        var hosts = tag is not null
            ? await db.Hosts.AsNoTracking().Where(h => h.Tags.Contains(tag)).Select(h => h.Id).ToListAsync(ct)
            : await db.Hosts.AsNoTracking().Where(h => ids.Contains(h.Id)).Select(h => h.Id).ToListAsync(ct);
        if (hosts.Count == 0) return new Outcome.Invalid(new() { [tag is null ? "hostIds" : "tag"] = ["No hosts: the change would touch nothing."] });
        var op = await queue.EnqueueAsync(ChannelBatchHandler.KindName, null, new ChannelBatchHandler.Parameters(hosts, change, parallelism), actor, ct);
        await audit.RecordAsync(actor, $"channel.{change.Action}.request", tag is null ? "hosts" : $"tag:{tag}", new { operationId = op.Id, change, hosts = hosts.Count }, "queued", ct);
        return new Outcome.Queued(op);
    }
}

/// <summary>"channel-batch": one channel change on many hosts, a "channel-change" part per host, with a parallelism limit.</summary>
public sealed class ChannelBatchHandler : IOperationHandler
{
    public const string KindName = "channel-batch";
    public string Kind => KindName;

    public sealed record Parameters(IReadOnlyList<Guid> HostIds, ChannelChangeHandler.Parameters Change, int Parallelism);

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var p = context.Parameters<Parameters>() ?? throw new OperationFailedException("no parameters");
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var hosts = await db.Hosts.AsNoTracking().Where(h => p.HostIds.Contains(h.Id)).OrderBy(h => h.Name).ToListAsync(ct);
        var children = new ChildOperations(context);
        await children.LoadAsync(ct);
        var results = new System.Collections.Concurrent.ConcurrentBag<ChildOperations.HostResult>();
        context.Log.Info($"nix-channel --{p.Change.Action} {p.Change.Name} on {hosts.Count} host(s), {p.Parallelism} at a time");
        await Parallel.ForEachAsync(hosts, new ParallelOptions { MaxDegreeOfParallelism = p.Parallelism, CancellationToken = ct },
            async (host, token) => results.Add(await children.RunAsync(host, ChannelChangeHandler.KindName, p.Change, token)));
        var all = results.OrderBy(r => r.Host).ToList();
        var failed = all.Count(r => r.Status != OperationStatus.Succeeded);
        var summary = new { total = all.Count, succeeded = all.Count - failed, failed, hosts = all };
        if (failed > 0) throw new OperationFailedException($"{failed} of {all.Count} host(s) did not change", summary);
        return summary;
    }
}

/// <summary>"channel-change": one nix-channel command as the channel's user, then the channels read back.</summary>
public sealed class ChannelChangeHandler(SshConnections connections, HostRefresher refresher, Auditor audit) : IOperationHandler
{
    public const string KindName = "channel-change";
    public string Kind => KindName;

    public sealed record Parameters(string Action, string? Name, string? Url, int? Generation);

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
            var user = ChannelService.ChannelUsers(facts)[0];
            IReadOnlyList<string> command = p.Action switch
            {
                "add" => ChannelCommands.Add(p.Url!, p.Name!),
                "remove" => ChannelCommands.Remove(p.Name!),
                "update" => ChannelCommands.Update(p.Name, bypassCache: true),
                "rollback" => ChannelCommands.Rollback(p.Generation),
                _ => throw new OperationFailedException($"unknown channel action {p.Action}"),
            };
            var r = await HostCommands.RunLoggedAsync(ssh, ChannelCommands.ForUser(facts, host.User, user, command), log, ct);
            // Nix's reason is its first "error:" line: after it come a response body or the failed builder, which bury it.
            if (r.ExitCode != 0)
                throw new OperationFailedException($"nix-channel --{p.Action} exited {r.ExitCode}: {ChannelsParser.ErrorMessage(r.StdErr) ?? string.Join(" / ", r.StdErr.Trim().Split('\n').Where(l => l.Trim().Length > 0).TakeLast(3))}");
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
