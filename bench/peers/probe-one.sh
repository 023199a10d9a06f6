#!/usr/bin/env bash
# The peer a human would use: one plain `ssh` per host running NixFleet's facts probe script
# (NixFleet.Shared.Nix.FactsProbe.Script, fed on stdin to `sh -s`), strict host key checking
# against a known_hosts file. Extra arguments go to ssh (e.g. ControlMaster/ControlPath).
#
#   KEY=id_file KNOWN=known_hosts PROBE=probe.sh probe-one.sh ADDRESS OUT_DIR [ssh options...]
#
# Sequential:        for a in $(cat hosts); do probe-one.sh "$a" out -o ControlMaster=no -o ControlPath=none; done
# pssh-style:        xargs -P 16 -I{} probe-one.sh {} out -o ControlMaster=no -o ControlPath=none < hosts
set -u
address=$1 out=$2
shift 2
exec ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$KNOWN" \
  -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o IdentityAgent=none -i "$KEY" \
  -o ConnectTimeout=10 -o LogLevel=ERROR "$@" "root@$address" sh -s <"$PROBE" >"$out/$address.out" 2>"$out/$address.err"
