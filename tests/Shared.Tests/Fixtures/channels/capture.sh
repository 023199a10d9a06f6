#!/usr/bin/env bash
# Recaptures the channels fixtures (see README.md): builds the test channel releases
# (tests/fleet/channels/make-releases.sh), serves them with serve.py on 127.0.0.1, starts a nixos,
# a single and a multi test host (tests/fleet) on 127.0.0.94-96, changes their channels through
# that server, runs ChannelsProbe.Script as each channel user exactly as NixFleet does (ssh
# root@host with ChannelCommands.AsUser's argv: "runuser -u USER -- sh -c '<script>'", or
# "sh -c '<script>'" for root), saves stdout as USER.KIND.txt and what the host says itself as
# USER.KIND.host.txt, captures nix-channel --update on broken channel URLs as update-*.err.txt,
# and stops the fleet and the server. Run as root.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../../.." && pwd)"
FLEET="$ROOT/tests/fleet/fleet.sh"
NIXOS=${NIXOS_ADDR:-127.0.0.94} SINGLE=${SINGLE_ADDR:-127.0.0.95} MULTI=${MULTI_ADDR:-127.0.0.96}
STATE=$(mktemp -d /tmp/nixfleet-channels.XXXXXX)
SERVER_PID=
cleanup() {
  "$FLEET" down --dir "$STATE/fleet" >/dev/null 2>&1 || true
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$STATE"
}
trap cleanup EXIT

bash "$ROOT/tests/fleet/channels/make-releases.sh" "$STATE/releases" >/dev/null
python3 "$ROOT/tests/fleet/channels/serve.py" "$STATE/releases" 0 >"$STATE/port" 2>"$STATE/serve.log" &
SERVER_PID=$!
for _ in $(seq 1 50); do [ -s "$STATE/port" ] && break; sleep 0.1; done
PORT=$(head -n 1 "$STATE/port")
URL="http://127.0.0.1:$PORT"

"$FLEET" up --dir "$STATE/fleet" nixos:chnixos:$NIXOS single:chsingle:$SINGLE multi:chmulti:$MULTI </dev/null >/dev/null
ssh_root() { # ADDR COMMAND-STRING
  ssh -i "$STATE/fleet/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR "root@$1" "$2" </dev/null
}

# chnixos, root: generation 1 is the fleet's file:// nixos channel (24.05 stand-in); nixos moved to
# the 24.11 release over HTTP and updated (generation 2); then nixpkgs-old added as "extras" and
# never updated (in the file, not in the profile). alice has no channels at all.
ssh_root "$NIXOS" "nix-channel --add $URL/nixos-24.11 nixos && nix-channel --update nixos" >&2
# chsingle, alice (the store's owner): nixpkgs moved to nixpkgs-old over HTTP and updated (generation 2).
ssh_root "$SINGLE" "runuser -u alice -- sh -c 'nix-channel --add $URL/nixpkgs-old nixpkgs && nix-channel --update'" >&2
# chmulti, root: nixpkgs moved to nixpkgs-new and updated (generation 2). alice (through the
# daemon): nixpkgs-old, updated, then nixpkgs-new, updated (generations 1 and 2), then a channel
# change that never finished: BackupScript ran, --add of a 404 URL, no restore.
ssh_root "$MULTI" "nix-channel --add $URL/nixpkgs-new nixpkgs && nix-channel --update" >&2
ssh_root "$MULTI" "runuser -u alice -- sh -c 'nix-channel --add $URL/nixpkgs-old nixpkgs && nix-channel --update && sleep 1 && nix-channel --add $URL/nixpkgs-new nixpkgs && nix-channel --update'" >&2

# The scripts are raw string literals in Channels.cs, indented by 8 spaces.
script() { # CONSTANT-NAME
  python3 - "$ROOT/src/Shared/Nix/Channels.cs" "$1" <<'PY'
import sys
source, name = open(sys.argv[1]).read(), sys.argv[2]
start = source.index('const string ' + name + ' = """\n') + len('const string ' + name + ' = """\n')
body = source[start:source.index('        """;', start)]
print("\n".join(l[8:] if l.startswith("        ") else l for l in body.split("\n")), end="")
PY
}
as_user() { # USER SCRIPT: ChannelCommands.AsUser("root", USER, SCRIPT), quoted for the remote shell
  if [ "$1" = root ]; then printf 'sh -c %q' "$2"; else printf 'runuser -u %q -- sh -c %q' "$1" "$2"; fi
}
probe=$(script Script)

# nix-channel --update on broken URLs, as root on the NixOS stand-in, each inside
# BackupScript / --add / --update / RestoreScript: stderr and exit code of the update.
for broken in html truncated missing; do
  set +e
  ssh_root "$NIXOS" "$(as_user root "$(script BackupScript)") >/dev/null && nix-channel --add $URL/$broken nixos && nix-channel --update nixos" \
    >/dev/null 2>"$HERE/update-$broken.nixos.err.txt"
  echo "update $broken: exit $?" >&2
  set -e
  ssh_root "$NIXOS" "$(as_user root "$(script RestoreScript)")" >&2
done
# Then "extras" on chnixos: added, never updated. (From here on, nix-channel --update nixos fails:
# Nix 2.8 reuses the other channels from the profile, and extras is not there.)
ssh_root "$NIXOS" "nix-channel --add $URL/nixpkgs-old extras" >&2
ssh_root "$MULTI" "$(as_user alice "$(script BackupScript)") && runuser -u alice -- nix-channel --add $URL/missing nixpkgs" >&2

# What the host says itself, as USER: nix-channel --list, the profile's link and generation links
# with their mtimes, and each channel's version files in the current generation.
host_view='
p=/nix/var/nix/profiles/per-user/$(id -un)/channels
echo "@@list"; nix-channel --list
echo "@@readlink"; readlink "$p" || true
echo "@@links"; for l in "$p"-*-link; do [ -L "$l" ] && echo "${l##*/} $(stat -c %Y "$l") $(readlink "$l")"; done
echo "@@defexpr"; readlink "$HOME/.nix-defexpr/channels" || true
echo "@@channels"
if [ -d "$p" ]; then
  for c in "$p"/*; do
    [ "${c##*/}" = manifest.nix ] && continue
    echo "${c##*/} $(readlink "$c") $(cat "$c/.version" 2>/dev/null | tr -d "\n")$(cat "$c/.version-suffix" 2>/dev/null) $(cat "$c/.git-revision" 2>/dev/null)"
  done
fi
echo "@@files"; ls -a "$HOME" | grep "^\.nix-channels" || true
'
for spec in root:nixos:$NIXOS alice:nixos:$NIXOS alice:single:$SINGLE root:multi:$MULTI alice:multi:$MULTI; do
  IFS=: read -r user kind addr <<<"$spec"
  ssh_root "$addr" "$(as_user "$user" "$probe")" >"$HERE/$user.$kind.txt"
  ssh_root "$addr" "$(as_user "$user" "$host_view")" >"$HERE/$user.$kind.host.txt"
done

echo "server log:" >&2
cat "$STATE/serve.log" >&2
