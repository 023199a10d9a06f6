using NixFleet.Shared.Nix;

namespace NixFleet.Web.Features.Maintenance;

/// <summary>
/// The maintenance page's "collect garbage on many hosts" form, as posted. Numbers stay text until
/// <see cref="Read"/> hands them to the API's own checks, so the form and the API refuse the same things.
/// </summary>
public sealed class BatchGcForm
{
    /// <summary>Which hosts: those with a tag, every host, or every host with less than X% free on /nix.</summary>
    public const string ByTag = "tag", AllHosts = "all", LowOnDisk = "low";

    /// <summary>The submit buttons: check and show the hosts, go back to the fields, or queue it.</summary>
    public const string Review = "review", Edit = "edit", Confirm = "confirm";

    public string? Scope { get; set; }
    public string? Tag { get; set; }
    public string? FreeBelowPercent { get; set; }
    public string? Mode { get; set; }
    public string? OlderThanDays { get; set; }
    public string? KeepLast { get; set; }
    public string? Profiles { get; set; }
    public bool DryRun { get; set; }
    public bool OptimiseWeekly { get; set; }
    public string? Parallelism { get; set; }
    public string? ConfirmText { get; set; }
    public string? Step { get; set; }

    /// <summary>What the page shows first: a dry run of a plain GC, 4 hosts at a time.</summary>
    public static BatchGcForm Initial(string? tag) => new()
    {
        Scope = string.IsNullOrEmpty(tag) ? AllHosts : ByTag,
        Tag = tag,
        Mode = GcMode.Plain,
        DryRun = true,
        Parallelism = "4",
    };

    /// <summary>A real deleteOld leaves no rollback target: the operator types <see cref="MaintenanceUi.DeleteOldPhrase"/>.</summary>
    public bool NeedsTypedConfirmation => Mode == GcMode.DeleteOld && !DryRun;

    public bool Confirmed => string.Equals(ConfirmText?.Trim(), MaintenanceUi.DeleteOldPhrase, StringComparison.Ordinal);

    /// <summary>The request as the API takes it; the numbers of other modes are left out, as the API wants.</summary>
    public MaintenanceApi.BatchGcRequest ToRequest() => new(
        HostIds: null,
        Tag: Scope == ByTag ? Tag : null,
        AllHosts: Scope is AllHosts or LowOnDisk ? true : null,
        Mode: Mode,
        OlderThanDays: Mode == GcMode.OlderThan ? MaintenanceUi.Number(OlderThanDays) : null,
        KeepLast: Mode == GcMode.KeepLast ? MaintenanceUi.Number(KeepLast) : null,
        Profiles: Mode is null or GcMode.Plain ? null : MaintenanceUi.Lines(Profiles),
        DryRun: DryRun,
        OnlyWhenFreeBelowPercent: Scope == LowOnDisk ? MaintenanceUi.Number(FreeBelowPercent) : null,
        OptimiseWeekly: OptimiseWeekly,
        Parallelism: MaintenanceUi.Number(Parallelism));

    /// <summary>The batch asked for, or null with the errors per field (the API's field names).</summary>
    public GcBatchHandler.Parameters? Read(Dictionary<string, string[]> errors)
    {
        switch (Scope)
        {
            case ByTag when string.IsNullOrWhiteSpace(Tag):
                errors["tag"] = ["Choose a tag."];
                break;
            case LowOnDisk when string.IsNullOrWhiteSpace(FreeBelowPercent):
                errors["onlyWhenFreeBelowPercent"] = ["Give X, the free space under which a host is collected: " + MaintenanceInput.BadPercent];
                break;
            case ByTag or AllHosts or LowOnDisk:
                break;
            default:
                errors["scope"] = ["Choose the hosts: a tag, every host, or every host with little free space."];
                break;
        }
        var p = MaintenanceApi.ReadBatch(ToRequest(), errors);
        // The API's "choose the hosts one way" speaks of its own fields; the form has said it in its terms.
        if (errors.ContainsKey("scope") || errors.ContainsKey("tag")) errors.Remove("hostIds");
        return errors.Count > 0 ? null : p;
    }
}
