using NixFleet.Shared.Execution;
using NixFleet.Shared.Nix;

namespace NixFleet.Shared.Tests.Nix;

/// <summary>
/// The rollback tests' hosts: a NixOS stand-in, a single-user, a multi-user and a systemd host
/// (see <see cref="SshTestFleet"/>).
/// </summary>
public sealed class RollbackFleet() : SshTestFleet(
    Enumerable.Range(71, 9).Select(i => $"127.0.0.{i}").ToArray(),
    (Nixos, "nixos"), (Single, "single"), (Multi, "multi"), (Systemd, "systemd"))
{
    public const string Nixos = "rbnixos", Single = "rbsingle", Multi = "rbmulti", Systemd = "rbsystemd";

    public async Task<GenerationsReport> Generations(string host)
    {
        var probe = await Ssh(host, ["sh", "-c", GenerationsProbe.Script]);
        Assert.True(probe.Succeeded, probe.StdErr);
        return GenerationsParser.ParseReport(probe.StdOut);
    }

    /// <summary>Starts an activation and follows it until it is over, collecting its output as NixFleet would stream it.</summary>
    public async Task<(ActivationStart Start, ActivationProgress Last, List<string> Lines)> Activate(
        string host, string systemPath, string mode, string runId)
    {
        var started = await Ssh(host, DetachedActivation.StartCommand(systemPath, mode, runId));
        Assert.True(started.Succeeded, started.StdErr);
        var start = DetachedActivation.ParseStart(started.StdOut)!;
        var (last, lines) = await Follow(host, runId);
        return (start, last, lines);
    }

    public async Task<(ActivationProgress Last, List<string> Lines)> Follow(string host, string runId)
    {
        var lines = new List<string>();
        long offset = 0;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var polled = await Ssh(host, DetachedActivation.FollowCommand(runId, offset));
            Assert.True(polled.Succeeded, polled.StdErr);
            var progress = DetachedActivation.ParseFollow(polled.StdOut)!;
            lines.AddRange(progress.Lines);
            offset = progress.NextOffset;
            if (progress.Finished && !progress.MoreOutput)
            {
                return (progress, lines);
            }

            Assert.True(DateTime.UtcNow < deadline, $"run {runId} did not end: {progress.State}");
            await Task.Delay(progress.MoreOutput ? 0 : 100);
        }
    }

    public static string NewRunId() => "t-" + Guid.NewGuid().ToString("N")[..12];
}
