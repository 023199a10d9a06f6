namespace NixFleet.Shared.Nix;

/// <summary>
/// The script that lists a host's profiles and their generations (with <c>sh -c</c>, in one SSH
/// round trip). A constant: nothing from a user or the database is ever put into it. Read its
/// output with <see cref="GenerationsParser"/>.
/// </summary>
/// <remarks>
/// Same format as <see cref="FactsProbe"/>: "@@name" starts a section, content lines are prefixed
/// with "|". It only reads symlinks and small files and runs no Nix tool at all, so it cannot
/// leave anything of root's in a single-user store. A profile is a symlink NAME whose target is
/// NAME-N-link in the same directory; a generation is such a NAME-N-link. Profiles, in order:
/// the NixOS system profile and <c>system-profiles/*</c>, root's default profile, every profile in
/// <c>per-user/*/</c>, then for every account with a home directory its <c>~/.nix-profile</c>
/// (followed to the profile it points at) and <c>~/.local/state/nix/profiles/*</c> (Nix 2.14+).
/// The <c>channels</c> and <c>home-manager</c> profiles are left out: nix-channel and home-manager
/// own them, and flipping their links with nix-env would not roll anything back.
/// Anything users control (profile names, link targets) must be a plain path with no space, quote,
/// newline or glob character, or it is skipped: it could otherwise pass for another line.
/// </remarks>
public static class GenerationsProbe
{
    public const string Script = """
        # NixFleet generations probe: reads only, takes no input, runs no Nix tool, one SSH round trip.
        # Body lines are prefixed with "|" so that nothing a user controls can pass for a "@@" header.
        cd / || exit 1
        PATH=/run/current-system/sw/bin:/run/wrappers/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        LC_ALL=C
        export PATH LC_ALL

        section() { printf '\n@@%s\n' "$1"; }
        body() { sed 's/^/|/'; }

        # A path users may control: absolute, only characters that cannot split a line or a word.
        plain_path() {
          case "$1" in
            /*) ;;
            *) return 1 ;;
          esac
          case "$1" in
            *[!A-Za-z0-9._+@:/=-]*) return 1 ;;
          esac
          return 0
        }

        # A store path: /nix/store/NAME with NAME made of Nix's store path characters.
        store_path() {
          case "$1" in
            /nix/store/?*) ;;
            *) return 1 ;;
          esac
          sp_name=${1#/nix/store/}
          case "$sp_name" in
            *[!A-Za-z0-9+._?=-]*) return 1 ;;
          esac
          return 0
        }

        # Prints N when $2 is "$1-N-link".
        gen_number() {
          gn_rest=${2#"$1"-}
          [ "$gn_rest" != "$2" ] || return 1
          gn_num=${gn_rest%-link}
          [ "$gn_num" != "$gn_rest" ] || return 1
          case "$gn_num" in
            '' | *[!0-9]*) return 1 ;;
          esac
          printf '%s\n' "$gn_num"
        }

        seen=' '

        # One profile section: the profile, its owner, the generation link it points at, and every
        # generation: number, link mtime (the date nix-env shows), target; for system profiles what
        # the generation says about itself.
        emit_profile() {
          ep_path=$1
          ep_points=$2
          ep_system=$3
          case "$seen" in
            *" $ep_path "*) return 0 ;;
          esac
          seen="$seen$ep_path "
          ep_dir=${ep_path%/*}
          ep_name=${ep_path##*/}
          section profile
          {
            echo "path $ep_path"
            echo "owner $(stat -c %U "$ep_path" 2>/dev/null)"
            echo "points $ep_points"
            echo "system $ep_system"
            for ep_link in "$ep_dir/$ep_name"-*-link; do
              [ -L "$ep_link" ] || continue
              ep_n=$(gen_number "$ep_name" "${ep_link##*/}") || continue
              ep_target=$(readlink "$ep_link") || continue
              store_path "$ep_target" || continue
              ep_mtime=$(stat -c %Y "$ep_link" 2>/dev/null) || continue
              echo "generation $ep_n $ep_mtime $ep_target"
              if [ "$ep_system" = yes ]; then
                if [ -f "$ep_target/nixos-version" ]; then
                  echo "nixos-version $ep_n $(head -c 200 "$ep_target/nixos-version" 2>/dev/null | head -n 1)"
                fi
                if [ -f "$ep_target/kernel-version" ]; then
                  echo "kernel-version $ep_n $(head -c 200 "$ep_target/kernel-version" 2>/dev/null | head -n 1)"
                fi
                ep_kernel=$(readlink "$ep_target/kernel" 2>/dev/null)
                if store_path "${ep_kernel%/*}"; then
                  echo "kernel $ep_n $ep_kernel"
                fi
                if [ -x "$ep_target/bin/switch-to-configuration" ]; then
                  echo "switch-to-configuration $ep_n yes"
                else
                  echo "switch-to-configuration $ep_n no"
                fi
              fi
            done
          } | body
        }

        # $1 is a profile, or a chain of symlinks leading to one (~/.nix-profile): follow it to the link
        # whose target is NAME-N-link next to it, and emit that profile.
        profile() {
          pr_path=$1
          pr_system=${2:-no}
          pr_hops=0
          while [ "$pr_hops" -lt 8 ] && [ -L "$pr_path" ]; do
            plain_path "$pr_path" || return 0
            pr_target=$(readlink "$pr_path") || return 0
            case "$pr_target" in
              /*) ;;
              *) pr_target=${pr_path%/*}/$pr_target ;;
            esac
            if [ "${pr_target%/*}" = "${pr_path%/*}" ] &&
              gen_number "${pr_path##*/}" "${pr_target##*/}" >/dev/null; then
              emit_profile "$pr_path" "${pr_target##*/}" "$pr_system"
              return 0
            fi
            pr_path=$pr_target
            pr_hops=$((pr_hops + 1))
          done
        }

        # Every profile in a directory, except generation links and the profiles other tools own.
        profiles_in() {
          for pi_path in "$1"/*; do
            case "${pi_path##*/}" in
              *-link | channels | home-manager) continue ;;
            esac
            profile "$pi_path" "${2:-no}"
          done
        }

        section probe-user
        id -un 2>/dev/null | body

        section current-system
        readlink /run/current-system 2>/dev/null | body

        section booted-system
        readlink /run/booted-system 2>/dev/null | body

        profile /nix/var/nix/profiles/system yes
        if [ -d /nix/var/nix/profiles/system-profiles ]; then
          profiles_in /nix/var/nix/profiles/system-profiles yes
        fi
        profile /nix/var/nix/profiles/default
        for pu_dir in /nix/var/nix/profiles/per-user/*; do
          [ -d "$pu_dir" ] && profiles_in "$pu_dir"
        done

        # The store's owner first (a single-user install), then every account with a home.
        owner=$(stat -c %U /nix/store 2>/dev/null)
        {
          [ -n "$owner" ] && getent passwd "$owner" 2>/dev/null
          getent passwd 2>/dev/null
        } | cut -d: -f6 | while IFS= read -r home; do
          case "$home" in
            / | '') continue ;;
          esac
          plain_path "$home" || continue
          [ -d "$home" ] || continue
          profile "$home/.nix-profile"
          if [ -d "$home/.local/state/nix/profiles" ]; then
            profiles_in "$home/.local/state/nix/profiles"
          fi
        done
        exit 0
        """;
}
