#!/usr/bin/env bash
# Ends what a finished or killed test run left behind under /tmp/nft-<pid>: its test fleets
# (by the PIDs fleet.sh recorded) and its PostgreSQL cluster, then removes the directory.
# A directory whose test process is still alive is left alone.
set -uo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
for run in /tmp/nft-*; do
  [ -d "$run" ] || continue
  pid=${run#/tmp/nft-}
  [[ "$pid" =~ ^[0-9]+$ ]] || continue
  if kill -0 "$pid" 2>/dev/null && [ "${1:-}" != "--all" ]; then continue; fi
  for fleet in "$run"/fleet-*; do
    [ -d "$fleet" ] && bash "$here/fleet/fleet.sh" down --dir "$fleet" >/dev/null 2>&1
  done
  if [ -f "$run/pg/data/postmaster.pid" ]; then
    pg_ctl=$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -1)
    if [ -n "$pg_ctl" ]; then
      if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pg_ctl" -D "$run/pg/data" -m immediate stop >/dev/null 2>&1
      else "$pg_ctl" -D "$run/pg/data" -m immediate stop >/dev/null 2>&1; fi
    fi
  fi
  rm -rf "$run"
done
exit 0
