using System.Globalization;
using NixFleet.Shared.Nix;

namespace NixFleet.Web.Features.Maintenance;

/// <summary>
/// The policy page's form, as posted. Saving goes through <see cref="MaintenancePolicies"/> like the
/// API; <see cref="MaintenancePolicies.Check"/> runs the same field checks first, so the review step can show errors
/// before anything is saved.
/// </summary>
public sealed class PolicyForm
{
    /// <summary>The submit buttons: check and show what it will do, go back to the fields, or save.</summary>
    public const string Review = "review", Edit = "edit", Save = "save";

    public const string DefaultCron = "0 0 3 * * ?";

    public string? Name { get; set; }
    public string? Tag { get; set; }
    public string? Cron { get; set; }
    public string? Mode { get; set; }
    public string? OlderThanDays { get; set; }
    public string? KeepLast { get; set; }
    public string? Profiles { get; set; }
    public string? FreeBelowPercent { get; set; }
    public bool OptimiseWeekly { get; set; }
    public string? Parallelism { get; set; }
    // Unchecked boxes post nothing: every bool defaults to false, and New sets the defaults that are true.
    public bool Enabled { get; set; }
    public string? Step { get; set; }

    /// <summary>The modes a policy may use: deleteOld would leave no rollback target, unattended.</summary>
    public static readonly IReadOnlyList<string> Modes = [GcMode.Plain, GcMode.OlderThan, GcMode.KeepLast];

    public static PolicyForm New() => new() { Cron = DefaultCron, Mode = GcMode.Plain, Parallelism = "4", Enabled = true };

    public static PolicyForm From(MaintenancePolicies.PolicyDto p) => new()
    {
        Name = p.Name,
        Tag = p.Tag,
        Cron = p.Cron,
        Mode = p.Mode,
        OlderThanDays = MaintenanceUi.Text(p.OlderThanDays),
        KeepLast = MaintenanceUi.Text(p.KeepLast),
        Profiles = string.Join('\n', p.Profiles),
        FreeBelowPercent = MaintenanceUi.Text(p.OnlyWhenFreeBelowPercent),
        OptimiseWeekly = p.OptimiseWeekly,
        Parallelism = MaintenanceUi.Text(p.Parallelism),
        Enabled = p.Enabled,
    };

    /// <summary>The request as the API takes it; the numbers of other modes are left out, as the API wants.</summary>
    public MaintenancePolicies.PolicyRequest ToRequest() => new(
        Name: Name,
        Tag: string.IsNullOrWhiteSpace(Tag) ? null : Tag.Trim(),
        Cron: Cron,
        Mode: Mode,
        OlderThanDays: Mode == GcMode.OlderThan ? MaintenanceUi.Number(OlderThanDays) : null,
        KeepLast: Mode == GcMode.KeepLast ? MaintenanceUi.Number(KeepLast) : null,
        Profiles: Mode is null or GcMode.Plain ? null : MaintenanceUi.Lines(Profiles),
        OnlyWhenFreeBelowPercent: MaintenanceUi.Number(FreeBelowPercent),
        OptimiseWeekly: OptimiseWeekly,
        Parallelism: MaintenanceUi.Number(Parallelism),
        Enabled: Enabled);

    /// <summary>The keepLast number as the warnings read it (null when not a number).</summary>
    public int? KeepLastNumber => int.TryParse(KeepLast, NumberStyles.Integer, CultureInfo.InvariantCulture, out var k) ? k : null;
}
