using AngleSharp;
using AngleSharp.Dom;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace NixFleet.Web.Tests.Components;

/// <summary>
/// Renders a component to HTML with the framework's own HtmlRenderer (no browser, no database)
/// and parses the result, so tests assert on the DOM an operator would see.
/// </summary>
public static class Html
{
    public static async Task<IDocument> RenderAsync<T>(Dictionary<string, object?> parameters) where T : IComponent
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<AntiforgeryStateProvider, FixedAntiforgeryState>();
        await using var provider = services.BuildServiceProvider();
        await using var renderer = new HtmlRenderer(provider, provider.GetRequiredService<ILoggerFactory>());
        var html = await renderer.Dispatcher.InvokeAsync(async () =>
        {
            var output = await renderer.RenderComponentAsync<T>(ParameterView.FromDictionary(parameters));
            return output.ToHtmlString();
        });
        var browsing = BrowsingContext.New(Configuration.Default);
        return await browsing.OpenAsync(r => r.Content(html));
    }

    public static string Text(this IElement? e) => e?.TextContent.Trim() ?? "";

    sealed class FixedAntiforgeryState : AntiforgeryStateProvider
    {
        public override AntiforgeryRequestToken? GetAntiforgeryToken() => new("test-token", "__RequestVerificationToken");
    }
}
