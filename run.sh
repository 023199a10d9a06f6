#!/usr/bin/env bash
# Runs NixFleet at http://127.0.0.1:5080 (ASPNETCORE_URLS overrides). With no
# ConnectionStrings__NixFleet it starts a private PostgreSQL under NIXFLEET_DATA_DIR (installing
# Debian's postgresql first if it is missing). The first admin's password is NIXFLEET_ADMIN_PASSWORD,
# or one generated and printed once below.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
source scripts/common.sh

ensure_packages openssh-client
ensure_node
exec dotnet run --project src/Web -c Release -- "$@"
