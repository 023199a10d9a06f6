using System.ComponentModel.DataAnnotations;

namespace NixFleet.Web;

/// <summary>The "NixFleet" configuration section; the NIXFLEET_* environment variables map onto it.</summary>
public sealed class NixFleetOptions
{
    public const string Section = "NixFleet";

    /// <summary>Everything kept on local disk: the embedded cluster, SSH control sockets, known_hosts.</summary>
    [Required] public string DataDir { get; set; } = DefaultDataDir();
    [Required, EmailAddress] public string AdminEmail { get; set; } = "admin@localhost";
    public string? AdminPassword { get; set; }
    /// <summary>Apply EF Core migrations at start. With several web nodes, let one do it.</summary>
    public bool MigrateOnStart { get; set; } = true;
    /// <summary>Quartz cron for the fleet-wide refresh; empty turns it off.</summary>
    public string FleetRefreshCron { get; set; } = "0 0/15 * * * ?";
    [Range(1, 256)] public int RefreshParallelism { get; set; } = 16;
    [Range(1, 300)] public int SshConnectTimeoutSeconds { get; set; } = 10;
    /// <summary>How long a running operation may go without a heartbeat before it is declared lost.</summary>
    [Range(10, 3600)] public int OperationStaleSeconds { get; set; } = 120;

    /// <summary>Where upgrade events are POSTed as JSON (requested, approved, rejected, started, finished, failed); unset: nowhere.</summary>
    public string? WebhookUrl { get; set; }

    /// <summary>Allow file:// channel URLs in upgrades and channel changes (a local mirror); off by default.</summary>
    public bool AllowFileChannelUrls { get; set; }

    static string DefaultDataDir()
    {
        if (Environment.UserName == "root") return "/var/lib/nixfleet";
        var xdg = Environment.GetEnvironmentVariable("XDG_DATA_HOME");
        var baseDir = string.IsNullOrEmpty(xdg)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share")
            : xdg;
        return Path.Combine(baseDir, "nixfleet");
    }

    public static void MapEnvironment(ConfigurationManager config)
    {
        var map = new Dictionary<string, string>
        {
            ["NIXFLEET_DATA_DIR"] = "DataDir",
            ["NIXFLEET_ADMIN_EMAIL"] = "AdminEmail",
            ["NIXFLEET_ADMIN_PASSWORD"] = "AdminPassword",
        };
        var values = map
            .Select(kv => (Key: $"{Section}:{kv.Value}", Value: Environment.GetEnvironmentVariable(kv.Key)))
            .Where(kv => !string.IsNullOrEmpty(kv.Value))
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        if (values.Count > 0) config.AddInMemoryCollection(values);
    }
}
