using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Generations;
using NixFleet.Web.Features.Hosts;
using NixFleet.Web.Features.Operations;

namespace NixFleet.Web.Features.Upgrades;

/// <summary>
/// "upgrade-preview": what an upgrade would change, shown before anyone approves it, without
/// changing the host. On NixOS: build the new system from the request's channel tarball given
/// with <c>-I nixpkgs=URL</c> (the host's channels stay as they are; Nix keeps the download in
/// its own cache) and compare its closure with what runs (<c>nix store diff-closures</c>). On a
/// Nix-only host: <c>nix-env -f URL -u --dry-run</c> on the profile, as its user.
/// </summary>
public sealed class UpgradePreviewHandler(SshConnections connections, HostRefresher refresher) : IOperationHandler
{
    public const string KindName = "upgrade-preview";
    public string Kind => KindName;

    public sealed record Parameters(Guid RequestId);

    public sealed record Result(
        Guid HostId, string Host, string Kind, string? CurrentSystem, string? NewSystem, string? NewVersion, ClosureDiff? Diff,
        IReadOnlyList<string> Upgrades);

    public async Task<object?> RunAsync(OperationContext context, CancellationToken ct)
    {
        var p = context.Parameters<Parameters>() ?? throw new OperationFailedException("no parameters");
        var db = context.Services.GetRequiredService<NixFleetDb>();
        var request = await db.Upgrades.AsNoTracking().FirstOrDefaultAsync(r => r.Id == p.RequestId, ct)
            ?? throw new OperationFailedException("the upgrade request no longer exists");
        var host = await db.Hosts.AsNoTracking().FirstOrDefaultAsync(h => h.Id == context.Operation.HostId, ct)
            ?? throw new OperationFailedException("the host no longer exists");
        var log = context.Log;
        try
        {
            var ssh = connections.For(host);
            var facts = await refresher.KnownOrFreshFactsAsync(host, log, ct);
            var tarball = TarballUrl(request.ChannelUrl);
            log.Info($"previewing {request.ChannelName} from {tarball} on {host.Name}; nothing on the host changes");
            if (facts.IsNixOS) return await PreviewSystemAsync(ssh, facts, host, tarball, log, ct);
            return await PreviewProfileAsync(ssh, facts, host, tarball, log, ct);
        }
        catch (SshException e)
        {
            throw new OperationFailedException($"{host.Name}: {e.Message}");
        }
    }

    static async Task<Result> PreviewSystemAsync(IRemoteShell ssh, HostFacts facts, FleetHost host, string tarball, OperationLog log, CancellationToken ct)
    {
        var build = await HostCommands.RunLoggedAsync(ssh, NixLocator.Command(facts, host.User, "nix-build", "<nixpkgs/nixos>", "-A", "system", "--no-out-link",
            "--option", "tarball-ttl", "0", "-I", $"nixpkgs={tarball}"), log, ct);
        var built = build.StdOut.Split('\n').Select(l => l.Trim()).LastOrDefault(GenerationsParser.IsStorePath);
        if (build.ExitCode != 0 || built is null)
            throw new OperationFailedException($"building the new system failed (exit {build.ExitCode}): {ChannelsParser.ErrorMessage(build.StdErr) ?? build.StdErr.Trim()}");
        var current = (await GenerationsService.ProbeAsync(ssh, ct)).CurrentSystem;
        var version = (await ssh.RunAsync(["cat", built + "/nixos-version"], null, null, ct)).StdOut.Trim();
        ClosureDiff? diff = null;
        if (current is not null && GenerationsParser.IsStorePath(current))
        {
            var r = await HostCommands.RunLoggedAsync(ssh, RollbackCommands.ForHost(facts, host.User, RollbackCommands.DiffClosures(current, built)), log, ct);
            if (r.ExitCode == 0) diff = DiffClosures.Parse(r.StdOut);
        }
        log.Info($"the new system would be {built} (NixOS {version}); running now: {current}");
        return new Result(host.Id, host.Name, "nixos", current, built, version, diff, []);
    }

    static async Task<Result> PreviewProfileAsync(IRemoteShell ssh, HostFacts facts, FleetHost host, string tarball, OperationLog log, CancellationToken ct)
    {
        var profile = facts.CurrentGenerationProfile ?? throw new OperationFailedException("the host has no profile to upgrade");
        var owner = facts.InstallType == NixInstallType.SingleUser ? facts.StoreOwner : null;
        var r = await HostCommands.RunLoggedAsync(ssh, RollbackCommands.ForHost(facts, host.User,
            ["nix-env", "-p", profile, "-f", tarball, "--option", "tarball-ttl", "0", "--upgrade", "--dry-run"], owner), log, ct);
        if (r.ExitCode != 0)
            throw new OperationFailedException($"nix-env --upgrade --dry-run failed (exit {r.ExitCode}): {ChannelsParser.ErrorMessage(r.StdErr) ?? r.StdErr.Trim()}");
        // "(dry run; not doing anything)" then "upgrading 'hello-1.0' to 'hello-2.0'" per package, on stderr.
        var upgrades = r.StdErr.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("upgrading '", StringComparison.Ordinal)).ToList();
        log.Info(upgrades.Count == 0 ? "nothing in the profile would change" : $"{upgrades.Count} package(s) would change");
        return new Result(host.Id, host.Name, "profile", null, null, null, null, upgrades);
    }

    /// <summary>What nix-channel downloads for a channel URL: the URL itself when it names a tarball, else URL/nixexprs.tar.xz.</summary>
    public static string TarballUrl(string channelUrl) =>
        channelUrl.EndsWith(".tar.xz", StringComparison.Ordinal) || channelUrl.EndsWith(".tar.gz", StringComparison.Ordinal) || channelUrl.EndsWith(".tar.bz2", StringComparison.Ordinal)
            ? channelUrl
            : channelUrl.TrimEnd('/') + "/nixexprs.tar.xz";
}
