using Microsoft.AspNetCore.Identity;

namespace NixFleet.Web.Data;

public sealed class AppUser : IdentityUser
{
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
}

public static class Roles
{
    public const string Viewer = "Viewer";
    public const string Operator = "Operator";
    public const string Approver = "Approver";
    public const string Admin = "Admin";
    public static readonly string[] All = [Viewer, Operator, Approver, Admin];
}

/// <summary>An API bearer token; only its SHA-256 hash is stored.</summary>
public sealed class ApiToken
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public required string UserId { get; set; }
    public required string TokenHash { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset ExpiresAt { get; set; }
}

/// <summary>NixFleet's own SSH key; the private half only ever encrypted by Data Protection.</summary>
public sealed class FleetKey
{
    public int Id { get; set; }
    public required string PublicKey { get; set; }
    public required string ProtectedPrivateKey { get; set; }
    public required string Fingerprint { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
    public bool Active { get; set; } = true;
}

public static class HostKeyStatus
{
    public const string Unverified = "unverified";
    public const string Trusted = "trusted";
    public const string Changed = "changed";
}

public sealed class FleetHost
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public required string Name { get; set; }
    public required string Address { get; set; }
    public int Port { get; set; } = 22;
    public string User { get; set; } = "root";
    public List<string> Tags { get; set; } = [];
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;

    public string HostKeyStatus { get; set; } = Data.HostKeyStatus.Unverified;
    /// <summary>The key NixFleet pins (type and base64 blob); set only by an accept.</summary>
    public string? TrustedKeyType { get; set; }
    public string? TrustedKey { get; set; }
    /// <summary>The key last seen by a scan or by a failed connection.</summary>
    public string? ScannedKeyType { get; set; }
    public string? ScannedKey { get; set; }
    public string? ScannedFingerprint { get; set; }
    public string? TrustedFingerprint { get; set; }

    public bool? Reachable { get; set; }
    public string? LastError { get; set; }
    public DateTimeOffset? LastSeenAt { get; set; }
    public long? LatestFactsId { get; set; }
    public HostFactsRecord? LatestFacts { get; set; }
}

/// <param name="Version">What the channel points to now (its .version + .version-suffix, or svn-revision), from the channels probe.</param>
/// <param name="UpdatedAt">When the user's channels were last updated (the channels profile generation's date).</param>
public sealed record ChannelRecord(string User, string Name, string Url, string? Version = null, DateTimeOffset? UpdatedAt = null);

/// <summary>One collection of a host's facts; kept as history.</summary>
public sealed class HostFactsRecord
{
    public long Id { get; set; }
    public Guid HostId { get; set; }
    public DateTimeOffset CollectedAt { get; set; } = DateTimeOffset.UtcNow;
    public string Os { get; set; } = "";
    public string OsVersion { get; set; } = "";
    public bool IsNixOS { get; set; }
    public string? NixVersion { get; set; }
    public string InstallType { get; set; } = "none";
    public string? StoreOwner { get; set; }
    public List<ChannelRecord> Channels { get; set; } = [];
    public int? CurrentGeneration { get; set; }
    public string? CurrentGenerationProfile { get; set; }
    public string? CurrentSystemPath { get; set; }
    public string? KernelVersion { get; set; }
    /// <summary>Where nix-env was found on the host, so later commands need not probe again.</summary>
    public string? NixBinDirectory { get; set; }
    public long? StoreSizeBytes { get; set; }
    public long? DiskFreeBytes { get; set; }
    public long? DiskSizeBytes { get; set; }
}

public static class OperationStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    /// <summary>Running, but the connection to the host was lost: reading back the host's real state.</summary>
    public const string Reconciling = "reconciling";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    public static bool IsFinished(string s) => s is Succeeded or Failed or Cancelled;
    public static bool IsActive(string s) => s is Running or Reconciling;
}

/// <summary>An operation is our row: intent, state, output and result. A Quartz job runs it by id.</summary>
public sealed class Operation
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public required string Kind { get; set; }
    public Guid? HostId { get; set; }
    /// <summary>The fleet-wide operation this one is part of (one per host), if any.</summary>
    public Guid? ParentId { get; set; }
    public string Status { get; set; } = OperationStatus.Queued;
    public string? Error { get; set; }
    /// <summary>JSON: what was asked.</summary>
    public string? Parameters { get; set; }
    /// <summary>JSON: what came of it.</summary>
    public string? Result { get; set; }
    public required string RequestedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    /// <summary>Which scheduler instance runs it, and when it last said so.</summary>
    public string? Node { get; set; }
    public DateTimeOffset? HeartbeatAt { get; set; }
    public int Attempt { get; set; }
    /// <summary>JSON: how far a handler got, so a recovered run resumes or reconciles instead of repeating.</summary>
    public string? Checkpoint { get; set; }
}

/// <summary>
/// One changing operation per host at a time: the row exists while its operation is unfinished.
/// (A lock file on the host guards against other NixFleet installations and hand-run tools.)
/// </summary>
public sealed class HostLock
{
    public Guid HostId { get; set; }
    public Guid OperationId { get; set; }
    public required string Kind { get; set; }
    public DateTimeOffset AcquiredAt { get; set; } = DateTimeOffset.UtcNow;
}

public sealed class OperationLine
{
    public long Id { get; set; }
    public Guid OperationId { get; set; }
    public int Seq { get; set; }
    /// <summary>"out", "err" or "info" (NixFleet's own words).</summary>
    public required string Stream { get; set; }
    public required string Text { get; set; }
    public DateTimeOffset At { get; set; } = DateTimeOffset.UtcNow;
}

/// <summary>Append-only (a database trigger refuses UPDATE and DELETE).</summary>
public sealed class AuditEntry
{
    public long Id { get; set; }
    public DateTimeOffset At { get; set; } = DateTimeOffset.UtcNow;
    public required string Actor { get; set; }
    public required string Action { get; set; }
    public required string Target { get; set; }
    public string? Details { get; set; }
    public required string Result { get; set; }
}

/// <summary>The last generations listing of a host (GenerationsReport as JSON): what requests are checked against.</summary>
public sealed class GenerationListing
{
    public Guid HostId { get; set; }
    public DateTimeOffset CollectedAt { get; set; }
    public required string Report { get; set; }
}

/// <summary>
/// A remote build machine hosts may offload builds to: a fleet host (<see cref="HostId"/>, whose
/// address and pinned key were copied when it was added) or an outside machine. No private key is
/// kept here: each client host's key stays on that host.
/// </summary>
public sealed class BuildMachineRecord
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public Guid? HostId { get; set; }
    public required string Address { get; set; }
    public int Port { get; set; } = 22;
    public required string User { get; set; }
    public List<string> Systems { get; set; } = [];
    public int MaxJobs { get; set; } = 1;
    public int SpeedFactor { get; set; } = 1;
    public List<string> SupportedFeatures { get; set; } = [];
    public List<string> MandatoryFeatures { get; set; } = [];
    /// <summary>The builder's SSH host key, "type base64".</summary>
    public required string HostKey { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;

    /// <summary>What the last verification from any host found.</summary>
    public DateTimeOffset? LastVerifiedAt { get; set; }
    public bool? LastReachable { get; set; }
    public bool? LastTrusted { get; set; }
    public bool? LastBuildSucceeded { get; set; }
    public string? LastError { get; set; }
}

/// <summary>The build machines a host's /etc/nix/machines was last written with (saved when that succeeded).</summary>
public sealed class HostBuilderAssignment
{
    public Guid HostId { get; set; }
    public Guid BuilderId { get; set; }
}

/// <summary>A host's own distributed-build settings, and how the last change of them ended.</summary>
public sealed class HostBuildSettings
{
    public Guid HostId { get; set; }
    public int? MaxJobs { get; set; }
    public bool UseSubstitutes { get; set; }
    public DateTimeOffset? AppliedAt { get; set; }
    /// <summary>The last configure operation's BuildersResult as JSON.</summary>
    public string? LastResult { get; set; }
}

/// <summary>
/// A host's conversion to multi-user as its receipt last said (the receipt itself is on the host
/// too, in /nix/var/nix/nixfleet-receipt.json): one row per host, written after every step.
/// </summary>
public sealed class HostConversion
{
    public Guid HostId { get; set; }
    /// <summary>The operation that started it, formatted "N".</summary>
    public required string ConversionId { get; set; }
    /// <summary>The receipt's status: converting, converted, reverting, reverted or revert-failed.</summary>
    public required string Status { get; set; }
    /// <summary>The ConversionReceipt as JSON.</summary>
    public required string Receipt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; } = DateTimeOffset.UtcNow;
}

/// <summary>
/// Unattended store maintenance for a tag or the whole fleet: on its cron schedule, one
/// "maintenance-run" operation collects garbage (and optimises weekly) on the hosts in scope.
/// </summary>
public sealed class MaintenancePolicy
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public required string Name { get; set; }
    /// <summary>The hosts with this tag; null for every host.</summary>
    public string? Tag { get; set; }
    /// <summary>Quartz cron expression (seconds first), in UTC.</summary>
    public required string Cron { get; set; }
    /// <summary>A GcMode value: plain, olderThan, keepLast (deleteOld is never allowed here).</summary>
    public required string GcMode { get; set; }
    public int? OlderThanDays { get; set; }
    public int? KeepLast { get; set; }
    /// <summary>Profiles keepLast applies to; empty for every profile of the host.</summary>
    public List<string> Profiles { get; set; } = [];
    /// <summary>Collect only on hosts whose /nix has less free space than this, in percent.</summary>
    public int? OnlyWhenFreeBelowPercent { get; set; }
    /// <summary>Also run nix-store --optimise on a host not optimised in the last 7 days.</summary>
    public bool OptimiseWeekly { get; set; }
    /// <summary>How many hosts run at once.</summary>
    public int Parallelism { get; set; } = 4;
    public bool Enabled { get; set; } = true;
    public required string UpdatedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset UpdatedAt { get; set; } = DateTimeOffset.UtcNow;
}

/// <summary>
/// One firing of a policy. The key (policy, scheduled time) makes a fire count once, whichever
/// node took it and however often Quartz handed it out.
/// </summary>
public sealed class MaintenanceRun
{
    public Guid PolicyId { get; set; }
    public DateTimeOffset ScheduledFor { get; set; }
    public DateTimeOffset FiredAt { get; set; } = DateTimeOffset.UtcNow;
    public Guid OperationId { get; set; }
}

public static class UpgradeStatus
{
    /// <summary>Waiting for approvals.</summary>
    public const string Pending = "pending";
    public const string Running = "running";
    /// <summary>An operator paused the rollout: the hosts running now finish, no new one starts.</summary>
    public const string Paused = "paused";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Rejected = "rejected";
    public const string Aborted = "aborted";
    public static bool IsFinished(string s) => s is Succeeded or Failed or Rejected or Aborted;
}

/// <summary>
/// A proposed upgrade: which hosts, which channel, how to roll out, and why. It runs only once
/// enough Approvers approved exactly this content (<see cref="Hash"/>).
/// </summary>
public sealed class UpgradeRequest
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public required string Reason { get; set; }
    public required string RequestedBy { get; set; }
    /// <summary>The hosts, fixed when the request is made (a tag is resolved then).</summary>
    public List<Guid> HostIds { get; set; } = [];
    public string? Tag { get; set; }
    public required string ChannelName { get; set; }
    public required string ChannelUrl { get; set; }
    /// <summary>switch or boot.</summary>
    public required string Action { get; set; }
    /// <summary>Upgraded first, alone; the rest only if they all pass.</summary>
    public List<Guid> CanaryHostIds { get; set; } = [];
    public int BatchSize { get; set; } = 5;
    public int Parallelism { get; set; } = 2;
    public int PauseSeconds { get; set; }
    /// <summary>A shell command run as root on each host after its upgrade; exit 0 is healthy.</summary>
    public string? HealthCommand { get; set; }
    public bool AutoRollback { get; set; }
    /// <summary>The rollout may start only until then (UTC); a request whose window passed waits for a decision.</summary>
    public DateTimeOffset? NotAfter { get; set; }
    public string Status { get; set; } = UpgradeStatus.Pending;
    /// <summary>SHA-256 of what is being asked (<see cref="UpgradeRequest"/>'s content); approvals count only for this hash.</summary>
    public required string Hash { get; set; }
    public int Revision { get; set; } = 1;
    public int RequiredApprovals { get; set; } = 1;
    /// <summary>The hash the rollout started with: it checks the request still has it.</summary>
    public string? ApprovedHash { get; set; }
    public Guid? OperationId { get; set; }
    /// <summary>The last "upgrade-preview": what the upgrade would change, built without activating.</summary>
    public Guid? PreviewOperationId { get; set; }
    public string? DecidedBy { get; set; }
    public string? DecisionReason { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset UpdatedAt { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
}

public sealed class UpgradeApproval
{
    public long Id { get; set; }
    public Guid RequestId { get; set; }
    public required string Approver { get; set; }
    /// <summary>The request's hash when approved: an edit makes the approval void.</summary>
    public required string Hash { get; set; }
    public DateTimeOffset At { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset ExpiresAt { get; set; }
}

public static class UpgradeHostStatus
{
    public const string Pending = "pending";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string RolledBack = "rolled-back";
    /// <summary>"Roll back every host that took it" queued a rollback for this host: its operation says how it went.</summary>
    public const string RollingBack = "rolling-back";
    /// <summary>The rollout stopped before this host's turn.</summary>
    public const string NotStarted = "not-started";
}

/// <summary>One host's part of an upgrade: what it ran before and after.</summary>
public sealed class UpgradeHost
{
    public Guid RequestId { get; set; }
    public Guid HostId { get; set; }
    /// <summary>0 for canaries, then 1, 2, ... for the batches.</summary>
    public int Wave { get; set; }
    public string Status { get; set; } = UpgradeHostStatus.Pending;
    public string? Profile { get; set; }
    public int? FromGeneration { get; set; }
    public int? ToGeneration { get; set; }
    public string? FromStorePath { get; set; }
    public string? ToStorePath { get; set; }
    public string? Error { get; set; }
    public Guid? OperationId { get; set; }
    public Guid? RollbackOperationId { get; set; }
}

/// <summary>How many distinct Approvers an upgrade needs: per tag, or fleet-wide (Tag null).</summary>
public sealed class ApprovalPolicy
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public string? Tag { get; set; }
    public int RequiredApprovals { get; set; } = 1;
    /// <summary>An approval older than this no longer counts.</summary>
    public int ApprovalTtlMinutes { get; set; } = 24 * 60;
    public required string UpdatedBy { get; set; }
    public DateTimeOffset UpdatedAt { get; set; } = DateTimeOffset.UtcNow;
}
