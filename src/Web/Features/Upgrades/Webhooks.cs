using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Options;
using NixFleet.Web.Data;

namespace NixFleet.Web.Features.Upgrades;

/// <summary>
/// Tells the outside about upgrades: a JSON POST to NixFleet__WebhookUrl for requested, approved,
/// rejected, started, finished and failed. Best effort, off the caller's path: three tries, each
/// failure logged; a webhook that is down never holds up an approval or a rollout.
/// </summary>
public sealed class Webhooks(IOptions<NixFleetOptions> options, ILogger<Webhooks> logger)
{
    static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public sealed record Event([property: System.Text.Json.Serialization.JsonPropertyName("event")] string Kind, Guid UpgradeId, string Status, string Channel, string ChannelUrl, int Hosts, string? Actor, string? Reason, DateTimeOffset At);

    public Task SendAsync(string name, UpgradeRequest request, string? actor, string? reason, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(options.Value.WebhookUrl)) return Task.CompletedTask;
        var evt = new Event(name, request.Id, request.Status, request.ChannelName, request.ChannelUrl, request.HostIds.Count, actor, reason, DateTimeOffset.UtcNow);
        _ = Task.Run(() => DeliverAsync(options.Value.WebhookUrl!, evt), CancellationToken.None);
        return Task.CompletedTask;
    }

    async Task DeliverAsync(string url, Event evt)
    {
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            try
            {
                using var response = await Http.PostAsJsonAsync(url, evt, JsonSerializerOptions.Web);
                if (response.IsSuccessStatusCode) return;
                logger.LogWarning("Webhook {Event} for upgrade {Id}: {Url} answered {Status} (try {Attempt})", evt.Kind, evt.UpgradeId, url, (int)response.StatusCode, attempt);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                logger.LogWarning("Webhook {Event} for upgrade {Id}: {Error} (try {Attempt})", evt.Kind, evt.UpgradeId, e.Message, attempt);
            }
            await Task.Delay(TimeSpan.FromSeconds(attempt));
        }
    }
}
