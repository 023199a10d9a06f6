using System.Globalization;
using System.Text.RegularExpressions;

namespace NixFleet.Shared.Nix;

public enum HostLockState
{
    /// <summary>Taken now by the caller.</summary>
    Taken,

    /// <summary>The caller held it already (a retried or recovered operation): still held.</summary>
    AlreadyHeld,

    /// <summary>Another operation holds it: see <see cref="HostLockResult.Owner"/>.</summary>
    Busy,

    Released,

    /// <summary>Nothing to release: nobody holds it.</summary>
    NotHeld,

    /// <summary>The lock could not be taken or released (no /nix/var/nix, no permission): see stderr.</summary>
    Error,
}

/// <param name="Owner">Who holds it: the caller after a take, the other operation when busy. Empty when the holder is still writing its name.</param>
/// <param name="Since">When the holder took it (host clock).</param>
public sealed record HostLockResult(HostLockState State, string? Owner, DateTimeOffset? Since);

/// <summary>
/// The lock on the host itself, next to the one in the database: a directory
/// <see cref="Path"/> made with mkdir (atomic) holding an <c>owner</c> file (operation id, unix
/// time). Taking fails while another operation holds it; the same operation taking it again is
/// told it already holds it; releasing removes it only for its owner. An operation that died
/// for good is released by whoever ends it (the reaper) with the owner the lock names.
/// </summary>
public static partial class HostLock
{
    public const string Path = "/nix/var/nix/nixfleet.lock";

    /// <summary>$1 the operation id. Exit 0 taken or already held, 1 busy, 2 bad argument, 3 error.</summary>
    public const string TakeScript = """
        # NixFleet host lock, take: $1 an operation id. mkdir is atomic: exactly one taker succeeds.
        cd / || exit 1
        PATH=/run/current-system/sw/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        LC_ALL=C
        export PATH LC_ALL

        section() { printf '\n@@%s\n' "$1"; }
        body() { sed 's/^/|/'; }
        id=$1
        case "$id" in
          '' | *[!A-Za-z0-9._:-]*) echo "nixfleet-lock: bad operation id" >&2; exit 2 ;;
        esac
        [ "${#id}" -le 128 ] || { echo "nixfleet-lock: bad operation id" >&2; exit 2; }
        lock=/nix/var/nix/nixfleet.lock

        report() {
          section lock
          {
            echo "state $1"
            echo "owner $(head -n 1 "$lock/owner" 2>/dev/null)"
            echo "since $(sed -n 2p "$lock/owner" 2>/dev/null)"
          } | body
        }

        if mkdir "$lock" 2>/dev/null; then
          printf '%s\n%s\n' "$id" "$(date +%s)" >"$lock/owner.tmp" && mv -f "$lock/owner.tmp" "$lock/owner" || {
            rm -rf "$lock"
            echo "nixfleet-lock: cannot write $lock/owner" >&2
            exit 3
          }
          # A single-user store belongs to its owner: leave nothing of root's in it.
          if [ "$(id -u)" = 0 ]; then
            chown -R "$(stat -c %u:%g /nix/var/nix)" "$lock" 2>/dev/null
          fi
          report taken
          exit 0
        fi
        if [ ! -d "$lock" ]; then
          echo "nixfleet-lock: cannot create $lock" >&2
          exit 3
        fi
        if [ "$(head -n 1 "$lock/owner" 2>/dev/null)" = "$id" ]; then
          report already-held
          exit 0
        fi
        report busy
        exit 1
        """;

    /// <summary>$1 the operation id. Exit 0 released or not held, 1 held by another, 2 bad argument, 3 error.</summary>
    public const string ReleaseScript = """
        # NixFleet host lock, release: $1 the operation id that holds it. Another owner's lock stays.
        cd / || exit 1
        PATH=/run/current-system/sw/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        LC_ALL=C
        export PATH LC_ALL

        section() { printf '\n@@%s\n' "$1"; }
        body() { sed 's/^/|/'; }
        id=$1
        case "$id" in
          '' | *[!A-Za-z0-9._:-]*) echo "nixfleet-lock: bad operation id" >&2; exit 2 ;;
        esac
        [ "${#id}" -le 128 ] || { echo "nixfleet-lock: bad operation id" >&2; exit 2; }
        lock=/nix/var/nix/nixfleet.lock

        if [ ! -d "$lock" ]; then
          section lock
          echo "state not-held" | body
          exit 0
        fi
        owner=$(head -n 1 "$lock/owner" 2>/dev/null)
        if [ "$owner" != "$id" ]; then
          section lock
          printf 'state busy\nowner %s\nsince %s\n' "$owner" "$(sed -n 2p "$lock/owner" 2>/dev/null)" | body
          exit 1
        fi
        if ! rm -f "$lock/owner" "$lock/owner.tmp" || ! rmdir "$lock"; then
          echo "nixfleet-lock: cannot remove $lock" >&2
          exit 3
        fi
        section lock
        printf 'state released\nowner %s\n' "$id" | body
        exit 0
        """;

    /// <summary>Operation ids the scripts take: 1 to 128 of A-Z a-z 0-9 . _ : -.</summary>
    public static bool IsOwnerId(string? id) => id is not null && OwnerId().IsMatch(id);

    public static IReadOnlyList<string> TakeCommand(string operationId)
    {
        CheckOwner(operationId);
        return ["sh", "-c", TakeScript, "nixfleet-lock", operationId];
    }

    public static IReadOnlyList<string> ReleaseCommand(string operationId)
    {
        CheckOwner(operationId);
        return ["sh", "-c", ReleaseScript, "nixfleet-lock", operationId];
    }

    /// <summary>Reads the output of either script; <see cref="HostLockState.Error"/> when it printed no state.</summary>
    public static HostLockResult Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var section = FactsParser.ReadSections(output).FirstOrDefault(s => s.Name == "lock");
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in section?.Lines ?? [])
        {
            var space = line.IndexOf(' ');
            var key = space < 0 ? line : line[..space];
            values.TryAdd(key, space < 0 ? "" : line[(space + 1)..].Trim());
        }

        var state = values.GetValueOrDefault("state") switch
        {
            "taken" => HostLockState.Taken,
            "already-held" => HostLockState.AlreadyHeld,
            "busy" => HostLockState.Busy,
            "released" => HostLockState.Released,
            "not-held" => HostLockState.NotHeld,
            _ => HostLockState.Error,
        };
        var since = long.TryParse(values.GetValueOrDefault("since"), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) &&
            seconds <= 253402300799
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : (DateTimeOffset?)null;
        return new HostLockResult(state, values.GetValueOrDefault("owner"), since);
    }

    private static void CheckOwner(string operationId)
    {
        if (!IsOwnerId(operationId))
        {
            throw new ArgumentException($"'{operationId}' is not an operation id (1 to 128 of A-Z a-z 0-9 . _ : -).", nameof(operationId));
        }
    }

    [GeneratedRegex(@"^[A-Za-z0-9._:-]{1,128}\z")]
    private static partial Regex OwnerId();
}
