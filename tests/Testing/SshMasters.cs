using System.Text.RegularExpressions;
using NixFleet.Shared.Execution;

namespace NixFleet.Testing;

/// <summary>For fault tests: ends the OpenSSH master connections under a control directory the hard way, as a network drop would.</summary>
public static partial class SshMasters
{
    /// <summary>Kills each master (our own processes, by the PID <c>ssh -O check</c> names); returns how many.</summary>
    public static async Task<int> KillAsync(string controlDirectory)
    {
        if (!Directory.Exists(controlDirectory)) return 0;
        var killed = 0;
        foreach (var socket in Directory.EnumerateFiles(controlDirectory, "*", SearchOption.AllDirectories))
        {
            var check = await ProcessRunner.RunAsync(["ssh", "-O", "check", "-o", $"ControlPath={socket}", "-F", "/dev/null", "x"]);
            var m = Pid().Match(check.StdErr);
            if (!m.Success) continue;
            System.Diagnostics.Process.GetProcessById(int.Parse(m.Groups[1].Value)).Kill();
            killed++;
        }
        return killed;
    }

    [GeneratedRegex(@"pid=(\d+)")]
    private static partial Regex Pid();
}
