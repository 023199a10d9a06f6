using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;

namespace NixFleet.Web.Data;

public sealed class NixFleetDb(DbContextOptions<NixFleetDb> options)
    : IdentityDbContext<AppUser>(options), IDataProtectionKeyContext
{
    public DbSet<Microsoft.AspNetCore.DataProtection.EntityFrameworkCore.DataProtectionKey> DataProtectionKeys => Set<Microsoft.AspNetCore.DataProtection.EntityFrameworkCore.DataProtectionKey>();
    public DbSet<ApiToken> ApiTokens => Set<ApiToken>();
    public DbSet<FleetKey> FleetKeys => Set<FleetKey>();
    public DbSet<FleetHost> Hosts => Set<FleetHost>();
    public DbSet<HostFactsRecord> HostFacts => Set<HostFactsRecord>();
    public DbSet<Operation> Operations => Set<Operation>();
    public DbSet<OperationLine> OperationLines => Set<OperationLine>();
    public DbSet<AuditEntry> Audit => Set<AuditEntry>();
    public DbSet<HostLock> HostLocks => Set<HostLock>();
    public DbSet<GenerationListing> GenerationListings => Set<GenerationListing>();
    public DbSet<MaintenancePolicy> MaintenancePolicies => Set<MaintenancePolicy>();
    public DbSet<MaintenanceRun> MaintenanceRuns => Set<MaintenanceRun>();
    public DbSet<UpgradeRequest> Upgrades => Set<UpgradeRequest>();
    public DbSet<UpgradeApproval> UpgradeApprovals => Set<UpgradeApproval>();
    public DbSet<UpgradeHost> UpgradeHosts => Set<UpgradeHost>();
    public DbSet<ApprovalPolicy> ApprovalPolicies => Set<ApprovalPolicy>();
    public DbSet<HostConversion> HostConversions => Set<HostConversion>();
    public DbSet<BuildMachineRecord> Builders => Set<BuildMachineRecord>();
    public DbSet<HostBuilderAssignment> HostBuilders => Set<HostBuilderAssignment>();
    public DbSet<HostBuildSettings> HostBuildSettings => Set<HostBuildSettings>();

    protected override void OnModelCreating(ModelBuilder b)
    {
        base.OnModelCreating(b);
        b.HasPostgresExtension("pg_trgm");

        b.Entity<ApiToken>(e =>
        {
            e.ToTable("api_tokens");
            e.HasIndex(t => t.TokenHash).IsUnique();
            e.HasOne<AppUser>().WithMany().HasForeignKey(t => t.UserId).OnDelete(DeleteBehavior.Cascade);
        });

        b.Entity<FleetKey>(e => e.ToTable("fleet_keys"));

        b.Entity<FleetHost>(e =>
        {
            e.ToTable("hosts");
            e.HasIndex(h => h.Name).IsUnique();
            e.HasIndex(h => h.Tags).HasMethod("gin");
            // Search is ILIKE '%q%' on name and address: trigram indexes keep it off a sequential scan.
            e.HasIndex(h => h.Name, "IX_hosts_Name_trgm").HasMethod("gin").HasOperators("gin_trgm_ops");
            e.HasIndex(h => h.Address, "IX_hosts_Address_trgm").HasMethod("gin").HasOperators("gin_trgm_ops");
            e.HasIndex(h => new { h.LastSeenAt, h.Name });
            e.Property(h => h.Name).HasMaxLength(63);
            e.Property(h => h.Address).HasMaxLength(253);
            e.Property(h => h.User).HasMaxLength(32);
            e.HasOne(h => h.LatestFacts).WithMany().HasForeignKey(h => h.LatestFactsId).OnDelete(DeleteBehavior.SetNull);
        });

        b.Entity<HostFactsRecord>(e =>
        {
            e.ToTable("host_facts");
            e.HasIndex(f => new { f.HostId, f.CollectedAt });
            e.HasOne<FleetHost>().WithMany().HasForeignKey(f => f.HostId).OnDelete(DeleteBehavior.Cascade);
            e.OwnsMany(f => f.Channels, c => c.ToJson());
        });

        b.Entity<Operation>(e =>
        {
            e.ToTable("operations");
            e.HasIndex(o => o.CreatedAt);
            e.HasIndex(o => new { o.HostId, o.CreatedAt });
            e.HasIndex(o => o.Status);
            e.HasIndex(o => o.ParentId);
            e.Property(o => o.Parameters).HasColumnType("jsonb");
            e.Property(o => o.Result).HasColumnType("jsonb");
            e.Property(o => o.Checkpoint).HasColumnType("jsonb");
        });

        b.Entity<GenerationListing>(e =>
        {
            e.ToTable("generation_listings");
            e.HasKey(l => l.HostId);
            e.Property(l => l.Report).HasColumnType("jsonb");
            e.HasOne<FleetHost>().WithMany().HasForeignKey(l => l.HostId).OnDelete(DeleteBehavior.Cascade);
        });

        b.Entity<HostLock>(e =>
        {
            e.ToTable("host_locks");
            e.HasKey(l => l.HostId);
            e.HasIndex(l => l.OperationId);
            e.HasOne<FleetHost>().WithMany().HasForeignKey(l => l.HostId).OnDelete(DeleteBehavior.Cascade);
        });

        b.Entity<OperationLine>(e =>
        {
            e.ToTable("operation_lines");
            e.HasIndex(l => new { l.OperationId, l.Seq }).IsUnique();
            e.HasOne<Operation>().WithMany().HasForeignKey(l => l.OperationId).OnDelete(DeleteBehavior.Cascade);
        });

        b.Entity<MaintenancePolicy>(e =>
        {
            e.ToTable("maintenance_policies");
            e.HasIndex(p => p.Name).IsUnique();
            e.Property(p => p.Name).HasMaxLength(100);
            e.Property(p => p.Tag).HasMaxLength(63);
            e.Property(p => p.Cron).HasMaxLength(200);
            e.Property(p => p.GcMode).HasMaxLength(20);
        });

        b.Entity<MaintenanceRun>(e =>
        {
            e.ToTable("maintenance_runs");
            e.HasKey(r => new { r.PolicyId, r.ScheduledFor });
            e.HasIndex(r => r.OperationId);
            e.HasOne<MaintenancePolicy>().WithMany().HasForeignKey(r => r.PolicyId).OnDelete(DeleteBehavior.Cascade);
        });

        b.Entity<UpgradeRequest>(e =>
        {
            e.ToTable("upgrades");
            e.HasIndex(u => u.Status);
            e.HasIndex(u => u.CreatedAt);
            e.Property(u => u.Reason).HasMaxLength(500);
            e.Property(u => u.ChannelName).HasMaxLength(64);
            e.Property(u => u.ChannelUrl).HasMaxLength(2000);
            e.Property(u => u.HealthCommand).HasMaxLength(500);
            // Optimistic concurrency: an edit and an approval never both win on a stale row.
            e.Property(u => u.Revision).IsConcurrencyToken();
        });

        b.Entity<UpgradeApproval>(e =>
        {
            e.ToTable("upgrade_approvals");
            // One user counts once for one content of a request.
            e.HasIndex(a => new { a.RequestId, a.Approver, a.Hash }).IsUnique();
            e.HasOne<UpgradeRequest>().WithMany().HasForeignKey(a => a.RequestId).OnDelete(DeleteBehavior.Cascade);
        });

        b.Entity<UpgradeHost>(e =>
        {
            e.ToTable("upgrade_hosts");
            e.HasKey(h => new { h.RequestId, h.HostId });
            e.HasIndex(h => h.HostId);
            e.HasOne<UpgradeRequest>().WithMany().HasForeignKey(h => h.RequestId).OnDelete(DeleteBehavior.Cascade);
        });

        b.Entity<ApprovalPolicy>(e =>
        {
            e.ToTable("approval_policies");
            e.HasIndex(p => p.Tag).IsUnique().AreNullsDistinct(false);
        });

        b.Entity<HostConversion>(e =>
        {
            e.ToTable("host_conversions");
            e.HasKey(c => c.HostId);
            e.Property(c => c.ConversionId).HasMaxLength(64);
            e.Property(c => c.Status).HasMaxLength(20);
            e.Property(c => c.Receipt).HasColumnType("jsonb");
            e.HasOne<FleetHost>().WithMany().HasForeignKey(c => c.HostId).OnDelete(DeleteBehavior.Cascade);
        });

        b.Entity<BuildMachineRecord>(e =>
        {
            e.ToTable("builders");
            e.Property(m => m.Address).HasMaxLength(253);
            e.Property(m => m.User).HasMaxLength(32);
            e.HasOne<FleetHost>().WithMany().HasForeignKey(m => m.HostId).OnDelete(DeleteBehavior.SetNull);
        });

        b.Entity<HostBuilderAssignment>(e =>
        {
            e.ToTable("host_builders");
            e.HasKey(h => new { h.HostId, h.BuilderId });
            e.HasIndex(h => h.BuilderId);
            e.HasOne<FleetHost>().WithMany().HasForeignKey(h => h.HostId).OnDelete(DeleteBehavior.Cascade);
            e.HasOne<BuildMachineRecord>().WithMany().HasForeignKey(h => h.BuilderId).OnDelete(DeleteBehavior.Restrict);
        });

        b.Entity<HostBuildSettings>(e =>
        {
            e.ToTable("host_build_settings");
            e.HasKey(h => h.HostId);
            e.Property(h => h.LastResult).HasColumnType("jsonb");
            e.HasOne<FleetHost>().WithMany().HasForeignKey(h => h.HostId).OnDelete(DeleteBehavior.Cascade);
        });

        b.Entity<AuditEntry>(e =>
        {
            e.ToTable("audit");
            e.HasIndex(a => a.At);
            e.Property(a => a.Details).HasColumnType("jsonb");
        });
    }
}
