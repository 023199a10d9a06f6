#!/usr/bin/env bash
# Runs every NixFleet test on this machine, from nothing: installs the Debian packages the tests
# use (PostgreSQL, Nix, OpenSSH, Chromium, Python for the test channel server, Node.js for the front-end build), builds in Release,
# runs the unit, integration (real PostgreSQL + real test fleet) and browser tests, and prints a
# closing "N passed, N failed, N skipped" line. Must run as root: the test fleet uses namespaces.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
source scripts/common.sh

require_root "the test fleet runs isolated hosts in their own namespaces"
ensure_packages postgresql nix-bin openssh-server openssh-client chromium xz-utils iproute2 util-linux curl python3
ensure_node

results=$(mktemp -d /tmp/nixfleet-test-results.XXXXXX)
cleanup() { bash tests/cleanup-stale.sh; }
trap cleanup EXIT
bash tests/cleanup-stale.sh

dotnet build NixFleet.sln -c Release -nologo -clp:ErrorsOnly
status=0
for project in tests/Shared.Tests tests/Web.Tests tests/EndToEnd; do
  echo "==> $project"
  dotnet test "$project" -c Release --no-build -nologo \
    --logger "trx;LogFilePrefix=$(basename "$project")" --results-directory "$results" || status=1
done
print_summary "$results"
exit $status
