using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace NixFleet.Web.Data.Migrations
{
    /// <inheritdoc />
    public partial class HostSearchIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AlterDatabase()
                .Annotation("Npgsql:PostgresExtension:pg_trgm", ",,");

            migrationBuilder.CreateIndex(
                name: "IX_hosts_Address_trgm",
                table: "hosts",
                column: "Address")
                .Annotation("Npgsql:IndexMethod", "gin")
                .Annotation("Npgsql:IndexOperators", new[] { "gin_trgm_ops" });

            migrationBuilder.CreateIndex(
                name: "IX_hosts_LastSeenAt_Name",
                table: "hosts",
                columns: new[] { "LastSeenAt", "Name" });

            migrationBuilder.CreateIndex(
                name: "IX_hosts_Name_trgm",
                table: "hosts",
                column: "Name")
                .Annotation("Npgsql:IndexMethod", "gin")
                .Annotation("Npgsql:IndexOperators", new[] { "gin_trgm_ops" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_hosts_Address_trgm",
                table: "hosts");

            migrationBuilder.DropIndex(
                name: "IX_hosts_LastSeenAt_Name",
                table: "hosts");

            migrationBuilder.DropIndex(
                name: "IX_hosts_Name_trgm",
                table: "hosts");

            migrationBuilder.AlterDatabase()
                .OldAnnotation("Npgsql:PostgresExtension:pg_trgm", ",,");
        }
    }
}
