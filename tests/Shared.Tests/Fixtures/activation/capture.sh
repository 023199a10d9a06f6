#!/usr/bin/env bash
# Recaptures the activation and host lock fixtures (see README.md): starts a nixos host (setsid
# launcher) and a systemd host (systemd-run launcher) on 127.0.0.78-79, runs the scripts of
# DetachedActivation and HostLock on them over ssh as root, exactly as NixFleet does
# (sh -c '<script>' NAME ARG...), saves each stdout as NAME.txt, and stops the fleet. Run as root.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../../.." && pwd)"
FLEET="$ROOT/tests/fleet/fleet.sh"
NIXOS=${NIXOS_ADDR:-127.0.0.78} SYSTEMD=${SYSTEMD_ADDR:-127.0.0.79}
STATE=$(mktemp -d /tmp/nixfleet-activation.XXXXXX)
rmdir "$STATE"
trap '"$FLEET" down --dir "$STATE" >/dev/null 2>&1 || true' EXIT

"$FLEET" up --dir "$STATE" nixos:nixos1:$NIXOS systemd:systemd1:$SYSTEMD </dev/null >/dev/null
x() { "$FLEET" exec --dir "$STATE" "$1" -- "${@:2}"; }

# A constant C# raw string of src/Shared/Nix/FILE, indented by 8 spaces.
constant() {
  python3 - "$ROOT/src/Shared/Nix/$1" "$2" <<'PY'
import sys
source = open(sys.argv[1]).read()
start = source.index('"""\n', source.index("const string " + sys.argv[2] + " =")) + 4
body = source[start:source.index('        """', start)]
print("\n".join(l[8:] if l.startswith("        ") else l for l in body.split("\n")), end="")
PY
}
START=$(constant DetachedActivation.cs StartScript)
FOLLOW=$(constant DetachedActivation.cs FollowScript)
TAKE=$(constant HostLock.cs TakeScript)
RELEASE=$(constant HostLock.cs ReleaseScript)

# on ADDR NAME ARG...: runs the script NAME (START, FOLLOW, TAKE, RELEASE) with its arguments over ssh.
on() {
  local addr=$1 script=${!2} q a
  shift 2
  q="sh -c $(printf '%q' "$script") nixfleet"
  for a in "$@"; do q="$q $(printf '%q' "$a")"; done
  ssh -i "$STATE/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR "root@$addr" "$q" </dev/null || true
}

# until_done ADDR RUN: polls the follow script until the run is over.
until_done() {
  local i
  for i in $(seq 1 100); do
    on "$1" FOLLOW "$2" 0 | grep -qE '^\|state (done|lost)$' && return 0
    sleep 0.1
  done
  echo "run $2 did not end" >&2
  return 1
}

# A system whose switch-to-configuration takes 2 s, prints 20 lines and ends without a newline.
slow_system='
  set -e
  d=$(mktemp -d)/slow-system
  mkdir -p "$d/bin"
  printf "24.05.9999.slow" >"$d/nixos-version"
  printf "%s\n" "#!/bin/sh" "echo \"slow activation \$1 starting\"" "i=0" \
    "while [ \$i -lt 20 ]; do i=\$((i + 1)); echo \"step \$i\"; sleep 0.1; done" \
    "printf \"no newline at the end\"" "exit 7" >"$d/bin/switch-to-configuration"
  chmod 555 "$d/bin/switch-to-configuration"
  chmod -R a+rX "${d%/*}"
  o=$(stat -c %U /nix/store)
  if [ "$o" = root ]; then nix-store --add "$d"; else runuser -u "$o" -- nix-store --add "$d"; fi
'

# nixos1 (no systemd: setsid): generation 1 in test mode, a retry, a failure, a slow and a killed run.
g1=$(x nixos1 readlink /nix/var/nix/profiles/system-1-link)
g2=$(x nixos1 readlink /nix/var/nix/profiles/system-2-link)
on $NIXOS START "$g1" test run-test-1 >"$HERE/start.setsid.txt"
until_done $NIXOS run-test-1
on $NIXOS FOLLOW run-test-1 0 >"$HERE/follow.done.txt"
on $NIXOS FOLLOW run-test-1 20 >"$HERE/follow.done-offset.txt"
on $NIXOS START "$g1" test run-test-1 >"$HERE/start.already.txt"
x nixos1 touch /etc/nixfleet-test/fail-activation
on $NIXOS START "$g2" switch run-fail-1 >/dev/null
until_done $NIXOS run-fail-1
on $NIXOS FOLLOW run-fail-1 0 >"$HERE/follow.failed.txt"
x nixos1 rm /etc/nixfleet-test/fail-activation
on $NIXOS FOLLOW run-never 0 >"$HERE/follow.unknown.txt"
slow=$(x nixos1 sh -c "$slow_system" 2>/dev/null)
on $NIXOS START "$slow" boot run-slow-1 >/dev/null
sleep 0.5
on $NIXOS FOLLOW run-slow-1 0 >"$HERE/follow.running.txt"
until_done $NIXOS run-slow-1
on $NIXOS FOLLOW run-slow-1 0 >"$HERE/follow.done-partial-line.txt"
on $NIXOS START "$slow" boot run-kill-1 >/dev/null
sleep 0.5
x nixos1 sh -c 'kill -TERM -$(cat /var/lib/nixfleet/activations/run-kill-1.pid)'
on $NIXOS FOLLOW run-kill-1 0 >"$HERE/follow.lost.txt"

# systemd1 (systemd-run): a stand-in system built there, activated in test mode.
sys2=$(x systemd1 runuser -u alice -- nix-build --no-out-link /etc/nixfleet-test/system.nix --argstr hostName systemd1 --arg generation 2 2>/dev/null)
on $SYSTEMD START "$sys2" test run-systemd-1 >"$HERE/start.systemd.txt"
until_done $SYSTEMD run-systemd-1
on $SYSTEMD FOLLOW run-systemd-1 0 >"$HERE/follow.systemd.txt"

# Host lock on the single-user store of systemd1 (owned by alice).
on $SYSTEMD TAKE op-1 >"$HERE/lock.take.txt"
on $SYSTEMD TAKE op-1 >"$HERE/lock.take-again-same.txt"
on $SYSTEMD TAKE op-2 >"$HERE/lock.take-busy.txt"
on $SYSTEMD RELEASE op-2 >"$HERE/lock.release-wrong-owner.txt"
on $SYSTEMD RELEASE op-1 >"$HERE/lock.release.txt"
on $SYSTEMD RELEASE op-1 >"$HERE/lock.release-not-held.txt"
echo "captured into $HERE" >&2
