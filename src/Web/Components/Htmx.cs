using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Http.HttpResults;

namespace NixFleet.Web.Components;

/// <summary>Fragment endpoints for htmx: a page's pieces rendered alone, with the headers htmx reads.</summary>
public static class Htmx
{
    public static bool IsRequest(HttpRequest request) => request.Headers.ContainsKey("HX-Request");

    /// <summary>A component rendered alone; caches keep the fragment and the full page apart.</summary>
    public static RazorComponentResult<T> Fragment<T>(HttpContext http, IReadOnlyDictionary<string, object?> parameters) where T : IComponent
    {
        http.Response.Headers.Append("Vary", "HX-Request");
        return new RazorComponentResult<T>(parameters);
    }

    /// <summary>Puts the page's own URL (not the fragment's) in the address bar and history.</summary>
    public static void PushUrl(HttpContext http, string url) => http.Response.Headers["HX-Push-Url"] = url;

    /// <summary>
    /// Antiforgery for endpoints that take no form (so minimal APIs would not check it by themselves):
    /// the token comes as a form field or as the RequestVerificationToken header that app.js adds.
    /// </summary>
    public static TBuilder RequireAntiforgery<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder
    {
        builder.Add(b => b.FilterFactories.Add((_, next) => async context =>
        {
            var antiforgery = context.HttpContext.RequestServices.GetRequiredService<IAntiforgery>();
            if (!await antiforgery.IsRequestValidAsync(context.HttpContext))
                return TypedResults.Problem("The form expired or did not come from NixFleet: reload the page and try again.", statusCode: StatusCodes.Status400BadRequest);
            return await next(context);
        }));
        return builder;
    }
}
