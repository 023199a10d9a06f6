#!/usr/bin/env bash
# Runs NixFleet's benchmarks (bench/README.md): builds in Release, starts what they need (a test
# fleet on 127.0.0.101-121, an embedded PostgreSQL, NixFleet processes), prints a table of results
# with ratios against their peers and writes it to bench/RESULTS.md with the date. Takes about
# 3.5-4 minutes on 2 cores (up to 8 on a busy machine); everything it starts stops by itself (a
# 10 minute watchdog inside, a 12 minute timeout here). Must run as root: the test fleet uses
# namespaces.
#
#   bash bench/run.sh [--only fleet|hosts] [--fleet-hosts 20] [--warm-runs 3] [--requests 100]
#                     [--small 100] [--large 10000]
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
source scripts/common.sh

require_root "the test fleet runs isolated hosts in their own namespaces"
ensure_packages postgresql nix-bin openssh-server openssh-client xz-utils iproute2 util-linux time
ensure_node

dotnet build bench/NixFleet.Bench -c Release -nologo -clp:ErrorsOnly -v quiet
timeout --signal=TERM --kill-after=30 720 \
  dotnet bench/NixFleet.Bench/bin/Release/net10.0/NixFleet.Bench.dll --results bench/RESULTS.md "$@"
