#!/usr/bin/env bash
# NixFleet test fleet: isolated Nix test hosts on one Debian 12 machine.
# See tests/fleet/README.md for the interface and what each kind of host holds.
#
#   fleet.sh up   --dir DIR [--authorized-key PUBKEY_FILE] [kind:name:127.0.0.x ...]
#   fleet.sh down --dir DIR [NAME ...]
#   fleet.sh exec --dir DIR NAME -- CMD [ARG ...]
#   fleet.sh list --dir DIR
#   fleet.sh demo [--dir DIR] [--authorized-key PUBKEY_FILE]
#
# Must run as root. Ends only processes it started itself (PIDs recorded under DIR).
set -euo pipefail

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
FLEET_SRC="$(dirname "$SELF")"
DEFAULT_DIR=/tmp/nixfleet-fleet
DEFAULT_HOSTS=(single:single1:127.0.0.11 multi:multi1:127.0.0.12 systemd:systemd1:127.0.0.13
  nixos:nixos1:127.0.0.14 builder:builder1:127.0.0.15)
KINDS="single multi systemd nixos builder"
SSH_PORT=22
START_TIMEOUT=${NIXFLEET_FLEET_TIMEOUT:-120}
MARKER=.nixfleet-fleet
HOST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf 'fleet: %s\n' "$*" >&2; }
die() { printf 'fleet: error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '3,10p' "$SELF" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------- machine side

require_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

# Installs what the fleet needs, only when something is missing.
ensure_deps() {
  local missing=() c pkg
  for c in nix-env:nix-bin nix-daemon:nix-bin sshd:openssh-server ssh-keygen:openssh-client \
    xz:xz-utils unshare:util-linux nsenter:util-linux setpriv:util-linux pivot_root:util-linux \
    ss:iproute2 useradd:passwd tar:tar; do
    pkg=${c#*:}
    c=${c%%:*}
    if ! PATH=$HOST_PATH command -v "$c" >/dev/null 2>&1; then missing+=("$pkg"); fi
  done
  if [ "${NEED_SYSTEMD:-0}" = 1 ] && [ ! -x /lib/systemd/systemd ]; then missing+=(systemd); fi
  [ ${#missing[@]} -eq 0 ] && return 0
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  log "installing missing packages: ${missing[*]}"
  # Keep maintainer scripts from starting the machine's own sshd (it would take port 22
  # on every address). Only when no policy-rc.d is in place already.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy && own_policy=1
  fi
  local rc=0
  {
    DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  } </dev/null >&2 || rc=$?
  [ $own_policy = 1 ] && rm -f $policy
  [ $rc = 0 ] || die "apt-get install ${missing[*]} failed"
}

state_ok() { [ -f "$1/$MARKER" ]; }

# Start time (field 22 of /proc/PID/stat) so a recycled PID is never taken for ours.
proc_start() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  set -- $s
  echo "${20}"
}

# True if PID is alive and is the process recorded in FILE (pid) / FILE.start.
recorded_alive() {
  local f=$1 pid start
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  start=$(cat "$f.start" 2>/dev/null || true)
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(proc_start "$pid" || true)" = "$start" ]
}

host_pid() {
  local h=$1
  recorded_alive "$h/pid" || return 1
  cat "$h/pid"
}

valid_address() {
  local a=$1 o
  [[ $a =~ ^127\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || return 1
  for o in "${BASH_REMATCH[@]:1}"; do [ "$o" -le 255 ] || return 1; done
}

port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

listening_on() {
  # Any listener on ADDR:22, 0.0.0.0:22 or [::]:22 blocks a host's sshd.
  ss -Hltn "sport = :$SSH_PORT" 2>/dev/null | awk '{print $4}' |
    grep -E "^(\[?::\]?|\*|0\.0\.0\.0|$(printf '%s' "$1" | sed 's/\./\\./g')):$SSH_PORT\$" || true
}

make_channel() { # OUT.tar.xz NAME next(true|false)
  local out=$1 name=$2 next=$3 t
  t=$(mktemp -d)
  mkdir -p "$t/$name"
  cp "$FLEET_SRC/nix/pkgs.nix" "$t/$name/pkgs.nix"
  if [ "$next" = true ]; then
    echo '{ ... }@args: import ./pkgs.nix (args // { next = true; })' >"$t/$name/default.nix"
    echo '24.11' >"$t/$name/.version"
  else
    echo '{ ... }@args: import ./pkgs.nix args' >"$t/$name/default.nix"
    echo '24.05' >"$t/$name/.version"
  fi
  tar -C "$t" --owner=0 --group=0 --mtime=@1 -cJf "$out" "$name"
  rm -rf "$t"
}

# Files every host gets in /etc/nixfleet-test (written into the overlay's upper dir).
prepare_share() {
  local dir=$1 share=$1/share
  [ -f "$share/.done" ] && return 0
  rm -rf "$share"
  mkdir -p "$share/channels"
  cp "$FLEET_SRC/nix/pkgs.nix" "$FLEET_SRC/nix/system.nix" \
    "$FLEET_SRC/nix/switch-to-configuration.sh" "$share/"
  make_channel "$share/channels/nixpkgs.tar.xz" nixpkgs false
  make_channel "$share/channels/nixpkgs-next.tar.xz" nixpkgs true
  make_channel "$share/channels/nixos.tar.xz" nixos false
  make_channel "$share/channels/nixos-next.tar.xz" nixos true
  touch "$share/.done"
}

launch_host() { # DIR KIND NAME ADDR KEYFILE
  local dir=$1 kind=$2 name=$3 addr=$4 key=$5 h=$1/hosts/$3 launcher child i
  rm -rf "$h"
  mkdir -p "$h"/{upper,work,root,fs/nix,fs/root,fs/home}
  chmod 700 "$h/fs/root"
  echo "$kind" >"$h/kind"
  echo "$addr" >"$h/address"
  local cfg=$h/upper/etc/nixfleet-test
  mkdir -p "$cfg"
  cp -r "$dir/share/." "$cfg/"
  rm -f "$cfg/.done"
  cp "$SELF" "$cfg/fleet.sh"
  printf '%s\n' "$kind" >"$cfg/kind"
  printf '%s\n' "$name" >"$cfg/name"
  printf '%s\n' "$addr" >"$cfg/address"
  printf '%s\n' "$dir" >"$cfg/state-dir"
  cp "$key" "$cfg/authorized_keys"
  if [ "$kind" = systemd ]; then
    echo "/sys/fs/cgroup/unified/nixfleet-$(printf '%s' "$dir" | md5sum | cut -c1-8)-$name" >"$h/cgroup"
  fi
  # The launcher is a small supervisor (machine side) that runs unshare, whose child is
  # the host's PID 1; it records that PID and, for a systemd host, boots it again after
  # a reboot from inside.
  setsid bash "$SELF" _supervise "$dir" "$name" </dev/null >>"$h/log" 2>&1 &
  launcher=$!
  proc_start "$launcher" >"$h/launcher.pid.start" || true
  echo "$launcher" >"$h/launcher.pid"
  for i in $(seq 1 500); do
    [ -f "$h/pid" ] && break
    recorded_alive "$h/launcher.pid" || break
    sleep 0.01
  done
  [ -f "$h/pid" ] || { log "$name: launcher exited early"; return 1; }
}

# Machine side, one per host: start the host's namespaces, record its PID 1, wait.
# Exit statuses of unshare: it re-raises the signal that ended the host's PID 1, and the
# kernel ends a PID namespace's init with SIGHUP on reboot(2) RESTART (bash: 129),
# SIGINT on POWER_OFF/HALT (130).
supervise() {
  local dir=$1 name=$2 h=$1/hosts/$2 kind u child i st boot=0
  kind=$(cat "$h/kind")
  while :; do
    boot=$((boot + 1))
    unshare --pid --mount --uts --fork --kill-child -- bash "$SELF" _stage1 "$dir" "$name" &
    u=$!
    child=
    for i in $(seq 1 1000); do
      child=$(cat "/proc/$u/task/$u/children" 2>/dev/null || true)
      child=${child%% *}
      [ -n "$child" ] && break
      [ -d "/proc/$u" ] || break
      sleep 0.01
    done
    if [ -n "$child" ]; then
      proc_start "$child" >"$h/pid.start.tmp" && mv -f "$h/pid.start.tmp" "$h/pid.start"
      echo "$child" >"$h/pid.tmp" && mv -f "$h/pid.tmp" "$h/pid"
    fi
    st=0
    wait "$u" || st=$?
    echo "fleet-supervisor: $name boot $boot ended with status $st"
    [ "$kind" = systemd ] && [ $st = 129 ] && [ ! -e "$h/stopping" ] || break
    # Reboot: same upper dir and /nix, fresh namespaces, /run and /tmp.
    if [ -f "$h/cgroup" ]; then
      for i in $(seq 1 50); do
        find "$(cat "$h/cgroup")" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
        [ -z "$(find "$(cat "$h/cgroup")" -mindepth 1 -type d 2>/dev/null)" ] && break
        sleep 0.1
      done
    fi
  done
}

wait_host() { # DIR NAME -> 0 when sshd accepts TCP
  local dir=$1 name=$2 h=$1/hosts/$2 addr deadline
  addr=$(cat "$h/address")
  deadline=$((SECONDS + START_TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    if ! recorded_alive "$h/pid"; then
      log "$name: host exited during start; last lines of $h/log:"
      tail -n 40 "$h/log" | sed 's/^/  | /' >&2 || true
      return 1
    fi
    if port_open "$addr" $SSH_PORT; then
      if [ "$(cat "$h/kind")" = systemd ]; then
        local st
        st=$(host_exec "$dir" "$name" systemctl is-system-running --wait 2>/dev/null || true)
        [ "$st" = running ] || log "$name: systemd state is '$st' (expected running)"
      fi
      return 0
    fi
    sleep 0.1
  done
  log "$name: sshd on $addr:$SSH_PORT not up after ${START_TIMEOUT}s; last lines of $h/log:"
  tail -n 40 "$h/log" | sed 's/^/  | /' >&2 || true
  return 1
}

stop_host() { # DIR NAME
  local dir=$1 name=$2 h=$1/hosts/$2 pid i cg
  [ -d "$h" ] || return 0
  : >"$h/stopping" # the supervisor does not boot the host again

  for _ in 1 2 3; do
    if recorded_alive "$h/pid"; then
      pid=$(cat "$h/pid")
      if [ "$(cat "$h/kind" 2>/dev/null)" = systemd ]; then
        kill -s RTMIN+4 "$pid" 2>/dev/null || true # systemd: clean poweroff
        for i in $(seq 1 50); do recorded_alive "$h/pid" || break; sleep 0.1; done
      fi
      # SIGKILL of the namespace's PID 1 ends every process inside it.
      if recorded_alive "$h/pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
      for i in $(seq 1 100); do recorded_alive "$h/pid" || break; sleep 0.05; done
    fi
    # The supervisor exits once its unshare has (unshare follows its child).
    for i in $(seq 1 40); do recorded_alive "$h/launcher.pid" || break; sleep 0.05; done
    if ! recorded_alive "$h/launcher.pid" && ! recorded_alive "$h/pid"; then break; fi
  done
  if recorded_alive "$h/pid"; then log "$name: PID $(cat "$h/pid") did not exit"; fi
  if recorded_alive "$h/launcher.pid"; then kill -KILL "$(cat "$h/launcher.pid")" 2>/dev/null || true; fi
  if [ -f "$h/cgroup" ]; then
    cg=$(cat "$h/cgroup")
    if [ -d "$cg" ]; then
      for i in $(seq 1 50); do
        find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
        [ -d "$cg" ] || break
        sleep 0.1
      done
      [ -d "$cg" ] && log "$name: could not remove cgroup $cg"
    fi
  fi
  # All mounts lived in the host's mount namespace; they went with its last process.
  rm -rf "$h"
}

cmd_up() {
  local dir="" key="" specs=() spec kind name addr
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir=$2; shift 2 ;;
      --dir=*) dir=${1#*=}; shift ;;
      --authorized-key) key=$2; shift 2 ;;
      --authorized-key=*) key=${1#*=}; shift ;;
      -h|--help) usage ;;
      -*) die "unknown option $1" ;;
      *) specs+=("$1"); shift ;;
    esac
  done
  [ -n "$dir" ] || die "up needs --dir STATE_DIR"
  [ ${#specs[@]} -gt 0 ] || specs=("${DEFAULT_HOSTS[@]}")
  require_root
  dir=$(readlink -m "$dir")
  case "$dir" in /|/tmp|/root|/home|/nix|/etc|/usr|/var|/run) die "refusing state dir $dir" ;; esac

  local names=" " addrs=" " need_systemd=0
  for spec in "${specs[@]}"; do
    IFS=: read -r kind name addr <<<"$spec"
    [ -n "$kind" ] && [ -n "$name" ] && [ -n "$addr" ] || die "bad host spec '$spec' (want kind:name:127.0.0.x)"
    [[ " $KINDS " == *" $kind "* ]] || die "unknown kind '$kind' (one of: $KINDS)"
    [[ $name =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] || die "bad host name '$name' (lowercase letters, digits, '-')"
    valid_address "$addr" || die "address '$addr' is not in 127.0.0.0/8"
    [[ $names == *" $name "* ]] && die "duplicate host name $name"
    [[ $addrs == *" $addr "* ]] && die "duplicate address $addr"
    names+="$name "
    addrs+="$addr "
    [ "$kind" = systemd ] && need_systemd=1
  done
  NEED_SYSTEMD=$need_systemd ensure_deps

  if [ -e "$dir" ] && ! state_ok "$dir" && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
    die "$dir exists, is not empty and is not a fleet state dir"
  fi
  mkdir -p "$dir/hosts"
  touch "$dir/$MARKER"
  for spec in "${specs[@]}"; do
    IFS=: read -r kind name addr <<<"$spec"
    if [ -d "$dir/hosts/$name" ]; then
      recorded_alive "$dir/hosts/$name/pid" && die "host $name is already up in $dir (run down first)"
      stop_host "$dir" "$name" # leftovers of a dead host
    fi
    [ -z "$(listening_on "$addr")" ] || die "something already listens on port $SSH_PORT for $addr: $(listening_on "$addr" | tr '\n' ' ')"
  done

  if [ -z "$key" ]; then
    key=$dir/id_ed25519.pub
    if [ ! -f "$key" ]; then
      ssh-keygen -q -t ed25519 -N '' -C nixfleet-fleet -f "$dir/id_ed25519"
    fi
    log "no --authorized-key given: using $dir/id_ed25519 (private key) for all hosts"
  fi
  [ -r "$key" ] || die "cannot read authorized key $key"
  grep -qE '^(ssh-ed25519|ssh-rsa|ecdsa-sha2-[a-z0-9]+|sk-[a-z0-9@.-]+) ' "$key" || die "$key does not look like an OpenSSH public key"

  prepare_share "$dir"
  local t0=$SECONDS started=() failed=0
  for spec in "${specs[@]}"; do
    IFS=: read -r kind name addr <<<"$spec"
    started+=("$name")
    launch_host "$dir" "$kind" "$name" "$addr" "$key" || { failed=1; break; }
  done
  if [ $failed = 0 ]; then
    local pids=() n
    for n in "${started[@]}"; do
      wait_host "$dir" "$n" &
      pids+=($!)
    done
    for n in "${pids[@]}"; do wait "$n" || failed=1; done
  fi
  if [ $failed != 0 ]; then
    log "start failed; stopping the hosts started by this call"
    for n in "${started[@]}"; do
      [ -f "$dir/hosts/$n/log" ] && cp "$dir/hosts/$n/log" "$dir/$n.failed.log"
      stop_host "$dir" "$n"
    done
    log "host logs kept in $dir/*.failed.log (removed by down)"
    exit 1
  fi
  log "${#started[@]} host(s) up in $((SECONDS - t0))s (state in $dir)"
  for spec in "${specs[@]}"; do
    IFS=: read -r kind name addr <<<"$spec"
    echo "$name $kind $addr $SSH_PORT"
  done
}

cmd_down() {
  local dir="" only=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir=$2; shift 2 ;;
      --dir=*) dir=${1#*=}; shift ;;
      -*) die "unknown option $1" ;;
      *) only+=("$1"); shift ;;
    esac
  done
  [ -n "$dir" ] || die "down needs --dir STATE_DIR"
  require_root
  dir=$(readlink -m "$dir")
  [ -e "$dir" ] || return 0
  state_ok "$dir" || die "$dir is not a fleet state dir (no $MARKER); not touching it"
  local h n
  if [ ${#only[@]} -gt 0 ]; then
    for n in "${only[@]}"; do stop_host "$dir" "$n"; done
    return 0
  fi
  for h in "$dir"/hosts/*/; do
    [ -d "$h" ] || continue
    n=$(basename "$h")
    stop_host "$dir" "$n" &
  done
  wait
  rm -rf "$dir"
}

host_exec() { # DIR NAME CMD...
  local dir=$1 name=$2 pid
  shift 2
  pid=$(host_pid "$dir/hosts/$name") || die "host $name is not running in $dir"
  nsenter -t "$pid" -m -u -p -r -w -- /usr/bin/env -i PATH=$HOST_PATH HOME=/root USER=root \
    LOGNAME=root SHELL=/bin/bash LANG=C.UTF-8 ${TERM:+TERM=$TERM} "$@"
}

cmd_exec() {
  local dir="" name=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir=$2; shift 2 ;;
      --dir=*) dir=${1#*=}; shift ;;
      --) shift; break ;;
      -*) die "unknown option $1" ;;
      *) [ -z "$name" ] || die "exec takes one host name, then -- CMD"; name=$1; shift ;;
    esac
  done
  [ -n "$dir" ] && [ -n "$name" ] && [ $# -gt 0 ] || die "usage: exec --dir DIR NAME -- CMD..."
  require_root
  dir=$(readlink -m "$dir")
  host_exec "$dir" "$name" "$@"
}

cmd_list() {
  local dir=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir=$2; shift 2 ;;
      --dir=*) dir=${1#*=}; shift ;;
      *) die "unknown argument $1" ;;
    esac
  done
  [ -n "$dir" ] || die "list needs --dir STATE_DIR"
  dir=$(readlink -m "$dir")
  local h
  for h in "$dir"/hosts/*/; do
    [ -d "$h" ] || continue
    recorded_alive "$h/pid" || continue
    echo "$(basename "$h") $(cat "$h/kind") $(cat "$h/address") $SSH_PORT"
  done
}

cmd_demo() {
  local dir=$DEFAULT_DIR args=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) dir=$2; shift 2 ;;
      --dir=*) dir=${1#*=}; shift ;;
      *) args+=("$1"); shift ;;
    esac
  done
  cmd_up --dir "$dir" "${args[@]}" "${DEFAULT_HOSTS[@]}"
  log "demo fleet is up; log in with: ssh -i $dir/id_ed25519 -o StrictHostKeyChecking=no root@127.0.0.11"
  log "stop it with: $SELF down --dir $dir"
}

# ---------------------------------------------------------------- host side
# These run inside the host's namespaces (stage 1 is the PID namespace's PID 1).

# Stage 1: PID 1 of fresh PID+mount+UTS namespaces, still on the machine's root.
stage1() {
  local dir=$1 name=$2 h=$1/hosts/$2 kind
  kind=$(cat "$h/kind")
  if [ "$kind" = systemd ]; then
    # Move into a fresh cgroup v2 dir ("0" = the writer itself, read in its own PID
    # namespace), then a new cgroup namespace rooted there.
    local cg
    cg=$(cat "$h/cgroup")
    mkdir -p "$cg"
    echo 0 >"$cg/cgroup.procs"
    exec unshare --cgroup -- bash "$SELF" _stage2 "$dir" "$name"
  fi
  stage2 "$dir" "$name"
}

setup_dev() { # ROOT: a private minimal /dev
  local r=$1 d
  mount -t tmpfs -o mode=755,nosuid,size=4m tmpfs "$r/dev"
  for d in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    IFS=: read -r n ma mi <<<"$d"
    mknod -m 666 "$r/dev/$n" c "$ma" "$mi"
  done
  mkdir -m 755 "$r/dev/pts"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$r/dev/pts"
  ln -s pts/ptmx "$r/dev/ptmx"
  mkdir -m 1777 "$r/dev/shm"
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/dev/shm"
  mkdir -m 1777 "$r/dev/mqueue"
  ln -s /proc/self/fd "$r/dev/fd"
  ln -s /proc/self/fd/0 "$r/dev/stdin"
  ln -s /proc/self/fd/1 "$r/dev/stdout"
  ln -s /proc/self/fd/2 "$r/dev/stderr"
  ln -s /proc/kcore "$r/dev/core"
}

# Stage 2: build the host's root and pivot_root into it, then set the host up.
stage2() {
  local dir=$1 name=$2 h=$1/hosts/$2 kind r
  kind=$(cat "$h/kind")
  r=$h/root
  hostname "$name"
  mount --make-rprivate /
  mount -t overlay overlay -o "lowerdir=/,upperdir=$h/upper,workdir=$h/work" "$r"
  local d
  for d in nix root home; do
    mkdir -p "$r/$d"
    mount --bind "$h/fs/$d" "$r/$d"
  done
  chmod 755 "$r/nix" "$r/home"
  chmod 700 "$r/root"
  mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$r/run"
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/tmp"
  mount -t proc -o nosuid,nodev,noexec proc "$r/proc"
  mount --bind "$r/proc/sys" "$r/proc/sys"
  mount -o remount,bind,ro "$r/proc/sys"
  mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$r/sys"
  if [ "$kind" = systemd ]; then
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$r/sys/fs/cgroup"
  fi
  setup_dev "$r"
  # Hide the fleet's state dir (other hosts' files) if the machine's root holds it.
  if [ -d "$r$dir" ]; then mount -t tmpfs -o ro,mode=755,size=4k tmpfs "$r$dir"; fi
  # An opaque /etc/systemd/system for the systemd host (only what we enable below).
  if [ "$kind" = systemd ] && [ ! -e "$r/etc/nixfleet-test/ready" ]; then
    rm -rf "$r/etc/systemd/system"
    mkdir -p "$r/etc/systemd/system"
  fi
  cd "$r"
  pivot_root . .
  umount -l /
  cd /
  export PATH=$HOST_PATH HOME=/root LANG=C.UTF-8
  unset -v OLDPWD
  host_setup "$kind" "$name"
}

as_user() { # USER CMD... (no PAM: plain setuid with the user's groups and a clean env)
  local u=$1 home
  shift
  home=$(getent passwd "$u" | cut -d: -f6)
  (cd "$home" && setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- \
    env -i PATH=$HOST_PATH HOME="$home" USER="$u" LOGNAME="$u" LANG=C.UTF-8 "$@")
}

add_user() { # NAME: login user, key login possible with UsePAM no ('*', not '!')
  useradd -m -s /bin/bash -p '*' -c "$1" "$1"
  install -d -m 700 -o "$1" -g "$1" "/home/$1/.ssh"
  install -m 600 -o "$1" -g "$1" /etc/nixfleet-test/authorized_keys "/home/$1/.ssh/authorized_keys"
}

write_nix_conf() { # KIND
  mkdir -p /etc/nix
  {
    echo "# NixFleet test host ($1), Debian's nix-bin"
    echo "sandbox = false"
    echo "substituters ="
    case $1 in
      multi|nixos) echo "build-users-group = nixbld" ;;
      builder)
        echo "build-users-group = nixbld"
        echo "trusted-users = root builder"
        ;;
    esac
  } >/etc/nix/nix.conf
}

start_nix_daemon() {
  mkdir -p /var/log
  setsid nix-daemon </dev/null >>/var/log/nix-daemon.log 2>&1 &
  echo $! >/run/nix-daemon.pid
  local i
  for i in $(seq 1 200); do
    [ -S /nix/var/nix/daemon-socket/socket ] && return 0
    sleep 0.05
  done
  echo "nix-daemon did not create its socket" >&2
  return 1
}

make_garbage() { # RUN-AS-PREFIX...: an unrooted store path of 1 MiB (1048576 bytes of file data)
  mkdir -p /var/lib/nixfleet-test
  head -c 1048576 /dev/zero | tr '\0' 'g' >/var/lib/nixfleet-test/nixfleet-garbage-1MiB
  chmod 644 /var/lib/nixfleet-test/nixfleet-garbage-1MiB
  "$@" nix-store --add /var/lib/nixfleet-test/nixfleet-garbage-1MiB >/var/lib/nixfleet-test/garbage-path
}

setup_single() {
  chown -R alice:alice /nix
  local p=/etc/nixfleet-test/pkgs.nix
  as_user alice nix-channel --add file:///etc/nixfleet-test/channels/nixpkgs.tar.xz nixpkgs
  as_user alice nix-channel --update
  as_user alice nix-env -f $p -iA hello
  as_user alice nix-env -f $p -iA cowsay
  as_user alice nix-env -f $p -iA figlet
  make_garbage as_user alice
}

setup_multi() { # KIND
  local kind=$1 i p=/etc/nixfleet-test/pkgs.nix
  groupadd -g 30000 nixbld
  for i in 1 2 3 4; do
    useradd -u $((30000 + i)) -g nixbld -G nixbld -M -N -d /var/empty -s /usr/sbin/nologin \
      -c "Nix build user $i" "nixbld$i"
  done
  install -d -m 0755 -o root -g nixbld /nix
  install -d -m 1775 -o root -g nixbld /nix/store
  install -d -m 0755 /nix/var /nix/var/nix /nix/var/nix/profiles /nix/var/nix/gcroots
  install -d -m 1777 /nix/var/nix/profiles/per-user /nix/var/nix/gcroots/per-user
  start_nix_daemon
  local chan=nixpkgs
  [ "$kind" = nixos ] && chan=nixos
  nix-channel --add "file:///etc/nixfleet-test/channels/$chan.tar.xz" "$chan"
  nix-channel --update
  nix-env -f $p -iA hello
  nix-env -f $p -iA cowsay
  as_user alice env NIX_REMOTE=daemon nix-env -f $p -iA hello
  as_user alice env NIX_REMOTE=daemon nix-env -f $p -iA cowsay
  make_garbage
  # No init system: a helper to restart the daemon (e.g. after editing nix.conf).
  cat >/usr/local/sbin/nix-daemon-restart <<'EOF'
#!/bin/sh
# NixFleet test host: restart nix-daemon (there is no init system on this host).
if [ -f /run/nix-daemon.pid ]; then kill "$(cat /run/nix-daemon.pid)" 2>/dev/null; fi
i=0; while [ -e "/proc/$(cat /run/nix-daemon.pid 2>/dev/null || echo x)" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
rm -f /nix/var/nix/daemon-socket/socket
setsid nix-daemon </dev/null >>/var/log/nix-daemon.log 2>&1 &
echo $! >/run/nix-daemon.pid
i=0; while [ ! -S /nix/var/nix/daemon-socket/socket ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
[ -S /nix/var/nix/daemon-socket/socket ]
EOF
  chmod 755 /usr/local/sbin/nix-daemon-restart
}

setup_nixos() {
  local name=$1 g p
  rm -f /etc/os-release
  cat >/etc/os-release <<'EOF'
BUG_REPORT_URL="https://github.com/NixOS/nixpkgs/issues"
BUILD_ID="24.05.1234.abcdef0"
DOCUMENTATION_URL="https://nixos.org/learn.html"
HOME_URL="https://nixos.org/"
ID=nixos
LOGO="nix-snowflake"
NAME=NixOS
PRETTY_NAME="NixOS 24.05 (Uakari)"
SUPPORT_URL="https://nixos.org/community.html"
VERSION="24.05 (Uakari)"
VERSION_CODENAME=uakari
VERSION_ID="24.05"
EOF
  : >/etc/NIXOS
  for g in 1 2 3; do
    p=$(nix-build --no-out-link /etc/nixfleet-test/system.nix --argstr hostName "$name" --arg generation $g)
    nix-env -p /nix/var/nix/profiles/system --set "$p"
  done
  p=$(readlink -f /nix/var/nix/profiles/system)
  ln -sfn "$p" /run/current-system
  ln -sfn "$p" /run/booted-system
  mkdir -p /var/lib/nixfleet-test
  : >/var/lib/nixfleet-test/activations
  ln -sfn /run/current-system/sw/bin/nixos-version /usr/local/bin/nixos-version
}

write_sshd_config() {
  local addr=$1
  rm -f /etc/ssh/ssh_host_*
  ssh-keygen -q -t ed25519 -N '' -C "root@$(hostname)" -f /etc/ssh/ssh_host_ed25519_key
  rm -rf /etc/ssh/sshd_config.d
  cat >/etc/ssh/sshd_config <<EOF
# NixFleet test host $(hostname)
ListenAddress $addr:$SSH_PORT
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
X11Forwarding no
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
}

setup_systemd_units() {
  local s=/etc/systemd/system
  mkdir -p $s/multi-user.target.wants
  ln -sfn /lib/systemd/system/multi-user.target $s/default.target
  ln -sfn /lib/systemd/system/ssh.service $s/multi-user.target.wants/ssh.service
  ln -sfn /dev/null $s/console-getty.service
  ln -sfn /dev/null $s/systemd-journald-audit.socket
  # Do not let systemd clean our /etc/machine-id into a transient one.
  ln -sfn /dev/null $s/systemd-machine-id-commit.service
}

host_setup() { # KIND NAME (as root inside the new root, PID 1 of the host)
  local kind=$1 name=$2 addr
  addr=$(cat /etc/nixfleet-test/address)
  set -x
  if [ -e /etc/nixfleet-test/ready ]; then
    host_boot "$kind" # booted again (reboot): the upper dir and /nix keep the setup
  fi
  echo "$name" >/etc/hostname
  printf '127.0.0.1\tlocalhost\n%s\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$addr" "$name" >/etc/hosts
  tr -d '-' </proc/sys/kernel/random/uuid >/etc/machine-id
  # The machine's Nix build users/groups are not part of a fresh host.
  sed -i -E '/^nixbld[0-9]*:/d' /etc/passwd /etc/shadow
  sed -i -E '/^nixbld:/d' /etc/group /etc/gshadow
  usermod -p '*' root
  cp /etc/skel/.bashrc /etc/skel/.profile /root/ 2>/dev/null || true
  install -d -m 700 /root/.ssh
  install -m 600 /etc/nixfleet-test/authorized_keys /root/.ssh/authorized_keys
  add_user alice
  [ "$kind" = builder ] && add_user builder
  write_nix_conf "$kind"
  write_sshd_config "$addr"
  case $kind in
    single|systemd) setup_single ;;
    multi|builder) setup_multi "$kind" ;;
    nixos) setup_multi nixos; setup_nixos "$name" ;;
  esac
  if [ "$kind" = systemd ]; then setup_systemd_units; fi
  : >/etc/nixfleet-test/ready
  host_boot "$kind"
}

host_boot() { # KIND: start the host's services; does not return
  local kind=$1
  if [ "$kind" = systemd ]; then
    set +x
    exec setpriv --bounding-set -sys_module,-sys_time -- \
      env -i container="$(cat /etc/nixfleet-test/name)" PATH=$HOST_PATH LANG=C.UTF-8 /lib/systemd/systemd
  fi
  case $kind in
    multi|builder|nixos) [ -S /nix/var/nix/daemon-socket/socket ] || start_nix_daemon ;;
  esac
  if [ "$kind" = nixos ] && [ ! -e /run/current-system ]; then
    ln -sfn "$(readlink -f /nix/var/nix/profiles/system)" /run/current-system
    ln -sfn "$(readlink -f /nix/var/nix/profiles/system)" /run/booted-system
  fi
  install -d -m 755 /run/sshd
  /usr/sbin/sshd -f /etc/ssh/sshd_config -E /var/log/sshd.log
  set +x
  # PID 1 of the host: reap orphans until the namespace is killed.
  exec /bin/bash -c 'trap "" TERM INT HUP; while :; do sleep 3600 & wait $! || true; done'
}

# ---------------------------------------------------------------- main
main() {
  [ $# -gt 0 ] || usage
  local cmd=$1
  shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    exec) cmd_exec "$@" ;;
    list) cmd_list "$@" ;;
    demo) cmd_demo "$@" ;;
    _supervise) supervise "$@" ;;
    _stage1) stage1 "$@" ;;
    _stage2) stage2 "$@" ;;
    -h|--help|help) usage ;;
    *) die "unknown command $cmd" ;;
  esac
}
main "$@"
