using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace NixFleet.Shared.Nix;

public enum ActivationState
{
    /// <summary>The host knows no run with this id.</summary>
    Unknown,

    /// <summary>Started less than a minute ago and not yet running (systemd may not have started the unit).</summary>
    Starting,

    Running,

    /// <summary>Finished: <see cref="ActivationProgress.ExitStatus"/> is what switch-to-configuration returned.</summary>
    Done,

    /// <summary>Not running and no exit status: killed, or the host went down mid-way. Read the host's real state.</summary>
    Lost,
}

/// <summary>What <see cref="DetachedActivation.StartScript"/> reported.</summary>
/// <param name="AlreadyStarted">The run id was used before: nothing new was started (a retry after a lost connection).</param>
/// <param name="Unit">The systemd unit, when systemd runs it.</param>
/// <param name="Pid">The process, when it was started with setsid.</param>
public sealed record ActivationStart(
    string RunId, bool AlreadyStarted, string? Unit, int? Pid, string? LogPath, string? Target, string? Mode, DateTimeOffset? Started);

/// <summary>One poll of <see cref="DetachedActivation.FollowScript"/>.</summary>
/// <param name="Lines">Output lines from <paramref name="Offset"/> on: only complete lines while the run goes on; with the last, unterminated one once it is over.</param>
/// <param name="NextOffset">The offset to ask for next time.</param>
/// <param name="LogSize">The log's size when it was read; more is waiting when it is past <paramref name="NextOffset"/>.</param>
/// <param name="CurrentSystem">Target of /run/current-system: what runs now.</param>
/// <param name="SystemProfileLink">Target of /nix/var/nix/profiles/system ("system-3-link"): the boot default.</param>
/// <param name="SystemProfilePath">The store path the system profile resolves to.</param>
public sealed record ActivationProgress(
    string RunId,
    ActivationState State,
    int? ExitStatus,
    string? Unit,
    int? Pid,
    IReadOnlyList<string> Lines,
    long Offset,
    long NextOffset,
    long LogSize,
    string? CurrentSystem,
    string? SystemProfileLink,
    string? SystemProfilePath)
{
    public bool Finished => State is ActivationState.Done or ActivationState.Lost or ActivationState.Unknown;

    public bool Succeeded => State == ActivationState.Done && ExitStatus == 0;

    public bool MoreOutput => NextOffset < LogSize;
}

/// <summary>
/// Runs a system generation's <c>bin/switch-to-configuration MODE</c> detached from the SSH session
/// (so that it survives a lost connection and an sshd restart by the activation itself), and reads
/// back how it goes. Both scripts are constants that take their input only as positional
/// arguments, check it before use, and keep everything under <see cref="Directory"/>:
/// RUN.log (the activation's stdout and stderr), RUN.status (its exit status, written atomically
/// when it ends), RUN.pid, RUN.start (launcher, start time, target, mode).
/// Where PID 1 is systemd the activation runs as the transient unit nixfleet-activate-RUN
/// (<c>systemd-run --collect --no-block</c>), as nixos-rebuild does, else under setsid and nohup.
/// </summary>
public static partial class DetachedActivation
{
    public const string Directory = "/var/lib/nixfleet/activations";

    /// <summary>Exit codes of <see cref="StartScript"/>.</summary>
    public const int ExitBadArgument = 2, ExitNotASystem = 3, ExitCannotStart = 4, ExitNotRoot = 5;

    /// <summary>Largest log chunk one poll returns.</summary>
    public const int MaxChunkBytes = 262144;

    /// <summary>$1 system store path, $2 switch|boot|test, $3 run id. Run as root.</summary>
    public const string StartScript = """
        # NixFleet detached activation: starts "$1/bin/switch-to-configuration $2" detached from this SSH
        # session. Input only as arguments, checked here: $1 a system store path, $2 switch|boot|test,
        # $3 a run id (1 to 64 of a-z 0-9 -). A run id is used once: starting it again starts nothing.
        cd / || exit 1
        PATH=/run/current-system/sw/bin:/run/wrappers/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        LC_ALL=C
        export PATH LC_ALL
        umask 077

        section() { printf '\n@@%s\n' "$1"; }
        body() { sed 's/^/|/'; }
        fail() {
          echo "nixfleet-activate: $2" >&2
          exit "$1"
        }

        [ "$#" -eq 3 ] || fail 2 "usage: STORE_PATH switch|boot|test RUN_ID"
        target=$1
        mode=$2
        run=$3
        case "$mode" in
          switch | boot | test) ;;
          *) fail 2 "the mode must be switch, boot or test" ;;
        esac
        case "$run" in
          '' | *[!a-z0-9-]*) fail 2 "the run id must be 1 to 64 of a-z, 0-9 and -" ;;
        esac
        [ "${#run}" -le 64 ] || fail 2 "the run id must be 1 to 64 of a-z, 0-9 and -"
        expr "x$target" : 'x/nix/store/[0-9a-z]\{32\}-[A-Za-z0-9+._?=-]\{1,\}$' >/dev/null ||
          fail 2 "not a store path"
        [ "$(id -u)" = 0 ] || fail 5 "activation must run as root"
        [ -x "$target/bin/switch-to-configuration" ] || fail 3 "$target has no executable bin/switch-to-configuration"
        [ -f "$target/nixos-version" ] || fail 3 "$target has no nixos-version: not a NixOS system"

        dir=/var/lib/nixfleet/activations
        mkdir -p "$dir" || fail 4 "cannot create $dir"
        base=$dir/$run
        # Runs are kept 30 days, for reconciling and for the record.
        find "$dir" -maxdepth 1 -type f -mtime +30 -exec rm -f {} + 2>/dev/null

        report() {
          section start
          {
            echo "run $run"
            cat "$base.start" 2>/dev/null
            echo "log $base.log"
            echo "state $1"
          } | body
        }

        # Claim the run id (noclobber: exactly one start creates the log).
        if ! (set -C && : >"$base.log") 2>/dev/null; then
          [ -f "$base.log" ] || fail 4 "cannot create $base.log"
          report already-started
          exit 0
        fi

        # $0 is the run's base path: it names the files and marks the process in /proc/PID/cmdline.
        # No "$$", "${" or "%" in here: systemd expands them in a unit's command line.
        inner='
        read -r self rest </proc/self/stat
        echo "$self" >"$0.pid.tmp" && mv -f "$0.pid.tmp" "$0.pid"
        "$1/bin/switch-to-configuration" "$2" >>"$0.log" 2>&1 </dev/null
        rc=$?
        echo "$rc" >"$0.status.tmp" && mv -f "$0.status.tmp" "$0.status"
        '
        now=$(date +%s)
        if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then
          unit=nixfleet-activate-$run
          printf 'launcher systemd %s\nstarted %s\ntarget %s\nmode %s\n' "$unit" "$now" "$target" "$mode" >"$base.start"
          if ! systemd-run --unit="$unit" --collect --no-block --quiet --no-ask-password \
            --description="NixFleet activation $run" -- /bin/sh -c "$inner" "$base" "$target" "$mode" \
            </dev/null >/dev/null 2>"$base.err"; then
            cat "$base.err" >&2
            rm -f "$base.err" "$base.start" "$base.log"
            fail 4 "systemd-run could not start $unit"
          fi
          rm -f "$base.err"
        else
          printf 'launcher setsid\nstarted %s\ntarget %s\nmode %s\n' "$now" "$target" "$mode" >"$base.start"
          if command -v setsid >/dev/null 2>&1; then
            setsid nohup /bin/sh -c "$inner" "$base" "$target" "$mode" </dev/null >/dev/null 2>&1 &
          else
            nohup /bin/sh -c "$inner" "$base" "$target" "$mode" </dev/null >/dev/null 2>&1 &
          fi
          echo "pid $!" >>"$base.start"
        fi
        report started
        exit 0
        """;

    /// <summary>$1 run id, $2 byte offset into the log (default 0). Reads only.</summary>
    public const string FollowScript = """
        # NixFleet activation follower: reads only. $1 a run id, $2 the log offset already read.
        # Prints the run's state (done with its exit status, running, starting, lost, unknown), the log
        # from that offset on (base64, at most 256 KiB), and what the system runs and boots.
        cd / || exit 1
        PATH=/run/current-system/sw/bin:/run/wrappers/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        LC_ALL=C
        export PATH LC_ALL

        section() { printf '\n@@%s\n' "$1"; }
        body() { sed 's/^/|/'; }
        fail() {
          echo "nixfleet-follow: $2" >&2
          exit "$1"
        }

        run=$1
        offset=${2:-0}
        case "$run" in
          '' | *[!a-z0-9-]*) fail 2 "the run id must be 1 to 64 of a-z, 0-9 and -" ;;
        esac
        [ "${#run}" -le 64 ] || fail 2 "the run id must be 1 to 64 of a-z, 0-9 and -"
        case "$offset" in
          '' | *[!0-9]*) fail 2 "the offset must be a number" ;;
        esac
        [ "${#offset}" -le 15 ] || fail 2 "the offset is too large"
        offset=$((offset + 0))
        base=/var/lib/nixfleet/activations/$run

        # The run's process is alive: its /proc cmdline holds the run's base path as an argument. Under
        # setsid it leads its own process group: a live group is the activation still running after
        # its wrapper was killed. Under systemd: its unit is active (also before the pid is written).
        alive() {
          al_pid=$(head -n 1 "$base.pid" 2>/dev/null)
          case "$al_pid" in
            '' | *[!0-9]*) ;;
            *)
              if [ -r "/proc/$al_pid/cmdline" ] && tr '\000' '\n' <"/proc/$al_pid/cmdline" | grep -qxF "$base"; then
                return 0
              fi
              if grep -qx 'launcher setsid' "$base.start" 2>/dev/null && kill -0 "-$al_pid" 2>/dev/null; then
                return 0
              fi
              ;;
          esac
          al_unit=$(sed -n 's/^launcher systemd //p' "$base.start" 2>/dev/null)
          [ -n "$al_unit" ] && systemctl is-active --quiet "$al_unit" 2>/dev/null
        }

        recent() {
          re_started=$(sed -n 's/^started //p' "$base.start" 2>/dev/null)
          case "$re_started" in
            '' | *[!0-9]*) return 1 ;;
          esac
          [ $(($(date +%s) - re_started)) -lt 60 ]
        }

        # The state is read before the log: a run that was done then has all its output in the log.
        section run
        {
          echo "run $run"
          if [ ! -e "$base.log" ] && [ ! -e "$base.start" ]; then
            state=unknown
          elif [ -f "$base.status" ]; then
            state=done
          elif alive; then
            state=running
          elif [ -f "$base.status" ]; then
            state=done
          elif [ ! -f "$base.pid" ] && recent; then
            state=starting
          else
            state=lost
          fi
          echo "state $state"
          if [ "$state" = done ]; then
            echo "exit $(head -n 1 "$base.status")"
          fi
          cat "$base.start" 2>/dev/null
        } | body

        size=$(stat -c %s "$base.log" 2>/dev/null) || size=0
        [ "$offset" -le "$size" ] || offset=$size
        length=$((size - offset))
        [ "$length" -le 262144 ] || length=262144
        section log
        printf 'offset %s\nsize %s\nlength %s\n' "$offset" "$size" "$length" | body
        if [ "$length" -gt 0 ]; then
          if command -v base64 >/dev/null 2>&1; then
            section log-base64
            tail -c +$((offset + 1)) "$base.log" | head -c "$length" | base64 | body
          else
            section log-hex
            tail -c +$((offset + 1)) "$base.log" | head -c "$length" | od -An -v -tx1 | body
          fi
        fi

        section current-system
        readlink /run/current-system 2>/dev/null | body

        section system-profile
        {
          if [ -e /nix/var/nix/profiles/system ]; then
            readlink /nix/var/nix/profiles/system || echo
            readlink -f /nix/var/nix/profiles/system
          fi
        } 2>/dev/null | body
        exit 0
        """;

    public static bool IsRunId(string? runId) => runId is not null && RunIdPattern().IsMatch(runId);

    /// <summary>The argv that starts an activation: <see cref="StartScript"/> with its three arguments.</summary>
    public static IReadOnlyList<string> StartCommand(string systemStorePath, string mode, string runId)
    {
        if (!GenerationsParser.IsStorePath(systemStorePath))
        {
            throw new ArgumentException($"'{systemStorePath}' is not a store path.", nameof(systemStorePath));
        }

        if (!ActivationMode.IsValid(mode))
        {
            throw new ArgumentException($"'{mode}' is not switch, boot or test.", nameof(mode));
        }

        CheckRunId(runId);
        return ["sh", "-c", StartScript, "nixfleet-activate", systemStorePath, mode, runId];
    }

    /// <summary>The argv that polls a run: <see cref="FollowScript"/> with the run id and the offset already read.</summary>
    public static IReadOnlyList<string> FollowCommand(string runId, long offset = 0)
    {
        CheckRunId(runId);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        return ["sh", "-c", FollowScript, "nixfleet-follow", runId, offset.ToString(CultureInfo.InvariantCulture)];
    }

    /// <summary>Reads the standard output of <see cref="StartScript"/>; null when it reported no start (it failed: see its stderr and exit code).</summary>
    public static ActivationStart? ParseStart(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var section = FactsParser.ReadSections(output).FirstOrDefault(s => s.Name == "start");
        if (section is null)
        {
            return null;
        }

        var values = KeyValues(section.Lines);
        var state = values.GetValueOrDefault("state");
        if (values.GetValueOrDefault("run") is not { } run || state is not ("started" or "already-started"))
        {
            return null;
        }

        var (unit, _) = Launcher(values);
        return new ActivationStart(
            run,
            state == "already-started",
            unit,
            ParseInt(values.GetValueOrDefault("pid")),
            values.GetValueOrDefault("log"),
            values.GetValueOrDefault("target"),
            values.GetValueOrDefault("mode"),
            ParseUnixTime(values.GetValueOrDefault("started")));
    }

    /// <summary>Reads the standard output of <see cref="FollowScript"/>; null when it is not that script's output.</summary>
    public static ActivationProgress? ParseFollow(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var sections = FactsParser.ReadSections(output);
        var runSection = sections.FirstOrDefault(s => s.Name == "run");
        var logSection = sections.FirstOrDefault(s => s.Name == "log");
        if (runSection is null || logSection is null)
        {
            return null;
        }

        var values = KeyValues(runSection.Lines);
        if (values.GetValueOrDefault("run") is not { } run)
        {
            return null;
        }

        var state = values.GetValueOrDefault("state") switch
        {
            "done" => ActivationState.Done,
            "running" => ActivationState.Running,
            "starting" => ActivationState.Starting,
            "lost" => ActivationState.Lost,
            _ => ActivationState.Unknown,
        };
        var exitStatus = state == ActivationState.Done ? ParseInt(values.GetValueOrDefault("exit")) : null;
        var (unit, _) = Launcher(values);

        var log = KeyValues(logSection.Lines);
        var offset = ParseLong(log.GetValueOrDefault("offset")) ?? 0;
        var size = ParseLong(log.GetValueOrDefault("size")) ?? 0;
        if (DecodeChunk(sections) is not { } chunk || chunk.Length != (ParseLong(log.GetValueOrDefault("length")) ?? 0))
        {
            return null;
        }

        // While the run goes on, a last line without its newline may still grow: leave it for the
        // next poll. Once the run is over and this chunk reaches the end, it is the last line.
        var final = state is ActivationState.Done or ActivationState.Lost && offset + chunk.Length >= size;
        var lastNewline = Array.LastIndexOf(chunk, (byte)'\n');
        var used = final ? chunk.Length : lastNewline + 1;
        var lines = SplitLines(chunk.AsSpan(0, used));

        var profile = sections.FirstOrDefault(s => s.Name == "system-profile")?.Lines ?? [];
        return new ActivationProgress(
            run,
            state,
            exitStatus,
            unit,
            ParseInt(values.GetValueOrDefault("pid")),
            lines,
            offset,
            offset + used,
            size,
            sections.FirstOrDefault(s => s.Name == "current-system")?.FirstLine,
            profile.Count > 0 && profile[0].Trim().Length > 0 ? profile[0].Trim() : null,
            profile.Count > 1 && GenerationsParser.IsStorePath(profile[1].Trim()) ? profile[1].Trim() : null);
    }

    // Null when the chunk does not decode: the output was cut off or is not the script's.
    private static byte[]? DecodeChunk(IReadOnlyList<FactsParser.Section> sections)
    {
        var base64 = sections.FirstOrDefault(s => s.Name == "log-base64");
        var hex = sections.FirstOrDefault(s => s.Name == "log-hex");
        var text = base64 is not null
            ? string.Concat(base64.Lines.Select(l => l.Trim()))
            : string.Concat((hex?.Lines ?? []).SelectMany(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)));
        var buffer = new byte[text.Length];
        if (base64 is not null)
        {
            return Convert.TryFromBase64String(text, buffer, out var written) ? buffer[..written] : null;
        }

        return Convert.FromHexString(text, buffer, out _, out var hexWritten) == System.Buffers.OperationStatus.Done
            ? buffer[..hexWritten]
            : null;
    }

    private static List<string> SplitLines(ReadOnlySpan<byte> bytes)
    {
        var lines = new List<string>();
        while (bytes.Length > 0)
        {
            var newline = bytes.IndexOf((byte)'\n');
            var line = newline < 0 ? bytes : bytes[..newline];
            lines.Add(Encoding.UTF8.GetString(line).TrimEnd('\r'));
            bytes = newline < 0 ? [] : bytes[(newline + 1)..];
        }

        return lines;
    }

    // "launcher systemd nixfleet-activate-x" or "launcher setsid".
    private static (string? Unit, string? Kind) Launcher(IReadOnlyDictionary<string, string> values)
    {
        var fields = (values.GetValueOrDefault("launcher") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields switch
        {
            ["systemd", var unit] => (unit, "systemd"),
            [var kind, ..] => (null, kind),
            _ => (null, null),
        };
    }

    // "key value" lines; the first of each key wins.
    private static Dictionary<string, string> KeyValues(IEnumerable<string> lines)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines)
        {
            var space = line.IndexOf(' ');
            if (space > 0)
            {
                values.TryAdd(line[..space], line[(space + 1)..].Trim());
            }
        }

        return values;
    }

    private static int? ParseInt(string? text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;

    private static long? ParseLong(string? text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : null;

    private static DateTimeOffset? ParseUnixTime(string? text) =>
        ParseLong(text) is { } seconds and <= 253402300799 ? DateTimeOffset.FromUnixTimeSeconds(seconds) : null;

    private static void CheckRunId(string runId)
    {
        if (!IsRunId(runId))
        {
            throw new ArgumentException($"'{runId}' is not a run id (1 to 64 of a-z, 0-9 and -).", nameof(runId));
        }
    }

    [GeneratedRegex(@"^[a-z0-9-]{1,64}\z")]
    private static partial Regex RunIdPattern();
}
