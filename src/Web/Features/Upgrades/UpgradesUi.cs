using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NixFleet.Shared.Nix;
using NixFleet.Web.Components;
using NixFleet.Web.Data;
using NixFleet.Web.Features.Accounts;
using NixFleet.Web.Features.Maintenance;
using static NixFleet.Web.Features.Upgrades.UpgradesApi;

namespace NixFleet.Web.Features.Upgrades;

/// <summary>How the upgrade pages name things, order them, read their form and link to each other, in one place.</summary>
public static class UpgradesUi
{
    public const string ListPath = "/upgrades";
    public const string NewPath = "/upgrades/new";
    public static string PageUrl(Guid id) => $"/upgrades/{id}";

    /// <summary>The polled part of an upgrade's page; <paramref name="shown"/> is the status the page was rendered with.</summary>
    public static string ProgressUrl(Guid id, string shown) => Format.Url($"/upgrades/{id}/progress", ("shown", shown));

    /// <summary>One line of the upgrades list.</summary>
    public sealed record ListItem(
        Guid Id, string Status, string ChannelName, string ChannelUrl, string? Tag, int Hosts, string RequestedBy, string Reason,
        int ValidApprovals, int RequiredApprovals, DateTimeOffset CreatedAt);

    /// <summary>What waits for a decision first, then what runs, then the rest; newest first within each.</summary>
    public static IReadOnlyList<ListItem> Ordered(IEnumerable<ListItem> items) =>
        items.OrderBy(i => Rank(i.Status)).ThenByDescending(i => i.CreatedAt).ToList();

    static int Rank(string status) => status switch
    {
        UpgradeStatus.Pending => 0,
        UpgradeStatus.Running or UpgradeStatus.Paused => 1,
        _ => 2,
    };

    /// <summary>The upgrades list: every pending, running or paused request, and the latest finished ones.</summary>
    public static async Task<IReadOnlyList<ListItem>> ListAsync(NixFleetDb db, int finished, CancellationToken ct)
    {
        var open = Query(db, db.Upgrades.AsNoTracking().Where(u => u.Status == UpgradeStatus.Pending || u.Status == UpgradeStatus.Running || u.Status == UpgradeStatus.Paused));
        var done = Query(db, db.Upgrades.AsNoTracking()
            .Where(u => u.Status != UpgradeStatus.Pending && u.Status != UpgradeStatus.Running && u.Status != UpgradeStatus.Paused)
            .OrderByDescending(u => u.CreatedAt).Take(finished));
        return Ordered([.. await open.ToListAsync(ct), .. await done.ToListAsync(ct)]);
    }

    /// <summary>
    /// Pending requests <paramref name="actor"/> may approve and has not approved as they stand now:
    /// not their own, and no approval of theirs for the current content that is still valid.
    /// </summary>
    public static async Task<IReadOnlyList<ListItem>> WaitingForAsync(NixFleetDb db, string actor, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        var q = db.Upgrades.AsNoTracking().Where(u => u.Status == UpgradeStatus.Pending && u.RequestedBy != actor
            && !db.UpgradeApprovals.Any(a => a.RequestId == u.Id && a.Approver == actor && a.Hash == u.Hash && a.ExpiresAt > now));
        return Ordered(await Query(db, q.OrderByDescending(u => u.CreatedAt).Take(50)).ToListAsync(ct));
    }

    static IQueryable<ListItem> Query(NixFleetDb db, IQueryable<UpgradeRequest> upgrades)
    {
        var now = DateTimeOffset.UtcNow;
        return upgrades.Select(u => new ListItem(u.Id, u.Status, u.ChannelName, u.ChannelUrl, u.Tag, u.HostIds.Count, u.RequestedBy, u.Reason,
            db.UpgradeApprovals.Where(a => a.RequestId == u.Id && a.Hash == u.Hash && a.ExpiresAt > now && a.Approver != u.RequestedBy)
                .Select(a => a.Approver).Distinct().Count(),
            u.RequiredApprovals, u.CreatedAt));
    }

    /// <summary>The request as the API shows it (approvals, hosts by wave), or null when there is none.</summary>
    public static async Task<UpgradeDto?> LoadAsync(NixFleetDb db, Guid id, CancellationToken ct) =>
        await db.Upgrades.AsNoTracking().FirstOrDefaultAsync(u => u.Id == id, ct) is { } u ? await UpgradesApi.DtoAsync(db, u, ct) : null;

    /// <summary>The status in words, for an upgrade and for one host's part of it.</summary>
    public static string StatusLabel(string status, bool forHost = false) => status switch
    {
        UpgradeStatus.Pending when forHost => "Waiting",
        UpgradeStatus.Pending => "Waiting for approval",
        UpgradeStatus.Running => "Running",
        UpgradeStatus.Paused => "Paused",
        UpgradeStatus.Succeeded => "Succeeded",
        UpgradeStatus.Failed => "Failed",
        UpgradeStatus.Rejected => "Rejected",
        UpgradeStatus.Aborted => "Aborted",
        UpgradeHostStatus.RolledBack => "Rolled back",
        UpgradeHostStatus.NotStarted => "Not started",
        _ => status,
    };

    public static string StatusCss(string status) => status switch
    {
        UpgradeStatus.Pending => "bg-yellow-lt",
        UpgradeStatus.Running => "bg-blue text-blue-fg",
        UpgradeStatus.Paused => "bg-orange-lt",
        UpgradeStatus.Succeeded => "bg-green text-green-fg",
        UpgradeStatus.Failed => "bg-red text-red-fg",
        UpgradeStatus.Aborted => "bg-orange text-orange-fg",
        UpgradeHostStatus.RolledBack => "bg-purple-lt",
        _ => "bg-secondary-lt",
    };

    /// <summary>"Canary" for wave 0, then "Batch 1", "Batch 2"...</summary>
    public static string WaveTitle(int wave) => wave == 0 ? "Canary" : $"Batch {wave.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The first characters of the content hash: enough to tell two versions of a request apart.</summary>
    public static string ShortHash(string hash) => hash.Length > 12 ? hash[..12] : hash;

    /// <summary>Whether an approval counts now, and if not why: it expired, or it was given for other content.</summary>
    public const string Counts = "counts", Expired = "expired", Void = "void";

    public static string ApprovalState(ApprovalDto a, DateTimeOffset now) =>
        a.Counts && a.ExpiresAt > now ? Counts : a.ExpiresAt <= now ? Expired : Void;

    /// <summary>Distinct approvers whose approval counts: what starts the rollout once it reaches the required number.</summary>
    public static int ValidApprovers(IEnumerable<ApprovalDto> approvals, DateTimeOffset now) =>
        approvals.Where(a => ApprovalState(a, now) == Counts).Select(a => a.Approver).Distinct().Count();

    /// <summary>Hosts that finished the upgrade and know the generation they ran before: what "roll back every host" covers.</summary>
    public static IReadOnlyList<UpgradeHostDto> TookIt(UpgradeDto u) =>
        u.Hosts.Where(h => h.Status == UpgradeHostStatus.Succeeded && h.FromGeneration is not null && h.Profile is not null).ToList();

    public static bool IsActive(string status) => status is UpgradeStatus.Running or UpgradeStatus.Paused;

    /// <summary>
    /// What a new request would be, before it is saved: the hosts it resolves to, its waves and how many
    /// approvals it needs, by the service's rules (canaries: the first hosts by name; then batches by name;
    /// the most any policy of the hosts' tags asks, else the fleet-wide policy's, else 1).
    /// </summary>
    public sealed record Preview(IReadOnlyList<UpgradeHostDto> Waves, int RequiredApprovals);

    /// <summary>The review step: the service's own checks, waves and approval count, nothing saved.</summary>
    public static async Task<Preview?> PreviewAsync(NixFleetDb db, UpgradeService service, UpgradeService.RequestInput input, string actor, bool allowFileUrls,
        Dictionary<string, string[]> errors, CancellationToken ct)
    {
        if (await service.DraftAsync(input, actor, allowFileUrls, errors, ct) is not { } draft) return null;
        var ids = draft.Waves.Select(w => w.HostId).ToList();
        var names = await db.Hosts.AsNoTracking().Where(h => ids.Contains(h.Id)).ToDictionaryAsync(h => h.Id, h => h.Name, ct);
        var waves = draft.Waves.OrderBy(w => w.Wave).ThenBy(w => names.GetValueOrDefault(w.HostId))
            .Select(w => Planned(w.HostId, names.GetValueOrDefault(w.HostId) ?? w.HostId.ToString(), w.Wave)).ToList();
        return new Preview(waves, draft.Request.RequiredApprovals);
    }

    static UpgradeHostDto Planned(Guid id, string name, int wave) =>
        new(id, name, wave, UpgradeHostStatus.Pending, null, null, null, null, null, null, null, null);

    /// <summary>The polled part of an upgrade's page. When the status moved on from what the page shows, htmx reloads the page (its buttons change).</summary>
    public static void MapUpgradesUi(this WebApplication app)
    {
        app.MapGet("/upgrades/{id:guid}/progress", async (Guid id, string? shown, NixFleetDb db, HttpContext http, CancellationToken ct) =>
        {
            if (!Htmx.IsRequest(http.Request)) return Results.Redirect(PageUrl(id));
            if (await LoadAsync(db, id, ct) is not { } upgrade) return Results.NotFound();
            if (shown is not null && shown != upgrade.Status) http.Response.Headers["HX-Refresh"] = "true";
            return Htmx.Fragment<UpgradeProgress>(http, new Dictionary<string, object?>
            {
                [nameof(UpgradeProgress.Upgrade)] = upgrade,
            });
        }).RequireAuthorization(Policies.View).ExcludeFromDescription();
    }
}

/// <summary>
/// The new upgrade request form, as posted. Numbers stay text until <see cref="ToInput"/> hands them
/// to the service's own checks, so the page and the API refuse the same things.
/// </summary>
public sealed class UpgradeForm
{
    /// <summary>Which hosts: those with a tag, or the ones ticked.</summary>
    public const string ByTag = "tag", Selected = "hosts";

    /// <summary>The submit buttons: check and show the waves, go back to the fields, or create the request.</summary>
    public const string Review = "review", Edit = "edit", Create = "create";

    public string? Scope { get; set; }
    public string? Tag { get; set; }
    /// <summary>Ticked hosts by position in the list (an unticked box posts nothing, so the keys have gaps).</summary>
    public Dictionary<int, string>? Hosts { get; set; }
    public string? ChannelName { get; set; }
    public string? ChannelUrl { get; set; }
    public string? Action { get; set; }
    public string? Canary { get; set; }
    public string? BatchSize { get; set; }
    public string? Parallelism { get; set; }
    public string? PauseSeconds { get; set; }
    public string? HealthCommand { get; set; }
    public bool AutoRollback { get; set; }
    public string? Reason { get; set; }
    public string? Step { get; set; }

    /// <summary>What the page shows first: the nixos channel, switch, one canary, batches of 5, 2 at a time.</summary>
    public static UpgradeForm Initial(string? tag) => new()
    {
        Scope = string.IsNullOrEmpty(tag) ? Selected : ByTag,
        Tag = tag,
        ChannelName = "nixos",
        Action = ActivationMode.Switch,
        Canary = "1",
        BatchSize = "5",
        Parallelism = "2",
        PauseSeconds = "0",
        AutoRollback = true,
    };

    /// <summary>The ticked hosts' ids; one that is not an id is an error on "hostIds".</summary>
    public List<Guid> HostIds(Dictionary<string, string[]> errors)
    {
        var ids = new List<Guid>();
        foreach (var value in (Hosts ?? []).OrderBy(h => h.Key).Select(h => h.Value))
        {
            if (Guid.TryParse(value, out var id)) ids.Add(id);
            else errors["hostIds"] = ["A chosen host is not a host id: reload the page and choose again."];
        }
        return ids.Distinct().ToList();
    }

    public bool IsTicked(Guid id) => (Hosts ?? []).Values.Any(v => Guid.TryParse(v, out var g) && g == id);

    /// <summary>The request as the API takes it.</summary>
    public UpgradeService.RequestInput ToInput(Dictionary<string, string[]> errors)
    {
        var byTag = Scope == ByTag;
        if (byTag && string.IsNullOrWhiteSpace(Tag)) errors["tag"] = ["Choose a tag."];
        var ids = byTag ? null : HostIds(errors);
        if (!byTag && ids is { Count: 0 } && !errors.ContainsKey("hostIds")) errors["hostIds"] = ["Tick at least one host."];
        return new UpgradeService.RequestInput(
            ids, byTag ? Tag : null, new UpgradeService.ChannelInput(ChannelName?.Trim(), ChannelUrl?.Trim()), Action,
            MaintenanceUi.Number(Canary), MaintenanceUi.Number(BatchSize), MaintenanceUi.Number(Parallelism), MaintenanceUi.Number(PauseSeconds),
            string.IsNullOrWhiteSpace(HealthCommand) ? null : HealthCommand.Trim(), AutoRollback, Reason);
    }
}
