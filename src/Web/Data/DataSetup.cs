using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Features.SshKey;

namespace NixFleet.Web.Data;

public static class DataSetup
{
    public const string ConnectionName = "NixFleet";

    /// <summary>
    /// Uses ConnectionStrings:NixFleet when set; otherwise starts (creating it the first time) a
    /// private PostgreSQL cluster under the data directory.
    /// </summary>
    public static async Task AddNixFleetDatabaseAsync(this WebApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString(ConnectionName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            var dataDir = builder.Configuration[$"{NixFleetOptions.Section}:DataDir"] ?? new NixFleetOptions().DataDir;
            using var loggerFactory = LoggerFactory.Create(l => l.AddConsole());
            var embedded = new EmbeddedPostgres(Path.Combine(dataDir, "pg"), loggerFactory.CreateLogger<EmbeddedPostgres>());
            var startedByUs = await embedded.StartAsync("nixfleet", CancellationToken.None);
            connectionString = embedded.ConnectionString("nixfleet");
            builder.Configuration[$"ConnectionStrings:{ConnectionName}"] = connectionString;
            // Registered first, so stopped last: after Quartz and every job are done with it.
            if (startedByUs) builder.Services.AddHostedService(_ => new EmbeddedPostgresStopper(embedded));
        }
        // Transient failures (a database restart) are retried for about a minute before an operation fails.
        builder.Services.AddDbContext<NixFleetDb>(o => o.UseNpgsql(connectionString,
            npg => npg.EnableRetryOnFailure(maxRetryCount: 8, maxRetryDelay: TimeSpan.FromSeconds(10), errorCodesToAdd: null)));
        builder.Services.AddDataProtection()
            .SetApplicationName("NixFleet")
            .PersistKeysToDbContext<NixFleetDb>();
    }

    /// <summary>Migrations (unless another node does them), roles, the first admin and the fleet key.</summary>
    public static async Task InitializeAsync(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<NixFleetOptions>>().Value;
        await using var scope = app.Services.CreateAsyncScope();
        var services = scope.ServiceProvider;
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("NixFleet.Startup");
        var db = services.GetRequiredService<NixFleetDb>();
        if (options.MigrateOnStart) await db.Database.MigrateAsync();

        var roles = services.GetRequiredService<RoleManager<IdentityRole>>();
        foreach (var role in Roles.All)
            if (!await roles.RoleExistsAsync(role)) await roles.CreateAsync(new IdentityRole(role));

        var users = services.GetRequiredService<UserManager<AppUser>>();
        if (!await users.Users.AnyAsync())
        {
            var generated = string.IsNullOrEmpty(options.AdminPassword);
            var password = generated ? GeneratePassword() : options.AdminPassword!;
            var admin = new AppUser { UserName = options.AdminEmail, Email = options.AdminEmail, EmailConfirmed = true };
            var created = await users.CreateAsync(admin, password);
            if (!created.Succeeded)
                throw new InvalidOperationException("Could not create the first admin: " + string.Join(" ", created.Errors.Select(e => e.Description)));
            await users.AddToRoleAsync(admin, Roles.Admin);
            if (generated)
            {
                // Printed once, to the console only: the operator's one chance to read it.
                Console.WriteLine($"""

                    ==> NixFleet first admin: {options.AdminEmail}
                    ==> password (shown once; set NIXFLEET_ADMIN_PASSWORD to choose one): {password}

                    """);
            }
            logger.LogInformation("Created the first admin {Email}", options.AdminEmail);
        }
        await services.GetRequiredService<FleetKeyStore>().EnsureAsync(CancellationToken.None);
    }

    static string GeneratePassword()
    {
        const string alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        var chars = System.Security.Cryptography.RandomNumberGenerator.GetItems<char>(alphabet, 20);
        // Identity's default rules want a digit, an upper and a lower case letter and a symbol.
        return new string(chars) + "-7aA";
    }
}
