#!/usr/bin/env bash
# Recaptures the generations fixtures (see README.md): starts a nixos, a single and a multi test
# host (tests/fleet) on 127.0.0.75-77, gives them varied profiles and generations, runs
# GenerationsProbe.Script on each exactly as NixFleet does (ssh root@host "sh -c '<script>'"), saves
# stdout as KIND.txt, saves what each host says itself (nix-env --list-generations per profile as
# its owner, readlink of every profile and of /run/current-system) as KIND.host.txt, captures
# `nix store diff-closures` between generations of alice's profile on the single host as
# diff-closures.*.txt, and stops the fleet. Run as root.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../../.." && pwd)"
FLEET="$ROOT/tests/fleet/fleet.sh"
NIXOS=${NIXOS_ADDR:-127.0.0.75} SINGLE=${SINGLE_ADDR:-127.0.0.76} MULTI=${MULTI_ADDR:-127.0.0.77}
STATE=$(mktemp -d /tmp/nixfleet-generations.XXXXXX)
rmdir "$STATE"
trap '"$FLEET" down --dir "$STATE" >/dev/null 2>&1 || true' EXIT

"$FLEET" up --dir "$STATE" nixos:nixos1:$NIXOS single:single1:$SINGLE multi:multi1:$MULTI </dev/null >/dev/null
x() { "$FLEET" exec --dir "$STATE" "$1" -- "${@:2}"; }

# nixos1: a generation 4 built the NixOS way with the profile back at 3 (so 4 is newer than the
# boot default), generation 1 running without being the boot default (switch-to-configuration
# test), a second system profile (nixos-rebuild --profile-name web), and for alice a second
# profile, a home-manager profile (left out by the probe) and links with odd names (skipped).
x nixos1 sh -euc '
  g1=$(readlink /nix/var/nix/profiles/system-1-link)
  g2=$(readlink /nix/var/nix/profiles/system-2-link)
  p=$(nix-build --no-out-link /etc/nixfleet-test/system.nix --argstr hostName nixos1 --arg generation 4)
  nix-env -p /nix/var/nix/profiles/system --set "$p"
  nix-env -p /nix/var/nix/profiles/system --switch-generation 3
  "$g1/bin/switch-to-configuration" test
  mkdir -p /nix/var/nix/profiles/system-profiles
  nix-env -p /nix/var/nix/profiles/system-profiles/web --set "$g2"
  runuser -u alice -- nix-env -p /nix/var/nix/profiles/per-user/alice/dev -f /etc/nixfleet-test/pkgs.nix -iA jq
  runuser -u alice -- nix-env -p /nix/var/nix/profiles/per-user/alice/home-manager -f /etc/nixfleet-test/pkgs.nix -iA figlet
  cd /nix/var/nix/profiles/per-user/alice
  t=$(readlink profile-1-link)
  runuser -u alice -- ln -s "$t" "odd name-1-link"
  runuser -u alice -- ln -s "odd name-1-link" "odd name"
  runuser -u alice -- ln -s "$(printf "/nix/store/x\ngeneration 99 0 %s" "$t")" dev-7-link
' >&2

# single1: alice's profile: 1 hello; 2 +cowsay; 3 +figlet (from the fleet); then packages added,
# removed, changed and resized (a "blob" package of 64, 200 and 20 KiB) for diff-closures; then
# generation 1 deleted and the profile back at 5. Plus a profile in ~/.local/state (Nix 2.14+).
x single1 runuser -u alice -- sh -euc '
  cat >/tmp/set.nix <<EOF
let
  p = import /etc/nixfleet-test/pkgs.nix { };
  blob = version: kib: derivation {
    name = "blob-\${version}";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir -p \$out/share && /usr/bin/head -c \$((\${toString kib} * 1024)) /dev/zero > \$out/share/blob" ];
  };
in p // { blob_64 = blob "1.0" 64; blob_200 = blob "1.0" 200; blob_20 = blob "2.0" 20; }
EOF
  cd /tmp
  nix-env -f /tmp/set.nix -r -iA hello_2 jq
  nix-env -f /tmp/set.nix -iA blob_64
  nix-env -f /tmp/set.nix -r -iA hello_2 blob_200
  nix-env -f /tmp/set.nix -r -iA hello_2 blob_20 cowsay_2
  nix-env --delete-generations 1
  nix-env --switch-generation 5
  mkdir -p ~/.local/state/nix/profiles
  nix-env -p ~/.local/state/nix/profiles/tools -f /etc/nixfleet-test/pkgs.nix -iA figlet
' >&2

# multi1: alice rolled back to her first generation.
x multi1 runuser -u alice -- nix-env --switch-generation 1 >&2

script=$(python3 - "$ROOT/src/Shared/Nix/GenerationsProbe.cs" <<'PY'
import sys
source = open(sys.argv[1]).read()
body = source[source.index('"""\n') + 4:source.rindex('        """')]
print("\n".join(l[8:] if l.startswith("        ") else l for l in body.split("\n")), end="")
PY
)
remote="sh -c $(printf '%q' "$script")"

# What the host says itself, for every profile directory the probe looks in.
host_view='
  echo "@@date"; date +%z
  echo "@@current-system"; readlink /run/current-system
  for p in /nix/var/nix/profiles/system /nix/var/nix/profiles/system-profiles/* /nix/var/nix/profiles/default \
    /nix/var/nix/profiles/per-user/*/* /home/*/.local/state/nix/profiles/* /root/.local/state/nix/profiles/*; do
    [ -L "$p" ] || continue
    case "$p" in *-link) continue ;; esac
    o=$(stat -c %U "$p")
    echo "@@profile $p"
    echo "owner $o"
    echo "readlink $(readlink "$p")"
    if [ "$(stat -c %U /nix/store)" != root ]; then o=$(stat -c %U /nix/store); fi
    runuser -u "$o" -- nix-env -p "$p" --list-generations 2>&1
  done
  for l in /nix/var/nix/profiles/system-*-link; do
    [ -L "$l" ] || continue
    t=$(readlink "$l")
    echo "@@system $l"
    echo "nixos-version $(cat "$t/nixos-version")"
    echo "kernel $(readlink "$t/kernel")"
    echo "switch-to-configuration $(test -x "$t/bin/switch-to-configuration" && echo yes || echo no)"
  done
'

for spec in nixos:nixos1:$NIXOS single:single1:$SINGLE multi:multi1:$MULTI; do
  IFS=: read -r kind name addr <<<"$spec"
  ssh -i "$STATE/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR "root@$addr" "$remote" </dev/null >"$HERE/$kind.txt"
  x "$name" sh -c "$host_view" >"$HERE/$kind.host.txt" 2>&1
done

# diff-closures between generations of alice's profile on single1, as alice (stdout only).
for pair in 3:4 4:5 5:6 6:7 7:3 3:3; do
  from=${pair%:*} to=${pair#*:}
  x single1 runuser -u alice -- nix --extra-experimental-features nix-command store diff-closures \
    "/nix/var/nix/profiles/per-user/alice/profile-$from-link" "/nix/var/nix/profiles/per-user/alice/profile-$to-link" \
    >"$HERE/diff-closures.alice-$from-$to.single.txt"
done
echo "captured into $HERE" >&2
