using System;
using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace NixFleet.Web.Data.Migrations
{
    /// <inheritdoc />
    public partial class Builders : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "builders",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    HostId = table.Column<Guid>(type: "uuid", nullable: true),
                    Address = table.Column<string>(type: "character varying(253)", maxLength: 253, nullable: false),
                    Port = table.Column<int>(type: "integer", nullable: false),
                    User = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    Systems = table.Column<List<string>>(type: "text[]", nullable: false),
                    MaxJobs = table.Column<int>(type: "integer", nullable: false),
                    SpeedFactor = table.Column<int>(type: "integer", nullable: false),
                    SupportedFeatures = table.Column<List<string>>(type: "text[]", nullable: false),
                    MandatoryFeatures = table.Column<List<string>>(type: "text[]", nullable: false),
                    HostKey = table.Column<string>(type: "text", nullable: false),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    LastVerifiedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    LastReachable = table.Column<bool>(type: "boolean", nullable: true),
                    LastTrusted = table.Column<bool>(type: "boolean", nullable: true),
                    LastBuildSucceeded = table.Column<bool>(type: "boolean", nullable: true),
                    LastError = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_builders", x => x.Id);
                    table.ForeignKey(
                        name: "FK_builders_hosts_HostId",
                        column: x => x.HostId,
                        principalTable: "hosts",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.SetNull);
                });

            migrationBuilder.CreateTable(
                name: "host_build_settings",
                columns: table => new
                {
                    HostId = table.Column<Guid>(type: "uuid", nullable: false),
                    MaxJobs = table.Column<int>(type: "integer", nullable: true),
                    UseSubstitutes = table.Column<bool>(type: "boolean", nullable: false),
                    AppliedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    LastResult = table.Column<string>(type: "jsonb", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_host_build_settings", x => x.HostId);
                    table.ForeignKey(
                        name: "FK_host_build_settings_hosts_HostId",
                        column: x => x.HostId,
                        principalTable: "hosts",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "host_builders",
                columns: table => new
                {
                    HostId = table.Column<Guid>(type: "uuid", nullable: false),
                    BuilderId = table.Column<Guid>(type: "uuid", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_host_builders", x => new { x.HostId, x.BuilderId });
                    table.ForeignKey(
                        name: "FK_host_builders_builders_BuilderId",
                        column: x => x.BuilderId,
                        principalTable: "builders",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Restrict);
                    table.ForeignKey(
                        name: "FK_host_builders_hosts_HostId",
                        column: x => x.HostId,
                        principalTable: "hosts",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_builders_HostId",
                table: "builders",
                column: "HostId");

            migrationBuilder.CreateIndex(
                name: "IX_host_builders_BuilderId",
                table: "host_builders",
                column: "BuilderId");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "host_build_settings");

            migrationBuilder.DropTable(
                name: "host_builders");

            migrationBuilder.DropTable(
                name: "builders");
        }
    }
}
