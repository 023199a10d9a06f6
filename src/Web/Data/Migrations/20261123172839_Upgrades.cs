using System;
using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace NixFleet.Web.Data.Migrations
{
    /// <inheritdoc />
    public partial class Upgrades : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "approval_policies",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    Tag = table.Column<string>(type: "text", nullable: true),
                    RequiredApprovals = table.Column<int>(type: "integer", nullable: false),
                    ApprovalTtlMinutes = table.Column<int>(type: "integer", nullable: false),
                    UpdatedBy = table.Column<string>(type: "text", nullable: false),
                    UpdatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_approval_policies", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "upgrades",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    Reason = table.Column<string>(type: "character varying(500)", maxLength: 500, nullable: false),
                    RequestedBy = table.Column<string>(type: "text", nullable: false),
                    HostIds = table.Column<List<Guid>>(type: "uuid[]", nullable: false),
                    Tag = table.Column<string>(type: "text", nullable: true),
                    ChannelName = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    ChannelUrl = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: false),
                    Action = table.Column<string>(type: "text", nullable: false),
                    CanaryHostIds = table.Column<List<Guid>>(type: "uuid[]", nullable: false),
                    BatchSize = table.Column<int>(type: "integer", nullable: false),
                    Parallelism = table.Column<int>(type: "integer", nullable: false),
                    PauseSeconds = table.Column<int>(type: "integer", nullable: false),
                    HealthCommand = table.Column<string>(type: "character varying(500)", maxLength: 500, nullable: true),
                    AutoRollback = table.Column<bool>(type: "boolean", nullable: false),
                    NotAfter = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    Status = table.Column<string>(type: "text", nullable: false),
                    Hash = table.Column<string>(type: "text", nullable: false),
                    Revision = table.Column<int>(type: "integer", nullable: false),
                    RequiredApprovals = table.Column<int>(type: "integer", nullable: false),
                    ApprovedHash = table.Column<string>(type: "text", nullable: true),
                    OperationId = table.Column<Guid>(type: "uuid", nullable: true),
                    PreviewOperationId = table.Column<Guid>(type: "uuid", nullable: true),
                    DecidedBy = table.Column<string>(type: "text", nullable: true),
                    DecisionReason = table.Column<string>(type: "text", nullable: true),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    UpdatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    StartedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    FinishedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_upgrades", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "upgrade_approvals",
                columns: table => new
                {
                    Id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    RequestId = table.Column<Guid>(type: "uuid", nullable: false),
                    Approver = table.Column<string>(type: "text", nullable: false),
                    Hash = table.Column<string>(type: "text", nullable: false),
                    At = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    ExpiresAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_upgrade_approvals", x => x.Id);
                    table.ForeignKey(
                        name: "FK_upgrade_approvals_upgrades_RequestId",
                        column: x => x.RequestId,
                        principalTable: "upgrades",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "upgrade_hosts",
                columns: table => new
                {
                    RequestId = table.Column<Guid>(type: "uuid", nullable: false),
                    HostId = table.Column<Guid>(type: "uuid", nullable: false),
                    Wave = table.Column<int>(type: "integer", nullable: false),
                    Status = table.Column<string>(type: "text", nullable: false),
                    Profile = table.Column<string>(type: "text", nullable: true),
                    FromGeneration = table.Column<int>(type: "integer", nullable: true),
                    ToGeneration = table.Column<int>(type: "integer", nullable: true),
                    FromStorePath = table.Column<string>(type: "text", nullable: true),
                    ToStorePath = table.Column<string>(type: "text", nullable: true),
                    Error = table.Column<string>(type: "text", nullable: true),
                    OperationId = table.Column<Guid>(type: "uuid", nullable: true),
                    RollbackOperationId = table.Column<Guid>(type: "uuid", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_upgrade_hosts", x => new { x.RequestId, x.HostId });
                    table.ForeignKey(
                        name: "FK_upgrade_hosts_upgrades_RequestId",
                        column: x => x.RequestId,
                        principalTable: "upgrades",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_approval_policies_Tag",
                table: "approval_policies",
                column: "Tag",
                unique: true)
                .Annotation("Npgsql:NullsDistinct", false);

            migrationBuilder.CreateIndex(
                name: "IX_upgrade_approvals_RequestId_Approver_Hash",
                table: "upgrade_approvals",
                columns: new[] { "RequestId", "Approver", "Hash" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_upgrade_hosts_HostId",
                table: "upgrade_hosts",
                column: "HostId");

            migrationBuilder.CreateIndex(
                name: "IX_upgrades_CreatedAt",
                table: "upgrades",
                column: "CreatedAt");

            migrationBuilder.CreateIndex(
                name: "IX_upgrades_Status",
                table: "upgrades",
                column: "Status");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "approval_policies");

            migrationBuilder.DropTable(
                name: "upgrade_approvals");

            migrationBuilder.DropTable(
                name: "upgrade_hosts");

            migrationBuilder.DropTable(
                name: "upgrades");
        }
    }
}
