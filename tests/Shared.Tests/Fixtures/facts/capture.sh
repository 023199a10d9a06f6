#!/usr/bin/env bash
# Recaptures the facts probe fixtures: starts one test host of each kind (tests/fleet), runs
# FactsProbe.Script on each exactly as NixFleet does (ssh root@host "sh -c '<script>'"), saves
# stdout as KIND.txt here, prints what each host says about itself through direct commands (to
# update the expected values in Nix/FactsFixtureTests.cs), and stops the fleet. Run as root.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../../.." && pwd)"
FLEET="$ROOT/tests/fleet/fleet.sh"
STATE=$(mktemp -d /tmp/nixfleet-facts.XXXXXX)
rmdir "$STATE"
trap '"$FLEET" down --dir "$STATE" || true' EXIT

"$FLEET" up --dir "$STATE" single:single1:127.0.0.61 multi:multi1:127.0.0.62 systemd:systemd1:127.0.0.63 \
  nixos:nixos1:127.0.0.64 builder:builder1:127.0.0.65 </dev/null >/dev/null

# The script is the raw string literal in FactsProbe.cs, indented by 8 spaces.
remote=$(python3 - "$ROOT/src/Shared/Nix/FactsProbe.cs" <<'PY'
import shlex, sys
source = open(sys.argv[1]).read()
body = source[source.index('"""\n') + 4:source.rindex('        """')]
script = "\n".join(l[8:] if l.startswith("        ") else l for l in body.split("\n"))
print("sh -c " + shlex.quote(script))
PY
)

for spec in single:single1:127.0.0.61 multi:multi1:127.0.0.62 systemd:systemd1:127.0.0.63 \
  nixos:nixos1:127.0.0.64 builder:builder1:127.0.0.65; do
  IFS=: read -r kind name addr <<<"$spec"
  ssh -i "$STATE/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR "root@$addr" "$remote" </dev/null >"$HERE/$kind.txt"
  echo "=== $kind ($name): what the host says"
  # Nix runs as the store's owner: root running nix-channel on a single-user store creates
  # root-owned directories in it.
  "$FLEET" exec --dir "$STATE" "$name" -- sh -c '
    . /etc/os-release; echo "os: $NAME | $VERSION_ID | nixos marker: $(test -e /etc/NIXOS && echo yes || echo no)"
    o=$(stat -c %U /nix/store); echo "store owner: $o"
    if [ "$o" = root ]; then nix-env --version; else runuser -u "$o" -- nix-env --version; fi
    for u in root alice builder; do
      [ "$o" != root ] && [ "$u" != "$o" ] && continue
      id "$u" >/dev/null 2>&1 && echo "channels $u: $(runuser -u "$u" -- nix-channel --list | tr "\n" ";")"
    done
    echo "system: $(readlink /nix/var/nix/profiles/system) default: $(readlink /nix/var/nix/profiles/default)"
    echo "alice: $(readlink /nix/var/nix/profiles/per-user/alice/profile)"
    echo "current-system: $(readlink /run/current-system)"
    echo "du: $(du -sb /nix/store) df: $(df -B1 --output=avail /nix | tail -n 1) kernel: $(uname -r)"'
done
