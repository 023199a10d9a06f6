using Microsoft.Extensions.Logging.Abstractions;
using NixFleet.Web.Data;
using Npgsql;

namespace NixFleet.Testing;

/// <summary>
/// One real PostgreSQL cluster for the whole test run (the same embedded cluster NixFleet starts
/// for itself), with a fresh database for each test that asks.
/// </summary>
public static class TestPostgres
{
    static readonly SemaphoreSlim Gate = new(1, 1);
    static EmbeddedPostgres? _cluster;

    public static async Task<EmbeddedPostgres> ClusterAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (_cluster is null)
            {
                var cluster = new EmbeddedPostgres(Repo.Scratch("pg"), NullLogger.Instance);
                await cluster.StartAsync("postgres", CancellationToken.None);
                AppDomain.CurrentDomain.ProcessExit += (_, _) => cluster.StopAsync(CancellationToken.None).GetAwaiter().GetResult();
                _cluster = cluster;
            }
            return _cluster;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public static async Task<string> NewDatabaseAsync(string prefix = "t")
    {
        var cluster = await ClusterAsync();
        var name = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(40, prefix.Length + 33)];
        await using var conn = new NpgsqlConnection(cluster.ConnectionString("postgres"));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", conn);
        await cmd.ExecuteNonQueryAsync();
        return cluster.ConnectionString(name);
    }

    /// <summary>A cluster of the caller's own, for tests that stop and restart the database.</summary>
    public static async Task<EmbeddedPostgres> PrivateClusterAsync(string name, string database)
    {
        var cluster = new EmbeddedPostgres(Repo.Scratch($"pg-{name}"), NullLogger.Instance);
        await cluster.StartAsync(database, CancellationToken.None);
        return cluster;
    }
}
