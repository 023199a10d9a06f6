using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;

namespace NixFleet.Shared.Nix;

/// <summary>
/// What a conversion to multi-user asks for: how many build users, and the IDs they get (the
/// official installer's defaults: group nixbld GID 30000, users nixbld1.. from UID 30001).
/// </summary>
public sealed record ConversionOptions(int BuildUsers = 32, int GroupId = 30000, int FirstUserId = 30001)
{
    public const int MaxBuildUsers = 256;

    /// <summary>Field name to message; empty when the options can be used.</summary>
    public Dictionary<string, string[]> Errors()
    {
        var errors = new Dictionary<string, string[]>();
        if (BuildUsers is < 1 or > MaxBuildUsers) errors["buildUsers"] = [$"Between 1 and {MaxBuildUsers} build users."];
        if (GroupId is < 1 or > 2_000_000_000) errors["groupId"] = ["A GID between 1 and 2000000000."];
        if (FirstUserId is < 1 or > 2_000_000_000) errors["firstUserId"] = ["A UID between 1 and 2000000000."];
        return errors;
    }
}

/// <summary>The steps of a conversion, in the order they run; a revert undoes them in reverse.</summary>
public static class ConversionSteps
{
    public const string BuildUsers = "build-users", NixConf = "nix-conf", StoreOwnership = "store-ownership",
        UserProfile = "user-profile", Daemon = "daemon", LoginProfile = "login-profile", Verify = "verify";

    public static readonly IReadOnlyList<string> Order = [BuildUsers, NixConf, StoreOwnership, UserProfile, Daemon, LoginProfile, Verify];

    public static string Title(string step) => step switch
    {
        BuildUsers => "Create the nixbld group and build users",
        NixConf => "Set build-users-group in /etc/nix/nix.conf",
        StoreOwnership => "Hand the store to root",
        UserProfile => "Keep the owner's profile, generations and channels",
        Daemon => "Start nix-daemon and keep it running",
        LoginProfile => "Install the login profile script",
        Verify => "Verify as the user and as root",
        _ => step,
    };
}

/// <summary>
/// The host-side script (Nix/convert.sh, embedded): one step per call, every value an argument it
/// checks. Nothing from a user or the database is put into the script text.
/// </summary>
public static partial class ConversionScript
{
    public const string ReceiptPath = "/nix/var/nix/nixfleet-receipt.json";
    public const string BackupRoot = "/var/lib/nixfleet/convert";
    public const string ProfileScript = "/etc/profile.d/nix-daemon.sh";

    public static string Text { get; } = Load();

    /// <summary>The backup directory of one conversion (its id: lowercase letters, digits, '-').</summary>
    public static string BackupDir(string conversionId)
    {
        if (!ConversionId().IsMatch(conversionId)) throw new ArgumentException($"'{conversionId}' is not a conversion id.", nameof(conversionId));
        return BackupRoot + "/" + conversionId;
    }

    public static IReadOnlyList<string> Probe(ConversionOptions options) =>
        ["sh", "-c", Text, "nixfleet-convert", "probe", "preflight",
            $"users={options.BuildUsers}", $"gid={options.GroupId}", $"uid={options.FirstUserId}"];

    /// <param name="action">"apply" or "revert".</param>
    public static IReadOnlyList<string> Step(string action, string step, ConversionReceipt receipt, string nonce = "x")
    {
        if (action is not ("apply" or "revert")) throw new ArgumentException("apply or revert", nameof(action));
        if (!ConversionSteps.Order.Contains(step)) throw new ArgumentException($"no step '{step}'", nameof(step));
        return ["sh", "-c", Text, "nixfleet-convert", action, step, .. Arguments(receipt), $"nonce={nonce}"];
    }

    /// <summary>Prints a file the daemon or login-profile step writes: systemd-service, systemd-socket, sysv-init, supervisor, profile-script.</summary>
    public static IReadOnlyList<string> Render(string file, string daemonPath) =>
        ["sh", "-c", Text, "nixfleet-convert", "render", file, $"daemon={daemonPath}"];

    /// <summary>Lists steps of an earlier run still at work on the host: "PID ACTION STEP" lines.</summary>
    public static IReadOnlyList<string> Running() => ["sh", "-c", Text, "nixfleet-convert", "probe", "running"];

    /// <summary>Writes the receipt (stdin) to <see cref="ReceiptPath"/> atomically.</summary>
    public static IReadOnlyList<string> WriteReceipt() => ["sh", "-c", Text, "nixfleet-convert", "receipt", "write"];

    /// <summary>How the plan shows a step: the value arguments and the script's own function for it.</summary>
    public static string Commands(string action, string step, ConversionReceipt receipt)
    {
        var function = Regex.Match(Text, $@"^{action}_{step.Replace('-', '_')}\(\) \{{\n(.*?)\n\}}", RegexOptions.Singleline | RegexOptions.Multiline);
        var args = string.Join(' ', Arguments(receipt));
        return $"# {action} {step} {args}\n" + (function.Success ? function.Groups[1].Value : "");
    }

    static IEnumerable<string> Arguments(ConversionReceipt r) =>
    [
        $"owner={r.Owner}", $"users={r.Options.BuildUsers}", $"gid={r.Options.GroupId}", $"uid={r.Options.FirstUserId}",
        $"init={r.InitSystem}", $"daemon={r.DaemonPath}", $"backup={r.BackupDir}",
    ];

    /// <summary>The "nixfleet-change: ..." lines a step printed: what it changed, for the receipt.</summary>
    public static IReadOnlyList<string> Changes(string stdout) =>
        stdout.Split('\n').Where(l => l.StartsWith(ChangePrefix, StringComparison.Ordinal)).Select(l => l[ChangePrefix.Length..].Trim()).ToList();

    public const string ChangePrefix = "nixfleet-change: ";

    /// <summary>The script's own complaint ("nixfleet-convert: ..."), or the last lines of stderr.</summary>
    public static string Error(string stderr)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var own = lines.LastOrDefault(l => l.StartsWith("nixfleet-convert: ", StringComparison.Ordinal));
        return own is not null ? own["nixfleet-convert: ".Length..] : string.Join(" / ", lines.TakeLast(3));
    }

    static string Load()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("NixFleet.Shared.Nix.convert.sh")
            ?? throw new InvalidOperationException("convert.sh is not embedded");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,63}$")]
    private static partial Regex ConversionId();
}

/// <summary>One preflight finding: "ok", "warning" (the conversion goes on; read it) or "failed" (it stops before any change).</summary>
public sealed record PreflightCheck(string Name, string Status, string Detail)
{
    public const string Ok = "ok", Warning = "warning", Failed = "failed";
}

/// <summary>What the preflight found on the host: the checks, and what the plan and the receipt need.</summary>
/// <param name="ProfileLayout">"per-user" (~/.nix-profile already in per-user), "default" (the old installers' default profile), "none", or "unknown".</param>
/// <param name="Receipt">A receipt NixFleet left on the host before, if any.</param>
public sealed record ConversionPreflight(
    IReadOnlyList<PreflightCheck> Checks,
    string? Owner, string? OwnerGroup, string? OwnerHome,
    string InitSystem, string? DaemonPath, string ProfileLayout,
    IReadOnlyList<string> Packages, IReadOnlyList<string> Generations, IReadOnlyList<string> Channels,
    IReadOnlyList<string> ShellFiles, IReadOnlyList<string> Processes, IReadOnlyList<string> PreviousBackups,
    ConversionReceipt? Receipt)
{
    public bool CanConvert => Checks.All(c => c.Status != PreflightCheck.Failed);

    /// <summary>The host was converted by NixFleet and not reverted: converting again does nothing.</summary>
    public bool AlreadyConverted => Receipt?.Status == ConversionReceipt.Converted;

    public string FailureSummary => string.Join("; ", Checks.Where(c => c.Status == PreflightCheck.Failed).Select(c => c.Detail));
}

/// <summary>One step as the plan shows it before anything changes.</summary>
public sealed record PlannedStep(string Name, string Title, string Changes, string Undo, string Commands);

public sealed record ConversionPlan(ConversionOptions Options, ConversionPreflight Preflight, IReadOnlyList<PlannedStep> Steps, string? NoOp);

/// <summary>One step in the receipt.</summary>
/// <param name="Status">pending, running, done, failed, reverted or revert-failed.</param>
public sealed record ReceiptStep(string Name, string Status, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, IReadOnlyList<string> Changes, string? Error)
{
    public const string Pending = "pending", Running = "running", Done = "done", Failed = "failed", Reverted = "reverted", RevertFailed = "revert-failed";
}

/// <summary>The host's state after a conversion, as the verify step read it.</summary>
public sealed record ConversionAfter(
    string? BuildUser, string? BuildOutput, IReadOnlyList<string> Packages, IReadOnlyList<string> Generations, IReadOnlyList<string> Modes);

/// <summary>
/// The record of one conversion, kept on the host (<see cref="ConversionScript.ReceiptPath"/>) and in
/// the database, written after every step: what ran, what each step changed, and what a revert needs.
/// </summary>
/// <param name="Status">converting, converted, reverting, reverted or revert-failed.</param>
/// <param name="Error">Why the conversion stopped (the failed step's error), when it did.</param>
/// <param name="RevertErrors">Every error of the last revert, each with its step.</param>
public sealed record ConversionReceipt(
    string Id, string Status, string Owner, string OwnerGroup, string OwnerHome, string InitSystem, string DaemonPath,
    string BackupDir, ConversionOptions Options, string ProfileLayout,
    IReadOnlyList<string> PackagesBefore, IReadOnlyList<string> GenerationsBefore,
    IReadOnlyList<ReceiptStep> Steps, DateTimeOffset StartedAt, DateTimeOffset UpdatedAt,
    string? Error = null, IReadOnlyList<string>? RevertErrors = null, ConversionAfter? After = null)
{
    public const string Converting = "converting", Converted = "converted", Reverting = "reverting", Reverted = "reverted", RevertFailed = "revert-failed";

    public ReceiptStep StepNamed(string name) => Steps.First(s => s.Name == name);

    public ConversionReceipt WithStep(ReceiptStep step) =>
        this with { Steps = Steps.Select(s => s.Name == step.Name ? step : s).ToList(), UpdatedAt = DateTimeOffset.UtcNow };
}

/// <summary>Reads the preflight probe's output (sections as in <see cref="FactsProbe"/>) into checks.</summary>
public static class ConversionPreflightParser
{
    const long MinFreeNix = 64L * 1024 * 1024, MinFreeVar = 16L * 1024 * 1024;

    public static ConversionPreflight Parse(string output, ConversionOptions options)
    {
        var sections = FactsParser.ReadSections(output).GroupBy(s => s.Name).ToDictionary(g => g.Key, g => g.Last());
        IReadOnlyList<string> Lines(string name) => sections.TryGetValue(name, out var s)
            ? s.Lines.Select(l => l.Trim()).Where(l => l.Length > 0).ToList() : [];
        string? First(string name) => Lines(name).FirstOrDefault();

        var checks = new List<PreflightCheck>();
        void Add(string name, string status, string detail) => checks.Add(new PreflightCheck(name, status, detail));

        var whoami = First("whoami");
        Add("root", whoami == "root" ? PreflightCheck.Ok : PreflightCheck.Failed,
            whoami == "root" ? "NixFleet is root on the host" : $"NixFleet logs in as {whoami ?? "an unknown user"}; converting needs root (sudo is not supported)");

        var receipt = ReadReceipt(sections.TryGetValue("receipt", out var r) ? r.Text : null);
        var store = First("store")?.Split(' ');
        var ownerLine = First("owner")?.Split(' ');
        string? owner = ownerLine?.ElementAtOrDefault(0), group = ownerLine?.ElementAtOrDefault(1), home = ownerLine?.ElementAtOrDefault(3);
        var daemonLines = Lines("nix-daemon");
        var daemon = daemonLines.FirstOrDefault(l => !l.StartsWith("profile ", StringComparison.Ordinal))
            ?? daemonLines.FirstOrDefault()?["profile ".Length..];

        if (store is null) Add("nix", PreflightCheck.Failed, "no Nix: /nix/store does not exist");
        else if (daemon is null) Add("nix", PreflightCheck.Failed, "no nix-daemon binary next to Nix (looked in the default profile, /usr/bin, /usr/local/bin and the owner's profile)");
        else Add("nix", PreflightCheck.Ok, $"Nix found; the daemon will run {daemon}");

        if (store is not null)
        {
            var storeOwner = store[0];
            if (receipt?.Status == ConversionReceipt.Converted)
                Add("install", PreflightCheck.Ok, $"already converted by NixFleet ({receipt.Id}, {receipt.UpdatedAt:u}): nothing to do");
            else if (receipt?.Status is ConversionReceipt.Reverting or ConversionReceipt.RevertFailed)
                Add("install", PreflightCheck.Failed, $"the revert of conversion {receipt.Id} did not finish: revert it first");
            else if (receipt?.Status == ConversionReceipt.Converting)
                Add("install", PreflightCheck.Ok, $"conversion {receipt.Id} stopped at step {receipt.Steps.FirstOrDefault(s => s.Status != ReceiptStep.Done)?.Name}: it resumes from its receipt");
            else if (storeOwner == "root")
                Add("install", PreflightCheck.Failed, "already multi-user: /nix/store belongs to root (not converted by NixFleet)");
            else if (owner is null)
                Add("install", PreflightCheck.Failed, $"/nix/store belongs to {storeOwner}, which has no account on the host");
            else
                Add("install", PreflightCheck.Ok, $"single-user: the store belongs to {owner} (group {group}, home {home}), mode {store.ElementAtOrDefault(4)}");
        }

        var processes = Lines("processes");
        var resuming = receipt?.Status == ConversionReceipt.Converting;
        // The daemon a NixFleet conversion started (under way, done, or being undone) is not a build in progress.
        // On a multi-user store the daemon is the install itself (refused above for that reason alone).
        var ours = receipt?.Status is ConversionReceipt.Converting or ConversionReceipt.Converted or ConversionReceipt.Reverting or ConversionReceipt.RevertFailed;
        var blocking = ours || store?[0] == "root" ? processes.Where(p => !IsDaemonProcess(p)).ToList() : processes.ToList();
        Add("processes", blocking.Count == 0 ? PreflightCheck.Ok : PreflightCheck.Failed,
            blocking.Count == 0 ? "no Nix process is running" : "Nix is running (wait for it to finish): " + string.Join("; ", blocking.Take(5)));

        var free = Lines("disk").Select(l => l.Split(' ')).Where(p => p.Length == 2 && long.TryParse(p[1], out _))
            .GroupBy(p => p[0]).ToDictionary(g => g.Key, g => 1024 * long.Parse(g.First()[1], CultureInfo.InvariantCulture));
        var nixFree = free.GetValueOrDefault("/nix", -1);
        var varFree = free.GetValueOrDefault("/var", -1);
        var diskOk = nixFree >= MinFreeNix && varFree >= MinFreeVar;
        Add("disk", diskOk ? PreflightCheck.Ok : PreflightCheck.Failed,
            $"{Mib(nixFree)} free for /nix (needs {Mib(MinFreeNix)}), {Mib(varFree)} for /var (needs {Mib(MinFreeVar)}, the backups)");

        var init = First("init")?.Split(' ')[0] ?? "none";
        Add("init", init == "none" ? PreflightCheck.Warning : PreflightCheck.Ok, init switch
        {
            "systemd" => "systemd: nix-daemon.socket and nix-daemon.service will be installed and enabled",
            "sysv" => "SysV init: /etc/init.d/nix-daemon will be installed and enabled for runlevels 2-5",
            _ => $"no init system NixFleet knows (PID 1 is {First("init")?.Split(' ').ElementAtOrDefault(1) ?? "unknown"}): nix-daemon runs as a supervised background process and does not start again after a reboot",
        });

        CheckBuildAccounts(options, First("group"), First("gid-user"), Lines("build-users"), Lines("uid-users"), Add, resuming);

        var profileLink = First("profile-link");
        var defaultGenerations = Lines("default-generations").Where(l => !l.StartsWith("current ", StringComparison.Ordinal)).ToList();
        var userGenerations = Lines("user-generations");
        string layout;
        if (owner is null) layout = "unknown";
        else if (profileLink is null) layout = "none";
        else if (profileLink.TrimEnd('/') == NixLocator.DefaultProfile) layout = "default";
        else if (profileLink == $"/nix/var/nix/profiles/per-user/{owner}/profile") layout = "per-user";
        else layout = "unknown";
        if (owner is not null && receipt?.Status != ConversionReceipt.Converted)
        {
            Add("profile", layout == "unknown" ? PreflightCheck.Failed : PreflightCheck.Ok, layout switch
            {
                "per-user" => $"~/.nix-profile of {owner} is in per-user already ({userGenerations.Count} generation(s)): it stays",
                "default" => $"~/.nix-profile of {owner} is the default profile: its {defaultGenerations.Count} generation(s) get per-user links, ~/.nix-profile is repointed",
                "none" => $"{owner} has no ~/.nix-profile: nothing to carry over",
                _ => $"~/.nix-profile of {owner} points to {profileLink}, which NixFleet does not know how to carry over",
            });
        }

        var shellFiles = Lines("shell-files");
        Add("shell-files", PreflightCheck.Ok, shellFiles.Count == 0
            ? $"no shell file sources the single-user nix.sh; {ConversionScript.ProfileScript} will be installed"
            : $"will be edited, each backed up first: {string.Join(", ", shellFiles)}");

        var backups = Lines("backups");
        Add("backup", backups.Count == 0 ? PreflightCheck.Ok : PreflightCheck.Warning, backups.Count == 0
            ? $"no earlier conversion's backup in {ConversionScript.BackupRoot}"
            : $"backups of earlier conversions exist in {ConversionScript.BackupRoot}: {string.Join(", ", backups)} (kept; this conversion makes its own)");

        var generations = layout == "default" ? defaultGenerations : userGenerations;
        return new ConversionPreflight(checks, owner, group, home, init, daemon, layout,
            Lines("packages"), generations.Select(g => g.Split(' ')[0]).ToList(), Lines("channels"),
            shellFiles.Where(f => f != ConversionScript.ProfileScript).ToList(), processes, backups, receipt);
    }

    static bool IsDaemonProcess(string line)
    {
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.ElementAtOrDefault(2) is "nix-daemon" or "nixfleet-nix-da";
    }

    static void CheckBuildAccounts(ConversionOptions o, string? groupLine, string? gidOwner, IReadOnlyList<string> buildUsers,
        IReadOnlyList<string> uidUsers, Action<string, string, string> add, bool resuming)
    {
        var group = groupLine?.Split(':');
        if (group is null)
        {
            var other = gidOwner?.Split(':')[0];
            add("build-group", other is null ? PreflightCheck.Ok : PreflightCheck.Failed, other is null
                ? $"group nixbld will be created with GID {o.GroupId}"
                : $"GID {o.GroupId} belongs to group {other}: choose another GID");
        }
        else
        {
            var fits = group.ElementAtOrDefault(2) == o.GroupId.ToString(CultureInfo.InvariantCulture);
            add("build-group", fits ? PreflightCheck.Ok : PreflightCheck.Failed, fits
                ? $"group nixbld exists with GID {o.GroupId}: it is reused" + (resuming ? " (made by this conversion)" : "")
                : $"group nixbld exists with GID {group.ElementAtOrDefault(2)}, not {o.GroupId}: it conflicts (choose GID {group.ElementAtOrDefault(2)}, or remove the group)");
        }

        var problems = new List<string>();
        var reused = 0;
        var byName = buildUsers.Select(l => l.Split(' ')).Where(p => p.Length == 3).ToDictionary(p => p[0], p => p);
        for (var i = 1; i <= o.BuildUsers; i++)
        {
            var name = $"nixbld{i}";
            var uid = (o.FirstUserId + i - 1).ToString(CultureInfo.InvariantCulture);
            if (byName.TryGetValue(name, out var u))
            {
                if (u[1] != uid) problems.Add($"{name} has UID {u[1]}, not {uid}");
                else if (u[2] != o.GroupId.ToString(CultureInfo.InvariantCulture)) problems.Add($"{name} has primary GID {u[2]}, not {o.GroupId}");
                else reused++;
            }
        }
        foreach (var taken in uidUsers.Select(l => l.Split(' ')).Where(p => p.Length == 2))
        {
            if (!long.TryParse(taken[1], CultureInfo.InvariantCulture, out var uid)) continue;
            var index = uid - o.FirstUserId + 1;
            if (index >= 1 && index <= o.BuildUsers && taken[0] != $"nixbld{index}") problems.Add($"UID {taken[1]} belongs to {taken[0]}");
        }
        add("build-users", problems.Count == 0 ? PreflightCheck.Ok : PreflightCheck.Failed, problems.Count == 0
            ? $"nixbld1..nixbld{o.BuildUsers} (UID {o.FirstUserId}..{o.FirstUserId + o.BuildUsers - 1}): {o.BuildUsers - reused} to create, {reused} reused"
            : "build users conflict: " + string.Join("; ", problems.Take(5)));
    }

    public static ConversionReceipt? ReadReceipt(string? json)
    {
        if (string.IsNullOrWhiteSpace(json)) return null;
        try
        {
            return System.Text.Json.JsonSerializer.Deserialize<ConversionReceipt>(json, System.Text.Json.JsonSerializerOptions.Web);
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    static string Mib(long bytes) => bytes < 0 ? "unknown" : $"{bytes / (1024 * 1024)} MiB";
}

/// <summary>The plan shown before anything changes: each step, its exact commands, what it changes and how it is undone.</summary>
public static class ConversionPlanner
{
    public static ConversionPlan Plan(ConversionPreflight preflight, ConversionOptions options, string conversionId)
    {
        if (preflight.AlreadyConverted) return new ConversionPlan(options, preflight, [], $"already converted by NixFleet ({preflight.Receipt!.Id}): converting again changes nothing");
        var receipt = preflight.Receipt is { Status: ConversionReceipt.Converting } resumed ? resumed : NewReceipt(preflight, options, conversionId);
        var owner = receipt.Owner;
        var steps = ConversionSteps.Order.Select(step => new PlannedStep(step, ConversionSteps.Title(step),
            Changes(step, receipt, preflight), Undo(step, receipt), ConversionScript.Commands("apply", step, receipt))).ToList();
        return new ConversionPlan(options, preflight, steps, null);
    }

    /// <summary>A fresh receipt: every step pending. Needs a preflight that found the owner and the daemon.</summary>
    public static ConversionReceipt NewReceipt(ConversionPreflight p, ConversionOptions options, string conversionId)
    {
        var now = DateTimeOffset.UtcNow;
        return new ConversionReceipt(conversionId, ConversionReceipt.Converting, p.Owner ?? "unknown", p.OwnerGroup ?? "unknown",
            p.OwnerHome ?? "/nonexistent", p.InitSystem, p.DaemonPath ?? "/usr/bin/nix-daemon", ConversionScript.BackupDir(conversionId),
            options, p.ProfileLayout, p.Packages, p.Generations,
            ConversionSteps.Order.Select(s => new ReceiptStep(s, ReceiptStep.Pending, null, null, [], null)).ToList(), now, now);
    }

    static string Changes(string step, ConversionReceipt r, ConversionPreflight p) => step switch
    {
        ConversionSteps.BuildUsers => $"adds group nixbld (GID {r.Options.GroupId}) and system users nixbld1..nixbld{r.Options.BuildUsers} (UID {r.Options.FirstUserId}..{r.Options.FirstUserId + r.Options.BuildUsers - 1}, no login shell, home /var/empty); existing ones are reused only when their IDs fit",
        ConversionSteps.NixConf => "writes build-users-group = nixbld into /etc/nix/nix.conf (created if missing; every other line kept)",
        ConversionSteps.StoreOwnership => $"records who owns what under /nix, then chown -R root:nixbld /nix, /nix/store mode 1775, profiles/per-user and gcroots/per-user mode 1777; {r.Owner}'s own per-user directories stay {r.Owner}'s",
        ConversionSteps.UserProfile => r.ProfileLayout switch
        {
            "default" => $"links each of the default profile's {r.GenerationsBefore.Count} generation(s) as /nix/var/nix/profiles/per-user/{r.Owner}/profile-N-link and repoints ~/.nix-profile there; channels ({string.Join(", ", p.Channels)}) and ~/.nix-defexpr stay",
            _ => $"nothing to move: {r.Owner}'s profile ({r.GenerationsBefore.Count} generation(s)) and channels ({string.Join(", ", p.Channels)}) are in per-user already; checks they still resolve",
        },
        ConversionSteps.Daemon => r.InitSystem switch
        {
            "systemd" => $"writes /etc/systemd/system/nix-daemon.service and nix-daemon.socket (ExecStart {r.DaemonPath}), enables and starts both",
            "sysv" => $"writes /etc/init.d/nix-daemon ({r.DaemonPath}), enables it for runlevels 2-5 and starts it",
            _ => $"starts {r.DaemonPath} under a small supervisor (/usr/local/sbin/nixfleet-nix-daemon) that restarts it; it does not come back after a reboot",
        },
        ConversionSteps.LoginProfile => $"writes {ConversionScript.ProfileScript} (NIX_REMOTE=daemon, the per-user profile on PATH)" +
            (p.ShellFiles.Count == 0 ? "" : $"; in {string.Join(", ", p.ShellFiles)} the line sourcing the single-user nix.sh sources it instead"),
        ConversionSteps.Verify => $"changes nothing: through the daemon as root and as {r.Owner}, lists {r.Owner}'s packages and generations, and builds a new trivial derivation with no substituters, which must run as a nixbld user",
        _ => "",
    };

    /// <summary>
    /// A revert as a plan: the steps that ran, newest first, each with what the receipt says it
    /// changed, how it is undone, and the script's own revert commands.
    /// </summary>
    public static IReadOnlyList<PlannedStep> RevertPlan(ConversionReceipt r) =>
        r.Steps.Where(s => s.Status is not (ReceiptStep.Pending or ReceiptStep.Reverted) && s.Name != ConversionSteps.Verify).Reverse()
            .Select(s => new PlannedStep(s.Name, ConversionSteps.Title(s.Name),
                s.Changes.Count == 0 ? "no change recorded (it may have been cut off)" : string.Join("; ", s.Changes),
                Undo(s.Name, r), ConversionScript.Commands("revert", s.Name, r)))
            .ToList();

    public static string Undo(string step, ConversionReceipt r) => step switch
    {
        ConversionSteps.BuildUsers => "deletes the users and the group this conversion created (reused ones stay)",
        ConversionSteps.NixConf => "puts back nix.conf byte for byte from its backup (or removes the file it created)",
        ConversionSteps.StoreOwnership => $"chown -R {r.Owner}:{r.OwnerGroup} /nix, then the recorded exceptions and modes",
        ConversionSteps.UserProfile => "removes the links it made and points ~/.nix-profile where it pointed",
        ConversionSteps.Daemon => "stops and disables the daemon, removes (or restores) the files it wrote, and checks no nix-daemon is left",
        ConversionSteps.LoginProfile => "puts every edited file back byte for byte and removes (or restores) the profile script",
        _ => "nothing to undo",
    };
}
