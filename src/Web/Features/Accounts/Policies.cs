using NixFleet.Web.Data;

namespace NixFleet.Web.Features.Accounts;

/// <summary>Who may do what. Admin includes every other role.</summary>
public static class Policies
{
    public const string View = "View";
    public const string Operate = "Operate";
    public const string Approve = "Approve";
    public const string Admin = "Admin";

    public static void Add(Microsoft.AspNetCore.Authorization.AuthorizationBuilder auth)
    {
        auth.AddPolicy(View, p => p.RequireRole(Roles.All));
        auth.AddPolicy(Operate, p => p.RequireRole(Roles.Operator, Roles.Admin));
        auth.AddPolicy(Approve, p => p.RequireRole(Roles.Approver, Roles.Admin));
        auth.AddPolicy(Admin, p => p.RequireRole(Roles.Admin));
    }
}
