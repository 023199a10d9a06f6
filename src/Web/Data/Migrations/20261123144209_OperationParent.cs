using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace NixFleet.Web.Data.Migrations
{
    /// <inheritdoc />
    public partial class OperationParent : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<Guid>(
                name: "ParentId",
                table: "operations",
                type: "uuid",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "IX_operations_ParentId",
                table: "operations",
                column: "ParentId");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_operations_ParentId",
                table: "operations");

            migrationBuilder.DropColumn(
                name: "ParentId",
                table: "operations");
        }
    }
}
