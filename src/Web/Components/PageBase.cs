using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Components;
using NixFleet.Web.Features.Accounts;

namespace NixFleet.Web.Components;

/// <summary>
/// What every page needs from the request: who is acting and what they may do. A page that shows
/// an action still checks the policy again when the form comes back: the button is only a hint.
/// </summary>
public abstract class PageBase : ComponentBase
{
    [CascadingParameter] public HttpContext HttpContext { get; set; } = default!;
    [Inject] protected IAuthorizationService Authorization { get; set; } = default!;
    [Inject] protected NavigationManager Navigation { get; set; } = default!;

    protected string Actor => HttpContext.Actor();
    protected CancellationToken Aborted => HttpContext.RequestAborted;
    protected DateTimeOffset Now { get; } = DateTimeOffset.UtcNow;

    protected async Task<bool> CanAsync(string policy) =>
        (await Authorization.AuthorizeAsync(HttpContext.User, policy)).Succeeded;

    protected bool IsPost => HttpMethods.IsPost(HttpContext.Request.Method);

    /// <summary>Status 404 with the page's own "not found" message (the layout stays).</summary>
    protected void SetNotFound() => HttpContext.Response.StatusCode = StatusCodes.Status404NotFound;

    protected void Forbid() => HttpContext.Response.StatusCode = StatusCodes.Status403Forbidden;
}
