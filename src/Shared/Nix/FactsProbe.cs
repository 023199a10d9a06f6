namespace NixFleet.Shared.Nix;

/// <summary>
/// The one script a host refresh runs (with <c>sh -c</c>, in one SSH round trip). It is a constant:
/// nothing from a user or the database is ever put into it. Read its output with <see cref="FactsParser"/>.
/// </summary>
/// <remarks>
/// Output format: a line "@@name" (or "@@name argument") starts a section; every line of the
/// section's content follows prefixed with "|". Written for POSIX sh (dash, busybox ash) and never
/// fails as a whole. It only reads; the Nix commands in it (<c>nix-env --version</c>,
/// <c>nix-channel --list</c>) run as the store's owner on a single-user install and as the
/// profile's user for per-user channels, never as root in a store root does not own: on the test
/// hosts even <c>nix-channel --list</c> run as root created a root-owned directory under /nix/var.
/// The Nix binary is looked for in <see cref="NixLocator.BinDirectoryCandidates"/>, in that order.
/// </remarks>
public static class FactsProbe
{
    public const string Script = """
        # NixFleet host facts probe: reads only, takes no input, one SSH round trip. Every section stands alone;
        # one that fails prints an empty body. Body lines are prefixed with "|" so that nothing a user
        # controls (a channel name, a symlink target) can pass for a "@@" section header.
        cd / || exit 1
        PATH=/run/current-system/sw/bin:/run/wrappers/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        LC_ALL=C
        export PATH LC_ALL

        section() { printf '\n@@%s\n' "$1"; }
        body() { sed 's/^/|/'; }

        # Runs "$@" as user $1: directly when that is who we are, else through runuser or su.
        as_user() {
          au_user=$1
          shift
          if [ "$au_user" = "$me" ]; then
            "$@"
          elif command -v runuser >/dev/null 2>&1; then
            runuser -u "$au_user" -- "$@"
          else
            su -s /bin/sh "$au_user" -c 'exec "$0" "$@"' "$@"
          fi
        }

        # Follows a profile's symlinks to the generation link (NAME-N-link) it points at; prints the
        # profile (the link pointing at it) and the generation link's name.
        generation() {
          g_path=$1
          g_hops=0
          while [ "$g_hops" -lt 8 ] && [ -L "$g_path" ]; do
            g_target=$(readlink "$g_path") || return 0
            case "$g_target" in
              /*) ;;
              *) g_target=$(dirname "$g_path")/$g_target ;;
            esac
            case "${g_target##*/}" in
              *-[0-9]*-link) printf '%s\n%s\n' "$g_path" "${g_target##*/}"; return 0 ;;
            esac
            g_path=$g_target
            g_hops=$((g_hops + 1))
          done
        }

        me=$(id -un 2>/dev/null)
        section probe-user
        echo "$me" | body

        section os-release
        { cat /etc/os-release || cat /usr/lib/os-release; } 2>/dev/null | body

        section nixos-marker
        if [ -e /etc/NIXOS ]; then echo yes; else echo no; fi | body

        section store
        stat -c '%U %G %a' /nix/store 2>/dev/null | body

        section daemon-socket
        if [ -S /nix/var/nix/daemon-socket/socket ]; then echo yes; else echo no; fi | body

        section nixbld-group
        getent group nixbld 2>/dev/null | body

        section nix-conf
        cat /etc/nix/nix.conf 2>/dev/null | body

        owner=$(stat -c %U /nix/store 2>/dev/null)
        owner_home=
        if [ -n "$owner" ] && [ "$owner" != UNKNOWN ]; then
          owner_home=$(getent passwd "$owner" 2>/dev/null | cut -d: -f6)
        fi

        # A single-user install is run as the store's owner, never as root: root would leave root-owned
        # files in a store its owner has to be able to write.
        nix_user=$me
        if [ -n "$owner" ] && [ "$owner" != root ] && [ "$owner" != UNKNOWN ]; then
          nix_user=$owner
        fi

        nix_bin=
        for d in /run/current-system/sw/bin /nix/var/nix/profiles/default/bin "${owner_home:-/nonexistent}/.nix-profile/bin" /usr/bin /usr/local/bin; do
          if [ -x "$d/nix-env" ]; then
            nix_bin=$d
            break
          fi
        done

        section nix-bin
        echo "$nix_bin" | body

        section nix-version
        if [ -n "$nix_bin" ]; then
          as_user "$nix_user" "$nix_bin/nix-env" --version 2>/dev/null | body
        fi

        section current-system
        readlink /run/current-system 2>/dev/null | body

        section system-profile
        readlink /nix/var/nix/profiles/system 2>/dev/null | body

        section 'generation system'
        generation /nix/var/nix/profiles/system | body

        section 'generation default'
        generation /nix/var/nix/profiles/default | body

        if [ -n "$owner" ] && [ "$owner" != root ] && [ "$owner" != UNKNOWN ]; then
          section 'generation owner'
          {
            generation "${owner_home:-/nonexistent}/.nix-profile"
            generation "/nix/var/nix/profiles/per-user/$owner/profile"
          } | head -n 2 | body
        fi

        section store-size
        if [ -d /nix/store ]; then
          if command -v timeout >/dev/null 2>&1; then
            timeout 60 du -sb /nix/store
          else
            du -sb /nix/store
          fi 2>/dev/null | body
        fi

        section disk-free
        if [ -d /nix ]; then df -B1 --output=avail /nix; else df -B1 --output=avail /; fi 2>/dev/null | body

        section disk-size
        if [ -d /nix ]; then df -B1 --output=size /nix; else df -B1 --output=size /; fi 2>/dev/null | body

        section kernel
        uname -r 2>/dev/null | body

        # Channels last: they come from files users own.
        if [ -n "$nix_bin" ]; then
          section "channels $nix_user"
          as_user "$nix_user" "$nix_bin/nix-channel" --list 2>/dev/null | body
          if [ "$owner" = root ] && [ -d /nix/var/nix/profiles/per-user ]; then
            for p in /nix/var/nix/profiles/per-user/*; do
              u=${p##*/}
              if [ -d "$p" ] && [ "$u" != "$nix_user" ] && getent passwd "$u" >/dev/null 2>&1; then
                section "channels $u"
                as_user "$u" "$nix_bin/nix-channel" --list 2>/dev/null | body
              fi
            done
          fi
        fi
        exit 0
        """;
}
