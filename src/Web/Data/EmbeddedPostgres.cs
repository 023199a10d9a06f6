using System.Diagnostics;
using NixFleet.Shared.Execution;

namespace NixFleet.Web.Data;

/// <summary>
/// A private PostgreSQL cluster under the data directory, for running NixFleet with no
/// connection string. It listens only on a Unix socket inside that directory (mode 0700), so
/// trust authentication reaches no one but this machine's owner of the directory and root.
/// </summary>
public sealed class EmbeddedPostgres(string rootDirectory, ILogger logger)
{
    const string ClusterUser = "postgres";
    public string DataDirectory => Path.Combine(rootDirectory, "data");
    public string SocketDirectory => Path.Combine(rootDirectory, "socket");
    public string LogFile => Path.Combine(rootDirectory, "postgres.log");
    public int Port => 5432;

    static bool IsRoot => Environment.UserName == "root";

    public string ConnectionString(string database) =>
        $"Host={SocketDirectory};Port={Port};Database={database};Username={ClusterUser};Pooling=true;Include Error Detail=true";

    /// <summary>
    /// Installs Debian's postgresql if missing, creates the cluster once, starts it if stopped.
    /// Returns whether this call started it (a cluster left running by a killed process is reused).
    /// </summary>
    public async Task<bool> StartAsync(string database, CancellationToken ct)
    {
        var bin = await FindOrInstallBinariesAsync(ct);
        Directory.CreateDirectory(rootDirectory);
        Directory.CreateDirectory(SocketDirectory);
        if (IsRoot) await CheckClusterUserCanReachAsync(ct);
        if (!File.Exists(Path.Combine(DataDirectory, "PG_VERSION")))
        {
            Directory.CreateDirectory(DataDirectory);
            await ChownToClusterUserAsync(ct);
            logger.LogInformation("Creating embedded PostgreSQL cluster in {Dir}", DataDirectory);
            await RunAsClusterUserAsync([Path.Combine(bin, "initdb"), "-D", DataDirectory, "-U", ClusterUser,
                "--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--locale=C.UTF-8"], ct);
        }
        await ChownToClusterUserAsync(ct);
        File.SetUnixFileMode(SocketDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var status = await RunAsClusterUserAsync([Path.Combine(bin, "pg_ctl"), "-D", DataDirectory, "status"], ct, check: false);
        var starting = status.ExitCode != 0;
        if (starting)
        {
            logger.LogInformation("Starting embedded PostgreSQL ({Dir})", DataDirectory);
            var options = $"-c listen_addresses='' -k {SocketDirectory} -p {Port} -c unix_socket_permissions=0700";
            await RunAsClusterUserAsync([Path.Combine(bin, "pg_ctl"), "-D", DataDirectory, "-l", LogFile, "-o", options, "-w", "-t", "60", "start"], ct);
        }
        await EnsureDatabaseAsync(database, ct);
        return starting;
    }

    public async Task StopAsync(CancellationToken ct)
    {
        var bin = await FindOrInstallBinariesAsync(ct);
        await RunAsClusterUserAsync([Path.Combine(bin, "pg_ctl"), "-D", DataDirectory, "-m", "fast", "-w", "stop"], ct, check: false);
    }

    async Task EnsureDatabaseAsync(string database, CancellationToken ct)
    {
        // Unpooled: a pooled connection from before a restart of the cluster would be dead.
        await using var conn = new Npgsql.NpgsqlConnection(ConnectionString("postgres") + ";Pooling=false");
        await conn.OpenAsync(ct);
        await using var exists = new Npgsql.NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", conn);
        exists.Parameters.AddWithValue(database);
        if (await exists.ExecuteScalarAsync(ct) is null)
        {
            // The name is ours (configuration), but quote it as an identifier anyway.
            await using var create = new Npgsql.NpgsqlCommand($"CREATE DATABASE \"{database.Replace("\"", "\"\"")}\"", conn);
            await create.ExecuteNonQueryAsync(ct);
        }
    }

    async Task<string> FindOrInstallBinariesAsync(CancellationToken ct)
    {
        var found = FindBinaries();
        if (found is not null) return found;
        if (!IsRoot)
            throw new InvalidOperationException(
                "No PostgreSQL server found (/usr/lib/postgresql/*/bin/initdb). Install Debian's 'postgresql' package, " +
                "run NixFleet once as root so it can, or set ConnectionStrings__NixFleet.");
        logger.LogWarning("PostgreSQL is not installed; installing Debian's postgresql package");
        var apt = new ProcessOptions { Environment = new Dictionary<string, string?> { ["DEBIAN_FRONTEND"] = "noninteractive" } };
        await Check(await ProcessRunner.RunAsync(["apt-get", "update", "-q"], apt, ct), "apt-get update");
        await Check(await ProcessRunner.RunAsync(["apt-get", "install", "-y", "-q", "postgresql"], apt, ct), "apt-get install postgresql");
        return FindBinaries() ?? throw new InvalidOperationException("postgresql was installed but initdb was not found");
    }

    static string? FindBinaries()
    {
        if (!Directory.Exists("/usr/lib/postgresql")) return null;
        return Directory.GetDirectories("/usr/lib/postgresql")
            .Select(d => Path.Combine(d, "bin"))
            .Where(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")))
            .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
            .FirstOrDefault();
    }

    async Task CheckClusterUserCanReachAsync(CancellationToken ct)
    {
        var probe = await ProcessRunner.RunAsync(["runuser", "-u", ClusterUser, "--", "test", "-x", Path.GetDirectoryName(Path.GetFullPath(rootDirectory))!], ct);
        if (probe.ExitCode != 0)
            throw new InvalidOperationException(
                $"PostgreSQL refuses to run as root, so the embedded cluster runs as '{ClusterUser}', who cannot reach {rootDirectory}. " +
                "Choose a NIXFLEET_DATA_DIR that user can traverse (the default for root is /var/lib/nixfleet).");
    }

    // PostgreSQL refuses to run as root: as root, the cluster belongs to Debian's postgres user.
    async Task ChownToClusterUserAsync(CancellationToken ct)
    {
        if (!IsRoot) return;
        await Check(await ProcessRunner.RunAsync(["chown", "-R", $"{ClusterUser}:{ClusterUser}", rootDirectory], ct), "chown");
        File.SetUnixFileMode(rootDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    async Task<CommandResult> RunAsClusterUserAsync(string[] argv, CancellationToken ct, bool check = true)
    {
        string[] full = IsRoot ? ["runuser", "-u", ClusterUser, "--", .. argv] : argv;
        var result = await ProcessRunner.RunAsync(full, ct);
        if (check) await Check(result, argv[0]);
        return result;
    }

    static Task Check(CommandResult r, string what)
    {
        if (r.ExitCode != 0)
            throw new InvalidOperationException($"{what} failed ({r.ExitCode}): {r.StdErr.Trim()} {r.StdOut.Trim()}".Trim());
        return Task.CompletedTask;
    }
}

/// <summary>Stops the embedded cluster when NixFleet shuts down cleanly, if this process started it.</summary>
public sealed class EmbeddedPostgresStopper(EmbeddedPostgres postgres) : IHostedService
{
    public Task StartAsync(CancellationToken ct) => Task.CompletedTask;
    public Task StopAsync(CancellationToken ct) => postgres.StopAsync(CancellationToken.None);
}
