using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Audit;

namespace NixFleet.Web.Features.Accounts;

public static class AccountsApi
{
    public sealed record TokenResponse(string Token, DateTimeOffset ExpiresAt);
    public sealed record NewUser(string? Email, string? Password, IReadOnlyList<string>? Roles);
    public sealed record UserDto(string Id, string Email, IReadOnlyList<string> Roles, bool LockedOut);

    public const string LoginRateLimit = "login";

    public static RouteGroupBuilder MapAccountsApi(this RouteGroupBuilder api)
    {
        api.MapPost("/tokens", async Task<Results<Ok<TokenResponse>, UnauthorizedHttpResult>> (
            HttpContext http, UserManager<AppUser> users, SignInManager<AppUser> signIn, NixFleetDb db, Auditor audit, CancellationToken ct) =>
        {
            if (!TryReadBasic(http.Request.Headers.Authorization.ToString(), out var email, out var password))
                return TypedResults.Unauthorized();
            var user = await users.FindByEmailAsync(email);
            var check = user is null ? SignInResult.Failed : await signIn.CheckPasswordSignInAsync(user, password, lockoutOnFailure: true);
            await audit.RecordAsync(email, "token.create", $"user:{email}", null, check.Succeeded ? "ok" : check.IsLockedOut ? "refused: locked out" : "refused: bad credentials", ct);
            if (!check.Succeeded) return TypedResults.Unauthorized();
            var token = TokenAuthenticationHandler.NewToken();
            var row = new ApiToken { UserId = user!.Id, TokenHash = TokenAuthenticationHandler.Hash(token), ExpiresAt = DateTimeOffset.UtcNow.AddDays(30) };
            db.ApiTokens.Add(row);
            await db.SaveChangesAsync(ct);
            return TypedResults.Ok(new TokenResponse(token, row.ExpiresAt));
        }).AllowAnonymous().RequireRateLimiting(LoginRateLimit).WithTags("Accounts");

        var usersApi = api.MapGroup("/users").WithTags("Accounts").RequireAuthorization(Policies.Admin);
        usersApi.MapGet("/", async (UserManager<AppUser> users, CancellationToken ct) =>
        {
            var all = await users.Users.OrderBy(u => u.Email).ToListAsync(ct);
            var list = new List<UserDto>();
            foreach (var u in all) list.Add(await ToDto(users, u));
            return TypedResults.Ok(list);
        });
        usersApi.MapPost("/", async Task<Results<Created<UserDto>, ValidationProblem>> (NewUser body, UserAdmin admin, HttpContext http) =>
        {
            var (user, errors) = await admin.CreateAsync(body.Email, body.Password, body.Roles ?? [], http.User.Identity!.Name!);
            return user is null ? TypedResults.ValidationProblem(errors) : TypedResults.Created($"/api/v1/users/{user.Id}", user);
        });
        return api;
    }

    public static async Task<UserDto> ToDto(UserManager<AppUser> users, AppUser u) =>
        new(u.Id, u.Email ?? "", [.. await users.GetRolesAsync(u)], await users.IsLockedOutAsync(u));

    static bool TryReadBasic(string header, out string email, out string password)
    {
        email = password = "";
        if (!AuthenticationHeaderValue.TryParse(header, out var value) || !"Basic".Equals(value.Scheme, StringComparison.OrdinalIgnoreCase) || value.Parameter is null)
            return false;
        string decoded;
        try { decoded = Encoding.UTF8.GetString(Convert.FromBase64String(value.Parameter)); }
        catch (FormatException) { return false; }
        var colon = decoded.IndexOf(':');
        if (colon <= 0) return false;
        (email, password) = (decoded[..colon], decoded[(colon + 1)..]);
        return true;
    }
}

/// <summary>User administration shared by the API and the Users page.</summary>
public sealed class UserAdmin(UserManager<AppUser> users, Auditor audit)
{
    public async Task<(AccountsApi.UserDto? User, Dictionary<string, string[]> Errors)> CreateAsync(string? email, string? password, IReadOnlyList<string> roles, string actor)
    {
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(email) || !new System.ComponentModel.DataAnnotations.EmailAddressAttribute().IsValid(email) || email.Length > 256)
            errors["email"] = ["A valid email address is required."];
        if (string.IsNullOrEmpty(password)) errors["password"] = ["A password is required."];
        if (roles.Count == 0) errors["roles"] = [$"At least one role is required: {string.Join(", ", Roles.All)}."];
        else if (roles.FirstOrDefault(r => !Roles.All.Contains(r)) is { } bad) errors["roles"] = [$"Unknown role '{bad}': roles are {string.Join(", ", Roles.All)}."];
        if (errors.Count == 0 && await users.FindByEmailAsync(email!) is not null) errors["email"] = ["A user with this email exists already."];
        if (errors.Count > 0) return (null, errors);

        var user = new AppUser { UserName = email, Email = email, EmailConfirmed = true };
        var created = await users.CreateAsync(user, password!);
        if (!created.Succeeded)
        {
            errors["password"] = created.Errors.Select(e => e.Description).ToArray();
            return (null, errors);
        }
        await users.AddToRolesAsync(user, roles.Distinct());
        await audit.RecordAsync(actor, "user.create", $"user:{email}", new { roles }, "ok");
        return (await AccountsApi.ToDto(users, user), errors);
    }

    public async Task<Dictionary<string, string[]>> SetRolesAsync(string userId, IReadOnlyList<string> roles, string actor)
    {
        var errors = new Dictionary<string, string[]>();
        var user = await users.FindByIdAsync(userId);
        if (user is null) { errors["user"] = ["No such user."]; return errors; }
        if (roles.FirstOrDefault(r => !Roles.All.Contains(r)) is { } bad) { errors["roles"] = [$"Unknown role '{bad}'."]; return errors; }
        if (user.Email == actor && !roles.Contains(Roles.Admin)) { errors["roles"] = ["You cannot take the Admin role from yourself."]; return errors; }
        var current = await users.GetRolesAsync(user);
        await users.RemoveFromRolesAsync(user, current.Except(roles));
        await users.AddToRolesAsync(user, roles.Except(current));
        await audit.RecordAsync(actor, "user.roles", $"user:{user.Email}", new { from = current, to = roles }, "ok");
        return errors;
    }
}
