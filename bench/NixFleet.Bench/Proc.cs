using System.Diagnostics;
using System.Globalization;

namespace NixFleet.Bench;

/// <summary>CPU time from /proc (clock ticks of 10 ms, as on every Linux of this kind).</summary>
public static class Cpu
{
    const double MsPerTick = 10.0;

    /// <summary>(own user+system, reaped children's user+system) in ms, or zeros if the process is gone.</summary>
    public static (double Self, double Children) Of(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // Fields after the command name, which is in parentheses and may contain spaces.
            var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // f[0] is field 3 (state): utime is field 14 -> f[11], stime f[12], cutime f[13], cstime f[14].
            double T(int i) => long.Parse(f[i], CultureInfo.InvariantCulture) * MsPerTick;
            return (T(11) + T(12), T(13) + T(14));
        }
        catch (IOException) { return (0, 0); }
    }

    /// <summary>CPU (ms) of every live process whose command line contains all the markers, by PID.</summary>
    public static Dictionary<int, double> OfMatching(params string[] markers)
    {
        var result = new Dictionary<int, double>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (markers.All(m => cmdline.Contains(m, StringComparison.Ordinal))) result[pid] = Of(pid).Self;
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return result;
    }

    /// <summary>CPU used between two snapshots by the processes in them (new ones count from zero).</summary>
    public static double Delta(Dictionary<int, double> before, Dictionary<int, double> after) =>
        after.Sum(kv => kv.Value - before.GetValueOrDefault(kv.Key));
}

public sealed record RunResult(int ExitCode, string StdOut, string StdErr, double WallMs);

/// <summary>Runs a local program the bench itself starts; on timeout it kills that process tree (and only it).</summary>
public static class Run
{
    public static async Task<RunResult> ProgramAsync(IReadOnlyList<string> argv, TimeSpan timeout, string? stdin = null)
    {
        var psi = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in argv.Skip(1)) psi.ArgumentList.Add(a);
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {argv[0]}");
        if (stdin is not null) await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
            throw new TimeoutException($"{string.Join(' ', argv.Take(3))} ... did not finish in {timeout}");
        }
        sw.Stop();
        return new RunResult(p.ExitCode, await stdout, await stderr, sw.Elapsed.TotalMilliseconds);
    }

    public static Task<RunResult> BashAsync(string script, TimeSpan timeout) => ProgramAsync(["bash", "-c", script], timeout);

    /// <summary>Runs a bash script under /usr/bin/time: wall from our clock, user+sys of the script and everything it waited for.</summary>
    public static async Task<(RunResult Run, double CpuMs)> TimedBashAsync(string script, TimeSpan timeout)
    {
        var cpuFile = Path.GetTempFileName();
        try
        {
            var r = await ProgramAsync(["/usr/bin/time", "-o", cpuFile, "-f", "%U %S", "bash", "-c", script], timeout);
            var parts = (await File.ReadAllTextAsync(cpuFile)).Trim().Split('\n').Last().Split(' ');
            var cpu = parts.Length == 2 && double.TryParse(parts[0], CultureInfo.InvariantCulture, out var u) && double.TryParse(parts[1], CultureInfo.InvariantCulture, out var s)
                ? (u + s) * 1000 : double.NaN;
            return (r, cpu);
        }
        finally
        {
            File.Delete(cpuFile);
        }
    }
}
