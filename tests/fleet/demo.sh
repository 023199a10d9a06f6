#!/usr/bin/env bash
# One step from a running NixFleet to a demo fleet it manages: starts the demo hosts
# (fleet.sh demo: one host of each kind on 127.0.0.11-15) with NixFleet's fleet key authorized,
# registers them through the REST API with their host keys given up front (read from inside each
# host, as whoever built the machines would know them), and starts a fleet refresh.
#
#   NIXFLEET_ADMIN_PASSWORD=... bash tests/fleet/demo.sh [NIXFLEET_URL]     (as root)
#   bash tests/fleet/demo.sh --down                                          (stops the demo hosts)
#
# The demo hosts get new host keys every time they start: re-running this replaces the demo hosts
# in NixFleet rather than leaving them pinned to keys that no longer exist.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
dir=/tmp/nixfleet-fleet
if [ "${1:-}" = "--down" ]; then exec bash "$here/fleet.sh" down --dir "$dir"; fi

url=${1:-${NIXFLEET_URL:-http://127.0.0.1:5080}}
email=${NIXFLEET_ADMIN_EMAIL:-admin@localhost}
: "${NIXFLEET_ADMIN_PASSWORD:?set NIXFLEET_ADMIN_PASSWORD to the admin password NixFleet printed or was given}"

json_field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
api() { curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }

token=$(curl -fsS -u "$email:$NIXFLEET_ADMIN_PASSWORD" -X POST "$url/api/v1/tokens" | json_field token)
[ -n "$token" ] || { echo "could not sign in to $url as $email" >&2; exit 1; }
keyfile=$(mktemp)
api "$url/api/v1/ssh-key" | json_field publicKey >"$keyfile"

bash "$here/fleet.sh" down --dir "$dir" >/dev/null 2>&1 || true
hosts=$(bash "$here/fleet.sh" demo --dir "$dir" --authorized-key "$keyfile")
rm -f "$keyfile"

while read -r name kind address port; do
  [ -n "$name" ] || continue
  # Replace an earlier demo host of the same name: its pinned key died with the old host.
  old=$(api "$url/api/v1/hosts?q=$name" | grep -o "\"id\":\"[^\"]*\",\"name\":\"$name\"" | json_field id || true)
  [ -n "$old" ] && api -X DELETE "$url/api/v1/hosts/$old" >/dev/null
  hostkey=$(bash "$here/fleet.sh" exec --dir "$dir" "$name" -- cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub)
  api -X POST "$url/api/v1/hosts" \
    -d "{\"name\":\"$name\",\"address\":\"$address\",\"port\":$port,\"user\":\"root\",\"tags\":[\"demo\",\"$kind\"],\"hostKey\":\"$hostkey\"}" >/dev/null
  echo "registered $name ($kind) at $address"
done <<<"$hosts"

op=$(api -X POST "$url/api/v1/fleet/refresh" -d '{"tag":"demo"}' | json_field operationId)
echo "fleet refresh started: $url/operations/$op"
