using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using NixFleet.Web.Components;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;

namespace NixFleet.Web.Features.Accounts;

/// <summary>
/// Sign-in and sign-out for the pages. The login form posts here rather than to its page, so that
/// the login rate limit applies to exactly this endpoint.
/// </summary>
public static class AccountsUi
{
    // Settable properties, not a positional record: a field left out of the post binds as null instead of failing.
    public sealed class LoginForm
    {
        public string? Email { get; set; }
        public string? Password { get; set; }
        public string? ReturnUrl { get; set; }
    }

    public static void MapAccountsUi(this WebApplication app)
    {
        // [FromForm] makes the endpoint validate the antiforgery token. Order -1: the Razor component
        // endpoint for /login also accepts POST, and this one must win.
        app.MapPost("/login", async ([FromForm] LoginForm form, SignInManager<AppUser> signIn, Auditor audit, HttpContext http) =>
        {
            var email = form.Email?.Trim() ?? "";
            var returnUrl = IsLocal(form.ReturnUrl) ? form.ReturnUrl : null;
            if (email.Length == 0 || string.IsNullOrEmpty(form.Password))
                return Back("missing", email, returnUrl);

            var result = await signIn.PasswordSignInAsync(email, form.Password, isPersistent: false, lockoutOnFailure: true);
            var outcome = result.Succeeded ? "ok" : result.IsLockedOut ? "refused: locked out" : result.IsNotAllowed ? "refused: not allowed" : "refused: bad credentials";
            await audit.RecordAsync(email, "login", $"user:{email}", new { ip = http.Connection.RemoteIpAddress?.ToString() }, outcome, http.RequestAborted);
            if (result.Succeeded) return TypedResults.LocalRedirect(returnUrl ?? "/");
            return Back(result.IsLockedOut ? "locked" : result.IsNotAllowed ? "notallowed" : "invalid", email, returnUrl);
        })
        .AllowAnonymous()
        .RequireRateLimiting(AccountsApi.LoginRateLimit)
        .WithOrder(-1)
        .ExcludeFromDescription();

        app.MapPost("/logout", async (SignInManager<AppUser> signIn, Auditor audit, HttpContext http) =>
        {
            if (http.User.Identity?.IsAuthenticated == true)
            {
                await audit.RecordAsync(http.Actor(), "logout", $"user:{http.Actor()}", null, "ok", http.RequestAborted);
                await signIn.SignOutAsync();
            }
            return TypedResults.LocalRedirect("/login?signedOut=1");
        })
        .AllowAnonymous()
        .RequireAntiforgery()
        .ExcludeFromDescription();
    }

    static Microsoft.AspNetCore.Http.HttpResults.RedirectHttpResult Back(string error, string email, string? returnUrl) =>
        TypedResults.LocalRedirect(Format.Url("/login", ("error", error), ("email", email), ("ReturnUrl", returnUrl)));

    /// <summary>Only paths on this site: never "//evil.example" or "/\evil.example".</summary>
    public static bool IsLocal(string? url) =>
        !string.IsNullOrEmpty(url) && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\'));
}
