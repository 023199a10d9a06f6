#!/usr/bin/env bash
# Captures real Nix 2.8 outputs from a test fleet as parser fixtures.
#
#   tests/fleet/capture-fixtures.sh [OUT_DIR]
#
# OUT_DIR defaults to tests/Shared.Tests/Fixtures/nix-2.8. Starts its own fleet
# (single, multi, nixos) under a temporary state dir, runs each command over ssh as
# NixFleet would (root, or `runuser -u alice --` on the single-user host), writes
# stdout to NAME.KIND.out.txt and stderr to NAME.KIND.err.txt (each only when non-empty) and a
# README.md with the exact command, host kind, user and exit code. Stops the fleet.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE/../Shared.Tests/Fixtures/nix-2.8}"
STATE=$(mktemp -d /tmp/nixfleet-fixtures.XXXXXX)
rmdir "$STATE"
SINGLE=127.0.0.51 MULTI=127.0.0.52 NIXOS=127.0.0.54

cleanup() { "$HERE/fleet.sh" down --dir "$STATE" || true; }
trap cleanup EXIT

"$HERE/fleet.sh" up --dir "$STATE" single:single1:$SINGLE multi:multi1:$MULTI nixos:nixos1:$NIXOS </dev/null
KEY=$STATE/id_ed25519

mkdir -p "$OUT"
rm -f "$OUT"/*.txt
README=$OUT/README.md
cat >"$README" <<'EOF'
# Nix 2.8 output fixtures

Real outputs of Debian's nix-bin 2.8.0, captured from NixFleet test hosts (tests/fleet) by
`tests/fleet/capture-fixtures.sh`, which regenerates every file here. Each command ran over
ssh as root (`ssh root@host 'CMD'`, non-login shell); commands for the single-user store ran
as its owner with `runuser -u alice -- CMD`. stdout is in `NAME.KIND.out.txt`, stderr in
`NAME.KIND.err.txt`; a file is absent when that stream was empty (rows with "(no output)").
Commands run in the order of the table, on the same hosts, so later rows see the effects of
earlier ones (e.g. the GC rows after the upgrade row). Store paths, dates and hashes are
those of the capture run. Host kinds: `single` = single-user install owned by alice,
`multi` = multi-user with nix-daemon, `nixos` = NixOS stand-in (multi-user + system profile).

| files | host kind | exit | command |
| --- | --- | --- | --- |
EOF

# cap NAME KIND ADDR CMD: run CMD over ssh as root, record outputs and README line.
cap() {
  local name=$1.$2 kind=$2 addr=$3 cmd=$4 rc=0 files=()
  ssh -i "$KEY" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR -p 22 "root@$addr" "$cmd" </dev/null \
    >"$OUT/$name.out.txt" 2>"$OUT/$name.err.txt" || rc=$?
  local f
  for f in out err; do
    if [ -s "$OUT/$name.$f.txt" ]; then files+=("\`$name.$f.txt\`"); else rm -f "$OUT/$name.$f.txt"; fi
  done
  [ ${#files[@]} -gt 0 ] || files=("(no output: $name)")
  local IFS=' '
  printf '| %s | %s | %s | `%s` |\n' "${files[*]}" "$kind" "$rc" "${cmd//|/\\|}" >>"$README"
}
host_run() { # ADDR CMD: helper commands, not fixtures
  ssh -i "$KEY" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR "root@$1" "$2" </dev/null
}
A='runuser -u alice --'
NC='nix --extra-experimental-features nix-command'

# Versions, channels, generations, profiles.
cap nix-env-version single $SINGLE "$A nix-env --version"
cap nix-env-version.root single $SINGLE "nix-env --version"
cap nix-store-version multi $MULTI "nix-store --version"
cap nix-channel-list.alice single $SINGLE "$A nix-channel --list"
cap nix-channel-list.root multi $MULTI "nix-channel --list"
cap nix-channel-list.root nixos $NIXOS "nix-channel --list"
cap nix-channel-list.empty multi $MULTI "$A nix-channel --list"
cap nix-channel-update.alice single $SINGLE "$A nix-channel --update"
cap nix-env-list-generations.alice single $SINGLE "$A nix-env --list-generations"
cap nix-env-list-generations.root-default multi $MULTI "nix-env --list-generations"
cap nix-env-list-generations.alice-daemon multi $MULTI "$A env NIX_REMOTE=daemon nix-env --list-generations"
cap nix-env-list-generations.system nixos $NIXOS "nix-env -p /nix/var/nix/profiles/system --list-generations"
cap nix-env-q.alice single $SINGLE "$A nix-env -q"
cap nix-env-q-out-path.alice single $SINGLE "$A nix-env -q --out-path"
cap nix-env-q-json.alice single $SINGLE "$A nix-env -q --json"
cap nix-env-qa.alice single $SINGLE "$A nix-env -qaP -f /etc/nixfleet-test/pkgs.nix"
cap ls-profiles multi $MULTI "ls -l /nix/var/nix/profiles/"
cap ls-profiles nixos $NIXOS "ls -l /nix/var/nix/profiles/"
cap readlink-system-profile nixos $NIXOS "readlink /nix/var/nix/profiles/system"
cap readlink-current-system nixos $NIXOS "readlink /run/current-system"
cap nixos-version-file nixos $NIXOS "cat /run/current-system/nixos-version"
cap os-release nixos $NIXOS "cat /etc/os-release"

# Store queries, daemon.
cap nix-store-ping.daemon multi $MULTI "$NC store ping --store daemon"
cap nix-store-ping.local single $SINGLE "$A $NC store ping"
cap nix-store-print-roots multi $MULTI "nix-store --gc --print-roots"
cap nix-store-q-requisites.system nixos $NIXOS "nix-store -q --requisites /nix/var/nix/profiles/system"
cap nix-path-info-closure-size.system nixos $NIXOS "$NC path-info -S /nix/var/nix/profiles/system"
cap diff-closures.system-1-3 nixos $NIXOS "$NC store diff-closures /nix/var/nix/profiles/system-1-link /nix/var/nix/profiles/system-3-link"
cap diff-closures.system-2-3 nixos $NIXOS "$NC store diff-closures /nix/var/nix/profiles/system-2-link /nix/var/nix/profiles/system-3-link"
cap diff-closures.system-3-1 nixos $NIXOS "$NC store diff-closures /nix/var/nix/profiles/system-3-link /nix/var/nix/profiles/system-1-link"

# Generations: switch, rollback (multi, root default profile) and system activation (nixos).
cap nix-env-switch-generation multi $MULTI "nix-env --switch-generation 1"
cap nix-env-switch-generation.missing multi $MULTI "nix-env --switch-generation 42"
cap nix-env-rollback multi $MULTI "nix-env --switch-generation 2 2>/dev/null; nix-env --rollback"
cap nix-env-rollback.at-first multi $MULTI "nix-env --rollback"
cap switch-to-configuration.switch nixos $NIXOS "/nix/var/nix/profiles/system-2-link/bin/switch-to-configuration switch"
cap switch-to-configuration.fail nixos $NIXOS "NIXFLEET_FAIL_ACTIVATION=1 /nix/var/nix/profiles/system-3-link/bin/switch-to-configuration switch"
cap nixfleet-activations nixos $NIXOS "cat /var/lib/nixfleet-test/activations"
cap nix-env-set-system-profile nixos $NIXOS "nix-env -p /nix/var/nix/profiles/system --set \$(readlink -f /nix/var/nix/profiles/system-2-link)"
cap nix-env-delete-generations.system nixos $NIXOS "nix-env -p /nix/var/nix/profiles/system --delete-generations 1"
cap nix-env-upgrade.alice single $SINGLE "$A nix-env -f /etc/nixfleet-test/pkgs.nix -iA hello_2"

# Garbage collection and optimisation (single-user store, as its owner).
cap nix-collect-garbage-dry-run.alice single $SINGLE "$A nix-collect-garbage --dry-run"
cap nix-collect-garbage-d-dry-run.alice single $SINGLE "$A nix-collect-garbage -d --dry-run"
cap nix-store-gc-print-dead.alice single $SINGLE "$A nix-store --gc --print-dead"
cap nix-store-gc.alice single $SINGLE "$A nix-store --gc"
cap nix-store-gc.nothing single $SINGLE "$A nix-store --gc"
cap nix-store-optimise.alice single $SINGLE "$A nix-store --optimise"
cap nix-store-optimise.again single $SINGLE "$A nix-store --optimise"
cap nix-collect-garbage-d.alice single $SINGLE "$A nix-collect-garbage -d"
cap nix-store-gc-max-freed multi $MULTI "nix-store --add /var/lib/nixfleet-test/nixfleet-garbage-1MiB >/dev/null; nix-store --gc --max-freed 1"

# Verification: clean store, then a corrupted path (multi-user store, as root).
cap nix-store-verify.clean multi $MULTI "nix-store --verify --check-contents"
host_run $MULTI 'p=$(readlink -f /nix/var/nix/profiles/default)/bin/hello; p=$(readlink -f "$p"); chmod u+w "$p" && echo "# corrupted" >>"$p" && chmod u-w "$p"'
cap nix-store-verify.corrupted multi $MULTI "nix-store --verify --check-contents"
cap nix-store-verify-path.corrupted multi $MULTI "nix-store --verify-path \$(readlink -f /nix/var/nix/profiles/default-1-link/bin/hello | cut -d/ -f1-4)"
cap nix-store-verify-repair.corrupted multi $MULTI "nix-store --verify --check-contents --repair"

echo "fixtures written to $OUT" >&2
