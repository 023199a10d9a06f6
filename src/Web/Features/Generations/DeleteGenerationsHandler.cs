using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Generations;

/// <summary>
/// "delete-generations": deletes exactly the generations the operator was shown (by number, so
/// nothing more than the preview), less any that became current or the boot default since.
/// </summary>
public sealed class DeleteGenerationsHandler(SshConnections connections, HostRefresher refresher, Auditor audit) : IOperationHandler
{
    public const string KindName = "delete-generations";
    public string Kind => KindName;

    public sealed record Parameters(string Profile, int? KeepLast, int? OlderThanDays, IReadOnlyList<int> Previewed);

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var p = context.Parameters<Parameters>() ?? throw new OperationFailedException("no parameters");
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var host = await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == context.Operation.HostId, ct)
            ?? throw new OperationFailedException("the host no longer exists");
        var log = context.Log;
        var ssh = connections.For(host);
        var facts = await refresher.KnownOrFreshFactsAsync(host, log, ct);

        var profile = GenerationValidation.FindProfile((await GenerationsService.ProbeAsync(ssh, ct)).Profiles, p.Profile)
            ?? throw new OperationFailedException($"{p.Profile} is no longer one of the host's profiles; nothing was deleted");
        var protectedNow = new HashSet<int>(profile.Generations.Where(g => g.Current || g.BootDefault).Select(g => g.Number));
        var doomed = p.Previewed.Where(n => profile.Find(n) is not null && !protectedNow.Contains(n)).Order().ToList();
        if (doomed.Count == 0)
        {
            log.Info("nothing to delete");
            return new { deleted = Array.Empty<int>(), kept = profile.Generations.Select(g => g.Number).ToList() };
        }

        var argv = RollbackCommands.ForHost(facts, host.User, RollbackCommands.DeleteGenerationNumbers(profile.Profile, doomed), profile.Owner);
        var r = await HostCommands.RunLoggedAsync(ssh, argv, log, ct);
        if (r.ExitCode != 0) throw new OperationFailedException($"nix-env --delete-generations exited {r.ExitCode}: {r.StdErr.Trim()}");

        var after = GenerationValidation.FindProfile((await GenerationsService.ProbeAsync(ssh, ct)).Profiles, p.Profile);
        var left = after?.Generations.Select(g => g.Number).ToList() ?? [];
        var stillThere = doomed.Intersect(left).ToList();
        await audit.RecordAsync(context.Operation.RequestedBy, "generation.delete", HostService.HostTarget(host),
            new { operationId = context.Operation.Id, p.Profile, deleted = doomed, kept = left }, stillThere.Count == 0 ? "ok" : "failed", CancellationToken.None);
        if (stillThere.Count > 0) throw new OperationFailedException($"generations {string.Join(", ", stillThere)} are still there after deleting");
        log.Info($"deleted generations {string.Join(", ", doomed)}; kept {string.Join(", ", left)}");
        return new { deleted = doomed, kept = left };
    }
}
