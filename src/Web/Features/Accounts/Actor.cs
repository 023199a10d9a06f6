namespace NixFleet.Web.Features.Accounts;

public static class ActorExtensions
{
    /// <summary>Who is acting, as the audit trail names them.</summary>
    public static string Actor(this HttpContext http) => http.User.Identity?.Name ?? "anonymous";
}
