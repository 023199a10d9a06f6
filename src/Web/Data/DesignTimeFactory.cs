using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace NixFleet.Web.Data;

/// <summary>For `dotnet ef migrations add`: no database is needed to write a migration.</summary>
public sealed class DesignTimeFactory : IDesignTimeDbContextFactory<NixFleetDb>
{
    public NixFleetDb CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<NixFleetDb>().UseNpgsql("Host=design-time-only").Options);
}
