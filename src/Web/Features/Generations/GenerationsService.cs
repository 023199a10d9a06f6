using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Generations;

/// <summary>
/// Reads a host's profiles and generations (one SSH round trip) and keeps the last listing, which
/// is what rollback and delete requests are checked against before anything is queued.
/// </summary>
public sealed class GenerationsService(NixFleetDb db, SshConnections connections, HostRefresher refresher)
{
    public sealed record Listing(GenerationsReport Report, DateTimeOffset CollectedAt);

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
        var facts = await FactsAsync(host, ct);
        var argv = RollbackCommands.ForHost(facts, host.User, RollbackCommands.DiffClosures(from.StorePath, to.StorePath));
        var result = await ssh.RunAsync(argv, null, null, ct);
        if (result.ExitCode != 0)
            throw new OperationFailedException($"nix store diff-closures failed (exit {result.ExitCode}): {result.StdErr.Trim()}");
        return DiffClosures.Parse(result.StdOut);
    }

    async Task<HostFacts> FactsAsync(FleetHost host, CancellationToken ct)
    {
        var outcome = await refresher.RefreshAsync(host.Id, null, ct);
        return outcome.Facts ?? throw new OperationFailedException(outcome.Error ?? "could not read the host's facts");
    }
}
