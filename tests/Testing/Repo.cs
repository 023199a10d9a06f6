namespace NixFleet.Testing;

public static class Repo
{
    /// <summary>The checkout's root: the directory holding NixFleet.sln above the test binaries.</summary>
    public static string Root { get; } = FindRoot();

    public static string FleetScript => Path.Combine(Root, "tests", "fleet", "fleet.sh");

#if DEBUG
    public const string Configuration = "Debug";
#else
    public const string Configuration = "Release";
#endif

    /// <summary>The web app as built by the solution build, run from its own output directory.</summary>
    public static string WebOutput => Path.Combine(Root, "src", "Web", "bin", Configuration, "net10.0");

    /// <summary>A short scratch directory: SSH control sockets must fit in 107 bytes.</summary>
    public static string Scratch(string name)
    {
        _ = StaleRunsCleaned.Value;
        var dir = Path.Combine("/tmp", $"nft-{Environment.ProcessId}", name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    // A test host process is often ended without running exit handlers: the next run ends the
    // fleets and the PostgreSQL cluster a finished run left behind (tests/cleanup-stale.sh).
    static readonly Lazy<bool> StaleRunsCleaned = new(() =>
    {
        using var cleanup = System.Diagnostics.Process.Start("bash", [Path.Combine(Root, "tests", "cleanup-stale.sh")]);
        cleanup.WaitForExit();
        return true;
    });

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "NixFleet.sln"))) return dir.FullName;
        throw new InvalidOperationException("NixFleet.sln not found above " + AppContext.BaseDirectory);
    }
}
