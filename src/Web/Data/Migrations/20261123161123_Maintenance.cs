using System;
using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace NixFleet.Web.Data.Migrations
{
    /// <inheritdoc />
    public partial class Maintenance : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "DiskSizeBytes",
                table: "host_facts",
                type: "bigint",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "maintenance_policies",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    Name = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false),
                    Tag = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: true),
                    Cron = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    GcMode = table.Column<string>(type: "character varying(20)", maxLength: 20, nullable: false),
                    OlderThanDays = table.Column<int>(type: "integer", nullable: true),
                    KeepLast = table.Column<int>(type: "integer", nullable: true),
                    Profiles = table.Column<List<string>>(type: "text[]", nullable: false),
                    OnlyWhenFreeBelowPercent = table.Column<int>(type: "integer", nullable: true),
                    OptimiseWeekly = table.Column<bool>(type: "boolean", nullable: false),
                    Parallelism = table.Column<int>(type: "integer", nullable: false),
                    Enabled = table.Column<bool>(type: "boolean", nullable: false),
                    UpdatedBy = table.Column<string>(type: "text", nullable: false),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    UpdatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_maintenance_policies", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "maintenance_runs",
                columns: table => new
                {
                    PolicyId = table.Column<Guid>(type: "uuid", nullable: false),
                    ScheduledFor = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    FiredAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    OperationId = table.Column<Guid>(type: "uuid", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_maintenance_runs", x => new { x.PolicyId, x.ScheduledFor });
                    table.ForeignKey(
                        name: "FK_maintenance_runs_maintenance_policies_PolicyId",
                        column: x => x.PolicyId,
                        principalTable: "maintenance_policies",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_maintenance_policies_Name",
                table: "maintenance_policies",
                column: "Name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_maintenance_runs_OperationId",
                table: "maintenance_runs",
                column: "OperationId");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "maintenance_runs");

            migrationBuilder.DropTable(
                name: "maintenance_policies");

            migrationBuilder.DropColumn(
                name: "DiskSizeBytes",
                table: "host_facts");
        }
    }
}
