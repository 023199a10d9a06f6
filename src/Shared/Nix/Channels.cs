using System.Globalization;
using System.Text.RegularExpressions;

namespace NixFleet.Shared.Nix;

/// <summary>
/// The <c>nix-channel</c> commands as argument lists, the scripts that back up and restore a
/// user's <c>~/.nix-channels</c> around a change, and the argv that runs either as the channel's
/// user. A channel belongs to a user: nix-channel keeps the list in <c>$HOME/.nix-channels</c> and
/// the unpacked channels in that user's channels profile
/// (<c>/nix/var/nix/profiles/per-user/USER/channels</c>, which <c>~/.nix-defexpr/channels</c> points
/// at), so everything here runs as that user, never as root on the user's behalf.
/// </summary>
/// <remarks>
/// <c>nix-channel --update</c> changes the profile only after every download and unpack worked, so
/// a failed update leaves the profile as it was; <c>--add</c> has by then already rewritten
/// <c>~/.nix-channels</c>. Hence <see cref="BackupScript"/> before <c>--add</c> and
/// <see cref="RestoreScript"/> when the update fails. Nix 2.8 caches what it downloaded from a
/// channel URL for <c>tarball-ttl</c> (3600 s by default): an update within that hour does not ask
/// the server again unless told to (<see cref="Update(string?, bool)"/>).
/// </remarks>
public static partial class ChannelCommands
{
    /// <summary>The longest channel URL accepted.</summary>
    public const int MaxUrlLength = 2000;

    /// <summary>
    /// A channel name NixFleet accepts: a letter or digit, then up to 63 letters, digits, dots,
    /// underscores or dashes. Stricter than nix-channel (which also allows a leading underscore and
    /// any length), so it can never be taken for an option, a path or another word.
    /// </summary>
    public static bool IsChannelName(string? name) => name is not null and not "." and not ".." && ChannelName().IsMatch(name);

    /// <summary>
    /// Why <paramref name="url"/> cannot be a channel URL, in words, or null when it can: an
    /// absolute http or https URL with a host (or, when <paramref name="allowFile"/>, a
    /// <c>file:///absolute/path</c>), at most <see cref="MaxUrlLength"/> characters, with no
    /// whitespace, control character, quote, backtick, dollar sign, backslash or non-ASCII character, no user name or
    /// password (they would end up in every log and in <c>nix-channel --list</c>), and no query or
    /// fragment (nix-channel appends <c>/nixexprs.tar.xz</c> to the URL).
    /// </summary>
    public static string? UrlError(string? url, bool allowFile)
    {
        if (string.IsNullOrEmpty(url))
        {
            return "The channel URL is empty.";
        }

        if (url.Length > MaxUrlLength)
        {
            return $"The channel URL is longer than {MaxUrlLength} characters.";
        }

        foreach (var c in url)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c))
            {
                return "The channel URL contains a space, a line break or another control character.";
            }

            if (c is '"' or '\'' or '`' or '$' or '\\')
            {
                return $"The channel URL contains the character {c}, which a channel URL never needs.";
            }

            // Also keeps out bidirectional overrides and look-alike letters in what operators approve.
            if (c > '~')
            {
                return "The channel URL contains a character outside ASCII: write an international host name in its xn-- form and escape the path (%XX).";
            }
        }

        // On Unix a bare "/path" parses as a file URI: the URL itself must start with its scheme.
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !SchemePrefix().IsMatch(url))
        {
            return allowFile
                ? "The channel URL must be an absolute http://, https:// or file:/// URL."
                : "The channel URL must be an absolute http:// or https:// URL.";
        }

        if (uri.Scheme == Uri.UriSchemeFile)
        {
            if (!allowFile)
            {
                return "file:// channel URLs are not allowed here: use an http:// or https:// URL.";
            }

            // file:///path only: no host (file://host/path), no relative path.
            return url.StartsWith("file:///", StringComparison.Ordinal) && !url.StartsWith("file:////", StringComparison.Ordinal) &&
                uri.IsLoopback && url.Length > "file:///".Length && !url.Contains('?') && !url.Contains('#') &&
                !url["file://".Length..].Split('/').Any(part => part is "." or "..")
                ? null
                : "A file channel URL must be file:///absolute/path (no host, no . or .. parts, no query).";
        }

        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
        {
            return allowFile
                ? $"The channel URL's scheme '{uri.Scheme}' is not http, https or file."
                : $"The channel URL's scheme '{uri.Scheme}' is not http or https.";
        }

        if (string.IsNullOrEmpty(uri.Host) || !url.StartsWith(uri.Scheme + "://", StringComparison.OrdinalIgnoreCase))
        {
            return "The channel URL has no host.";
        }

        if (uri.UserInfo.Length > 0)
        {
            return "The channel URL contains a user name or password; NixFleet would show it in every log.";
        }

        if (url.Contains('?') || url.Contains('#'))
        {
            return "The channel URL has a query or fragment; nix-channel appends /nixexprs.tar.xz to the URL, which would break it.";
        }

        return null;
    }

    /// <summary><c>nix-channel --list</c>: "NAME URL" per line (<see cref="NixOutput.ParseChannelList"/>).</summary>
    public static IReadOnlyList<string> List() => ["nix-channel", "--list"];

    /// <summary>
    /// <c>nix-channel --add URL NAME</c>: subscribes (or re-points) NAME; changes only
    /// <c>~/.nix-channels</c> until the next <see cref="Update(string?)"/>. Accepts file:/// URLs: whether
    /// they are allowed is the caller's policy (<see cref="UrlError"/> with allowFile false).
    /// </summary>
    public static IReadOnlyList<string> Add(string url, string name)
    {
        if (UrlError(url, allowFile: true) is { } error)
        {
            throw new ArgumentException(error, nameof(url));
        }

        CheckName(name);
        return ["nix-channel", "--add", url, name];
    }

    /// <summary><c>nix-channel --remove NAME</c>: drops it from <c>~/.nix-channels</c> and from the channels profile (a new generation).</summary>
    public static IReadOnlyList<string> Remove(string name)
    {
        CheckName(name);
        return ["nix-channel", "--remove", name];
    }

    /// <summary>
    /// <c>nix-channel --update [NAME]</c>: downloads the channel(s) and makes a new generation of
    /// the channels profile (none when nothing changed). With a name, the other channels keep
    /// what the profile has; Nix 2.8 fails if one of them was never downloaded.
    /// </summary>
    public static IReadOnlyList<string> Update(string? name)
    {
        if (name is null)
        {
            return ["nix-channel", "--update"];
        }

        CheckName(name);
        return ["nix-channel", "--update", name];
    }

    /// <summary>
    /// <see cref="Update(string?)"/> that asks the server even if Nix fetched the URL less than
    /// <c>tarball-ttl</c> (an hour) ago: <c>nix-channel --option tarball-ttl 0 --update [NAME]</c>.
    /// Without it an update within the hour may silently keep what Nix cached.
    /// </summary>
    public static IReadOnlyList<string> Update(string? name, bool bypassCache) =>
        bypassCache ? ["nix-channel", "--option", "tarball-ttl", "0", .. Update(name).Skip(1)] : Update(name);

    /// <summary>
    /// <c>nix-channel --rollback [N]</c>: the channels profile back to the previous generation, or
    /// to generation N. <c>~/.nix-channels</c> is not touched.
    /// </summary>
    public static IReadOnlyList<string> Rollback(int? generation)
    {
        if (generation is null)
        {
            return ["nix-channel", "--rollback"];
        }

        if (generation < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(generation), generation, "Generation numbers start at 1.");
        }

        return ["nix-channel", "--rollback", generation.Value.ToString(CultureInfo.InvariantCulture)];
    }

    /// <summary>
    /// Run as the channel user (<see cref="AsUser"/>) before changing their channels: copies
    /// <c>~/.nix-channels</c> to <c>~/.nix-channels.nixfleet-backup</c> (<c>cp -P -p</c>: a symlink
    /// stays a symlink; mode and times are kept), or, when there is none, creates
    /// <c>~/.nix-channels.nixfleet-absent</c>. Idempotent: a backup that is already there is kept
    /// (it holds the state before the change that made it, which a retried step must not replace),
    /// and the script says so. Prints one line: "backup created", "backup absent" or "backup kept".
    /// </summary>
    public const string BackupScript = """
        # NixFleet: back up ~/.nix-channels before a channel change (run as the channel's user).
        set -u
        umask 077
        [ -n "${HOME:-}" ] && [ -d "$HOME" ] || { echo "no home directory for $(id -un)" >&2; exit 1; }
        f=$HOME/.nix-channels
        b=$f.nixfleet-backup
        a=$f.nixfleet-absent
        if [ -e "$b" ] || [ -L "$b" ] || [ -e "$a" ]; then
          echo "backup kept"
          exit 0
        fi
        if [ -e "$f" ] || [ -L "$f" ]; then
          rm -f "$b.tmp" && cp -P -p "$f" "$b.tmp" && mv -f "$b.tmp" "$b" || exit 1
          echo "backup created"
        else
          : >"$a" || exit 1
          echo "backup absent"
        fi
        """;

    /// <summary>
    /// Run as the channel user after a failed change: puts <c>~/.nix-channels</c> back exactly as
    /// <see cref="BackupScript"/> found it (renamed back, so content, mode and times are the
    /// backup's), or removes it if there was none, then removes the markers. Idempotent: without a
    /// backup it changes nothing. Prints "restored", "restored absent" or "nothing to restore".
    /// </summary>
    public const string RestoreScript = """
        # NixFleet: put ~/.nix-channels back as it was before a channel change (run as the channel's user).
        set -u
        [ -n "${HOME:-}" ] && [ -d "$HOME" ] || { echo "no home directory for $(id -un)" >&2; exit 1; }
        f=$HOME/.nix-channels
        b=$f.nixfleet-backup
        a=$f.nixfleet-absent
        if [ -e "$b" ] || [ -L "$b" ]; then
          mv -f "$b" "$f" || exit 1
          rm -f "$a" "$b.tmp" || exit 1
          echo "restored"
        elif [ -e "$a" ]; then
          rm -f "$f" || exit 1
          rm -f "$a" "$b.tmp" || exit 1
          echo "restored absent"
        else
          echo "nothing to restore"
        fi
        """;

    /// <summary>Run as the channel user after a change succeeded: removes the backup markers. Prints "backup dropped".</summary>
    public const string DropBackupScript = """
        # NixFleet: a channel change succeeded: forget the backup of ~/.nix-channels (run as the channel's user).
        set -u
        [ -n "${HOME:-}" ] && [ -d "$HOME" ] || { echo "no home directory for $(id -un)" >&2; exit 1; }
        f=$HOME/.nix-channels
        rm -f "$f.nixfleet-backup" "$f.nixfleet-absent" "$f.nixfleet-backup.tmp" || exit 1
        echo "backup dropped"
        """;

    /// <summary>
    /// The argv that runs a constant script (<see cref="BackupScript"/>, <see cref="ChannelsProbe.Script"/>...)
    /// as <paramref name="user"/>: <c>sh -c SCRIPT</c> when the SSH user is that user, else
    /// <c>runuser -u USER -- sh -c SCRIPT</c> (which needs root, and sets HOME to the user's).
    /// Never put anything but a constant into the script.
    /// </summary>
    public static IReadOnlyList<string> AsUser(string sshUser, string user, string script)
    {
        ArgumentNullException.ThrowIfNull(sshUser);
        CheckUser(user);
        ArgumentException.ThrowIfNullOrWhiteSpace(script);
        return sshUser == user
            ? ["sh", "-c", script]
            : ["runuser", "-u", user, "--", "sh", "-c", script];
    }

    /// <summary>
    /// The argv that runs a nix-channel command (<see cref="List"/>, <see cref="Add"/>...) as the
    /// channel's user with the host's Nix. On a single-user install only the store's owner has
    /// channels (root must not write into their store): <see cref="NixLocator.Command"/> runs it as
    /// the owner. On a multi-user install another user's command runs as that user
    /// (<c>runuser -u USER --</c>, Nix then goes through the daemon), so their
    /// <c>~/.nix-channels</c> and channels profile stay theirs.
    /// </summary>
    /// <exception cref="ArgumentException">Not a nix-channel command, not a user name, or not the store's owner on a single-user install.</exception>
    public static IReadOnlyList<string> ForUser(HostFacts facts, string sshUser, string user, IReadOnlyList<string> command)
    {
        ArgumentNullException.ThrowIfNull(facts);
        ArgumentNullException.ThrowIfNull(sshUser);
        ArgumentNullException.ThrowIfNull(command);
        CheckUser(user);
        if (command.Count == 0 || command[0] != "nix-channel")
        {
            throw new ArgumentException("Not a nix-channel command.", nameof(command));
        }

        if (facts.InstallType == NixInstallType.SingleUser && facts.StoreOwner is { } owner && owner != user)
        {
            throw new ArgumentException(
                $"On a single-user install only the store's owner ({owner}) has channels, not {user}.", nameof(user));
        }

        var argv = NixLocator.Command(facts, sshUser, command[0], command.Skip(1));
        if (facts.InstallType != NixInstallType.SingleUser && user != sshUser)
        {
            return ["runuser", "-u", user, "--", .. argv];
        }

        return argv;
    }

    private static void CheckName(string name)
    {
        if (!IsChannelName(name))
        {
            throw new ArgumentException(
                $"'{name}' is not a channel name: a letter or digit, then up to 63 letters, digits, '.', '_' or '-'.", nameof(name));
        }
    }

    private static void CheckUser(string user)
    {
        ArgumentNullException.ThrowIfNull(user);
        if (!UserName().IsMatch(user))
        {
            throw new ArgumentException($"'{user}' is not a user name.", nameof(user));
        }
    }

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex ChannelName();

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9+.-]*:")]
    private static partial Regex SchemePrefix();

    // As RollbackCommands accepts them: what useradd allows, and never an option.
    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?\z")]
    private static partial Regex UserName();
}

/// <summary>One channel of a user, as <see cref="ChannelsProbe"/> saw it.</summary>
/// <param name="Name">The channel's name (<c>nixos</c>, <c>nixpkgs</c>): its directory in the channels profile.</param>
/// <param name="Url">Its URL in <c>~/.nix-channels</c>; empty when the profile has a channel the file no longer lists.</param>
/// <param name="Version">The release the profile holds: <c>.version</c> + <c>.version-suffix</c> ("24.11.710315.b681065d0919"),
/// else <c>svn-revision</c>; null when the channel is not in the current generation (added, never updated) or says no version.</param>
/// <param name="Revision">Its <c>.git-revision</c>: the nixpkgs commit.</param>
public sealed record ChannelState(string Name, string Url, string? Version, string? Revision)
{
    /// <summary>The unpacked channel in the store the current generation links to (/nix/store/…-nixos/nixos), null when not there.</summary>
    public string? StorePath { get; init; }
}

/// <summary>A user's channels: what <c>~/.nix-channels</c> subscribes and what the channels profile holds.</summary>
/// <param name="User">Who the probe ran as: the channels' user.</param>
/// <param name="Channels">Every channel of <c>~/.nix-channels</c>, by name as <c>nix-channel --list</c> orders them, then any the profile has that the file does not.</param>
/// <param name="ProfileGeneration">current generation of the user's channels profile (/nix/var/nix/profiles/per-user/USER/channels), null if none</param>
/// <param name="UpdatedAt">mtime of that generation link: when the channels were last updated</param>
/// <param name="Generations">Every generation of the channels profile, oldest first.</param>
public sealed record ChannelsReport(
    string User, IReadOnlyList<ChannelState> Channels, int? ProfileGeneration, DateTimeOffset? UpdatedAt, IReadOnlyList<int> Generations)
{
    /// <summary>The channels profile the probe read.</summary>
    public string? Profile { get; init; }

    /// <summary>Where <c>~/.nix-defexpr/channels</c> points (the channels profile, once nix-channel has updated), null without it.</summary>
    public string? DefExprChannels { get; init; }

    /// <summary><c>~/.nix-channels</c> exists.</summary>
    public bool ChannelsFilePresent { get; init; }

    /// <summary>A backup of <see cref="ChannelCommands.BackupScript"/> is still there: a channel change did not finish.</summary>
    public bool HasBackup { get; init; }
}

/// <summary>
/// The script that reads a user's channels, run as that user (<see cref="ChannelCommands.AsUser"/>,
/// with <c>sh -c</c>, in one SSH round trip). A constant: nothing from a user or the database is
/// ever put into it. Read its output with <see cref="ChannelsParser"/>.
/// </summary>
/// <remarks>
/// Same format as <see cref="FactsProbe"/>: "@@name" starts a section, content lines are prefixed
/// with "|". It only reads files and links and runs no Nix tool. Sections: <c>user</c>
/// (<c>id -un</c>); <c>channels-file present|absent</c> (the lines of <c>~/.nix-channels</c>,
/// "URL NAME"); <c>backup</c> (which backup markers exist); <c>defexpr</c> (where
/// <c>~/.nix-defexpr/channels</c> points); <c>profile</c> (the channels profile:
/// <c>/nix/var/nix/profiles/per-user/USER/channels</c>, or <c>~/.local/state/nix/profiles/channels</c>
/// of Nix 2.14+ when only that exists; "points channels-N-link"; "generation N MTIME TARGET" per
/// generation link); then one <c>channel</c> section per channel of the current generation: "name",
/// "path", and the first lines of its <c>.version</c>, <c>.version-suffix</c>, <c>svn-revision</c>
/// and <c>.git-revision</c>, which come from the channel's tarball (at most 200 bytes each).
/// </remarks>
public static class ChannelsProbe
{
    public const string Script = """
        # NixFleet channels probe: run as the channels' user; reads only, takes no input, runs no Nix tool.
        # Body lines are prefixed with "|" so that nothing a user controls can pass for a "@@" header.
        cd / || exit 1
        PATH=/run/current-system/sw/bin:/run/wrappers/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        LC_ALL=C
        export PATH LC_ALL

        section() { printf '\n@@%s\n' "$1"; }
        body() { sed 's/^/|/'; }

        # First line of a small file the channel's tarball put there.
        first_line() { head -c 200 "$1" 2>/dev/null | head -n 1; }

        me=$(id -un 2>/dev/null)
        section user
        echo "$me" | body

        if [ -f "$HOME/.nix-channels" ]; then
          section 'channels-file present'
          head -c 65536 "$HOME/.nix-channels" 2>/dev/null | body
        else
          section 'channels-file absent'
        fi

        section backup
        {
          if [ -e "$HOME/.nix-channels.nixfleet-backup" ] || [ -L "$HOME/.nix-channels.nixfleet-backup" ]; then echo backup; fi
          if [ -e "$HOME/.nix-channels.nixfleet-absent" ]; then echo absent; fi
        } | body

        section defexpr
        readlink "$HOME/.nix-defexpr/channels" 2>/dev/null | body

        profile=/nix/var/nix/profiles/per-user/$me/channels
        if [ ! -L "$profile" ] && [ -L "$HOME/.local/state/nix/profiles/channels" ]; then
          profile=$HOME/.local/state/nix/profiles/channels
        fi

        section profile
        {
          echo "path $profile"
          echo "points $(readlink "$profile" 2>/dev/null)"
          for link in "$profile"-*-link; do
            [ -L "$link" ] || continue
            n=${link##*/channels-}
            n=${n%-link}
            case "$n" in
              '' | *[!0-9]*) continue ;;
            esac
            mtime=$(stat -c %Y "$link" 2>/dev/null) || continue
            echo "generation $n $mtime $(readlink "$link" 2>/dev/null)"
          done
        } | body

        if [ -d "$profile" ]; then
          for entry in "$profile"/*; do
            name=${entry##*/}
            case "$name" in
              manifest.nix | *[!A-Za-z0-9._-]*) continue ;;
            esac
            [ -d "$entry" ] || continue
            section channel
            {
              echo "name $name"
              echo "path $(readlink "$entry" 2>/dev/null)"
              [ -f "$entry/.version" ] && echo "version $(first_line "$entry/.version")"
              [ -f "$entry/.version-suffix" ] && echo "version-suffix $(first_line "$entry/.version-suffix")"
              [ -f "$entry/svn-revision" ] && echo "svn-revision $(first_line "$entry/svn-revision")"
              [ -f "$entry/.git-revision" ] && echo "git-revision $(first_line "$entry/.git-revision")"
            } | body
          done
        fi
        exit 0
        """;
}

/// <summary>Reads the output of <see cref="ChannelsProbe.Script"/>. Pure: text in, channels out.</summary>
public static partial class ChannelsParser
{
    public static ChannelsReport Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var sections = FactsParser.ReadSections(output);
        var user = sections.FirstOrDefault(s => s.Name == "user")?.FirstLine ?? "";

        var file = sections.FirstOrDefault(s => s.Name == "channels-file");
        var subscribed = ReadChannelsFile(file?.Lines ?? []);

        var backup = sections.FirstOrDefault(s => s.Name == "backup");
        var defExpr = sections.FirstOrDefault(s => s.Name == "defexpr")?.FirstLine;

        string? profilePath = null, points = null;
        var links = new SortedDictionary<int, long>();
        foreach (var line in sections.FirstOrDefault(s => s.Name == "profile")?.Lines ?? [])
        {
            var (key, value) = SplitKey(line);
            switch (key)
            {
                case "path":
                    profilePath ??= value;
                    break;
                case "points":
                    points ??= value.Trim();
                    break;
                case "generation":
                    var fields = value.Split(' ');
                    if (fields.Length >= 2 && ParseNumber(fields[0]) is { } number &&
                        long.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var mtime) &&
                        mtime <= MaxUnixSeconds)
                    {
                        links.TryAdd(number, mtime);
                    }

                    break;
            }
        }

        int? current = points is not null && points.StartsWith("channels-", StringComparison.Ordinal) &&
            points.EndsWith("-link", StringComparison.Ordinal) && points.Length > "channels--link".Length
            ? ParseNumber(points["channels-".Length..^"-link".Length])
            : null;
        DateTimeOffset? updatedAt = current is { } c && links.TryGetValue(c, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : null;

        var installed = new Dictionary<string, ChannelState>(StringComparer.Ordinal);
        foreach (var section in sections.Where(s => s.Name == "channel"))
        {
            if (ReadChannel(section) is { } channel)
            {
                installed.TryAdd(channel.Name, channel);
            }
        }

        var channels = subscribed
            .Select(s => installed.TryGetValue(s.Key, out var i) ? i with { Url = s.Value } : new ChannelState(s.Key, s.Value, null, null))
            .Concat(installed.Values.Where(i => !subscribed.ContainsKey(i.Name)).OrderBy(i => i.Name, StringComparer.Ordinal))
            .ToList();

        return new ChannelsReport(user, channels, current, updatedAt, links.Keys.ToList())
        {
            Profile = profilePath,
            DefExprChannels = defExpr,
            ChannelsFilePresent = file?.Argument == "present",
            HasBackup = backup is not null && backup.Lines.Any(l => l.Trim() is "backup" or "absent"),
        };
    }

    /// <summary>
    /// <c>~/.nix-channels</c> as nix-channel 2.8 reads it: "URL [NAME]" per line, "#" lines skipped,
    /// trailing slashes dropped from the URL, NAME defaulting to the URL's last part, a later line
    /// for the same name winning; ordered by name (ordinal), as <c>nix-channel --list</c> prints them.
    /// </summary>
    public static SortedDictionary<string, string> ReadChannelsFile(IEnumerable<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var channels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in lines)
        {
            if (raw.TrimStart().StartsWith('#'))
            {
                continue;
            }

            var tokens = raw.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length == 0)
            {
                continue;
            }

            var url = tokens[0].TrimEnd('/');
            var name = tokens.Length > 1 ? tokens[1] : url[(url.LastIndexOf('/') + 1)..];
            channels[name] = url;
        }

        return channels;
    }

    /// <summary>
    /// Nix's reason when a nix-channel command failed: the first "error: " line of its stderr without
    /// the prefix, e.g. "unable to download 'URL': HTTP error 404 ('Not Found')" or "failed to open
    /// archive: Unrecognized archive format". Null when stderr has none.
    /// </summary>
    public static string? ErrorMessage(string stderr)
    {
        ArgumentNullException.ThrowIfNull(stderr);
        foreach (var raw in stderr.Split('\n'))
        {
            // Nix colours "error:" when it thinks it writes to a terminal.
            var line = AnsiEscape().Replace(raw.TrimEnd('\r'), "");
            if (line.StartsWith("error: ", StringComparison.Ordinal) && line.Length > "error: ".Length)
            {
                return line["error: ".Length..].Trim();
            }
        }

        return null;
    }

    private static ChannelState? ReadChannel(FactsParser.Section section)
    {
        string? name = null, path = null, version = null, suffix = null, svn = null, git = null;
        foreach (var line in section.Lines)
        {
            var (key, value) = SplitKey(line);
            value = value.Trim();
            switch (key)
            {
                case "name": name ??= value; break;
                case "path": path ??= value; break;
                case "version": version ??= value; break;
                case "version-suffix": suffix ??= value; break;
                case "svn-revision": svn ??= value; break;
                case "git-revision": git ??= value; break;
            }
        }

        if (string.IsNullOrEmpty(name))
        {
            return null;
        }

        var release = !string.IsNullOrEmpty(version) ? version + suffix : NonEmpty(svn);
        return new ChannelState(name, "", release, NonEmpty(git)) { StorePath = NonEmpty(path) };
    }

    private static (string Key, string Value) SplitKey(string line)
    {
        var space = line.IndexOf(' ');
        return space < 0 ? (line, "") : (line[..space], line[(space + 1)..]);
    }

    private static int? ParseNumber(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    // DateTimeOffset's range ends in the year 9999.
    private const long MaxUnixSeconds = 253402300799;

    [GeneratedRegex(@"\x1B\[[0-9;]*[A-Za-z]")]
    private static partial Regex AnsiEscape();
}
