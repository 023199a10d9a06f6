using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace NixFleet.Web.Data.Migrations
{
    /// <inheritdoc />
    public partial class FactsNixBinDirectory : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "NixBinDirectory",
                table: "host_facts",
                type: "text",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "NixBinDirectory",
                table: "host_facts");
        }
    }
}
