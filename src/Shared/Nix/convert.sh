# NixFleet: convert a single-user Nix install into a multi-user (nix-daemon) one, and back.
# Runs as root with sh -c, one step per call:
#   sh -c SCRIPT nixfleet-convert probe|apply|revert STEP key=value...
#   sh -c SCRIPT nixfleet-convert render FILE daemon=PATH   (prints a file it would write)
# It is a constant: every value from NixFleet arrives as a key=value argument and is checked below.
# Every apply is idempotent (a resumed run repeats the step that was under way) and ends by checking
# its own result; every revert undoes exactly what the records in $backup say was done, and is safe
# to run on a step that never started. Lines "nixfleet-change: ..." say what a step changed and go
# into the receipt. See docs/operations.md, "Converting to multi-user".
cd / || exit 1
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LC_ALL=C
export PATH LC_ALL
umask 022

die() { printf 'nixfleet-convert: %s\n' "$*" >&2; exit 1; }
change() { printf 'nixfleet-change: %s\n' "$*"; }
section() { printf '\n@@%s\n' "$1"; }
body() { sed 's/^/|/'; }

action=${1:-}
step=${2:-}
[ $# -ge 2 ] && shift 2
owner='' users=32 gid=30000 first_uid=30001 init='' daemon_bin='' backup='' nonce=x
for kv in "$@"; do
  case "$kv" in
    owner=*) owner=${kv#owner=} ;;
    users=*) users=${kv#users=} ;;
    gid=*) gid=${kv#gid=} ;;
    uid=*) first_uid=${kv#uid=} ;;
    init=*) init=${kv#init=} ;;
    daemon=*) daemon_bin=${kv#daemon=} ;;
    backup=*) backup=${kv#backup=} ;;
    nonce=*) nonce=${kv#nonce=} ;;
    *) die "unknown argument" ;;
  esac
done
case "$action:$owner" in probe:* | render:* | receipt:) ;; *:'' | *:-* | *:*[!a-z0-9_.-]*) die "bad owner" ;; esac
for n in "$users" "$gid" "$first_uid"; do
  case "$n" in '' | *[!0-9]*) die "bad number" ;; esac
done
case "$init" in '' | systemd | sysv | none) ;; *) die "bad init system" ;; esac
case "$backup" in
  '') ;;
  /var/lib/nixfleet/convert/*) case "${backup#/var/lib/nixfleet/convert/}" in '' | *[!a-z0-9-]*) die "bad backup dir" ;; esac ;;
  *) die "bad backup dir" ;;
esac
case "$daemon_bin" in '' | /*) ;; *) die "bad daemon path" ;; esac
case "$daemon_bin" in *[!A-Za-z0-9/._+-]*) die "bad daemon path" ;; esac
case "$nonce" in *[!a-z0-9]*) die "bad nonce" ;; esac

receipt=/nix/var/nix/nixfleet-receipt.json
socket=/nix/var/nix/daemon-socket/socket
profile_script=/etc/profile.d/nix-daemon.sh
supervisor=/usr/local/sbin/nixfleet-nix-daemon
if [ -n "$owner" ] && [ "$action" != probe ]; then
  group=$(id -gn "$owner" 2>/dev/null) || die "no user $owner"
  home=$(getent passwd "$owner" | cut -d: -f6)
  [ -n "$home" ] || die "user $owner has no home directory"
fi
per_user_profiles=/nix/var/nix/profiles/per-user/$owner
per_user_roots=/nix/var/nix/gcroots/per-user/$owner

need_backup() {
  [ -n "$backup" ] || die "no backup dir given"
  mkdir -p "$backup" && chmod 700 "$backup" || die "cannot create $backup"
}

# Appends a line to a record in $backup (written before the change it records).
record() { printf '%s\n' "$2" >>"$backup/$1"; }
recorded() { [ -f "$backup/$1" ] && grep -qxF -- "$2" "$backup/$1"; }

nologin_shell() {
  for s in /usr/sbin/nologin /sbin/nologin /bin/false; do
    [ -x "$s" ] && { echo "$s"; return; }
  done
  echo /bin/false
}

# The Nix tools, for checks: next to the daemon we run, else on PATH.
nix_tool() {
  t=$1
  shift
  if [ -n "$daemon_bin" ] && [ -x "$(dirname "$daemon_bin")/$t" ]; then "$(dirname "$daemon_bin")/$t" "$@"; else "$t" "$@"; fi
}

# ---------------------------------------------------------------- probe (reads only)

probe() {
  section whoami
  id -un | body
  section store
  if [ -d /nix/store ]; then stat -c '%U %G %u %g %a' /nix/store | body; fi
  owner=$(stat -c %U /nix/store 2>/dev/null)
  section owner
  if [ -n "$owner" ] && [ "$owner" != root ] && [ "$owner" != UNKNOWN ]; then
    printf '%s %s %s %s\n' "$owner" "$(id -gn "$owner" 2>/dev/null)" "$(id -u "$owner" 2>/dev/null)" "$(getent passwd "$owner" | cut -d: -f6)" | body
  fi
  home=$(getent passwd "$owner" 2>/dev/null | cut -d: -f6)
  section nix-daemon
  for d in /nix/var/nix/profiles/default/bin/nix-daemon /usr/bin/nix-daemon /usr/local/bin/nix-daemon; do
    if [ -x "$d" ]; then echo "$d" | body; break; fi
  done
  if [ -n "$home" ] && [ -x "$home/.nix-profile/bin/nix-daemon" ]; then
    echo "profile $(readlink -f "$home/.nix-profile/bin/nix-daemon")" | body
  fi
  section daemon-socket
  [ -S "$socket" ] && echo present | body
  section nix-conf
  if [ -f /etc/nix/nix.conf ]; then grep -E '^[[:space:]]*(build-users-group|trusted-users|sandbox)[[:space:]]*=' /etc/nix/nix.conf | body; fi
  section processes
  ps -eo pid=,user=,comm=,args= 2>/dev/null | awk '$3 ~ /^nix(-[a-z-]+)?$/ || $3 == "nixfleet-nix-da"' | body
  section disk
  for d in /nix /var; do printf '%s %s\n' "$d" "$(df -Pk "$d" 2>/dev/null | awk 'NR == 2 { print $4 }')"; done | body
  section init
  comm1=$(cat /proc/1/comm 2>/dev/null)
  if [ -d /run/systemd/system ]; then
    echo "systemd $comm1" | body
  elif [ -d /etc/init.d ] && { [ "$comm1" = init ] || [ -e /sbin/openrc ]; } && { command -v update-rc.d >/dev/null 2>&1 || command -v chkconfig >/dev/null 2>&1 || [ -d /etc/rc2.d ]; }; then
    echo "sysv $comm1" | body
  else
    echo "none $comm1" | body
  fi
  section group
  getent group nixbld | body
  section gid-user
  getent group "$gid" | body
  section build-users
  getent passwd | awk -F: '$1 ~ /^nixbld[0-9]+$/ { print $1, $3, $4 }' | body
  section uid-users
  getent passwd | awk -F: -v lo="$first_uid" -v hi="$((first_uid + users - 1))" '$3 >= lo && $3 <= hi { print $1, $3 }' | body
  section profile-link
  [ -n "$home" ] && [ -L "$home/.nix-profile" ] && readlink "$home/.nix-profile" | body
  section default-generations
  for l in /nix/var/nix/profiles/default-*-link; do [ -L "$l" ] && echo "${l##*/} $(readlink "$l")"; done | body
  [ -L /nix/var/nix/profiles/default ] && echo "current $(readlink /nix/var/nix/profiles/default)" | body
  section user-generations
  if [ -n "$owner" ]; then
    for l in "/nix/var/nix/profiles/per-user/$owner"/profile-*-link; do [ -L "$l" ] && echo "${l##*/} $(readlink "$l")"; done | body
  fi
  section channels
  if [ -n "$owner" ] && [ -L "/nix/var/nix/profiles/per-user/$owner/channels" ]; then
    ls "/nix/var/nix/profiles/per-user/$owner/channels/" 2>/dev/null | grep -v '^manifest.nix$' | body
  fi
  section shell-files
  if [ -n "$home" ]; then
    for f in .profile .bash_profile .bash_login .bashrc .zshenv .zshrc .zprofile; do
      [ -f "$home/$f" ] && grep -q '\.nix-profile/etc/profile\.d/nix\.sh' "$home/$f" && echo "$home/$f"
    done | body
  fi
  [ -e "$profile_script" ] && echo "$profile_script" | body
  section backups
  ls /var/lib/nixfleet/convert 2>/dev/null | body
  section receipt
  [ -f "$receipt" ] && body <"$receipt"
  section packages
  if [ -n "$owner" ] && [ -n "$home" ]; then
    runuser -u "$owner" -- sh -c 'PATH=$HOME/.nix-profile/bin:$PATH; nix-env -q' 2>/dev/null | body
  fi
}

# Steps of an earlier run still at work on the host (its connection was lost: a step with no
# output to write does not notice and goes on). A resumed run waits for them.
running_steps() {
  ps -eo pid=,args= | awk -v me="$$" '$1 != me && match($0, /nixfleet-conver[t] (apply|revert) [a-z-]+/) { print $1, substr($0, RSTART + 17, RLENGTH - 17) }'
}

# ---------------------------------------------------------------- 1. build users

apply_build_users() {
  need_backup
  if getent group nixbld >/dev/null; then
    have=$(getent group nixbld | cut -d: -f3)
    [ "$have" = "$gid" ] || die "group nixbld exists with GID $have, not $gid"
  else
    record created-group nixbld
    # -K: IDs above login.defs' system range are what the official installer uses too; no warning for them.
    groupadd -r -K SYS_GID_MAX="$gid" -g "$gid" nixbld || die "groupadd nixbld failed"
    change "created group nixbld (GID $gid)"
  fi
  shell=$(nologin_shell)
  i=1 made=0
  while [ "$i" -le "$users" ]; do
    u=nixbld$i
    uid=$((first_uid + i - 1))
    if entry=$(getent passwd "$u"); then
      [ "$(echo "$entry" | cut -d: -f3)" = "$uid" ] || die "user $u exists with UID $(echo "$entry" | cut -d: -f3), not $uid"
      [ "$(echo "$entry" | cut -d: -f4)" = "$gid" ] || die "user $u exists with primary group $(echo "$entry" | cut -d: -f4), not nixbld ($gid)"
    else
      recorded created-users "$u" || record created-users "$u"
      useradd -r -K SYS_UID_MAX="$uid" -u "$uid" -g nixbld -G nixbld -M -N -d /var/empty -s "$shell" -c "Nix build user $i" "$u" ||
        die "useradd $u failed"
      made=$((made + 1))
    fi
    i=$((i + 1))
  done
  [ "$made" -gt 0 ] && change "created $made build user(s) nixbld1..nixbld$users (UID $first_uid..$((first_uid + users - 1)), group nixbld, no login shell, home /var/empty)"
  # Check: every build user is there and in the group.
  i=1
  while [ "$i" -le "$users" ]; do
    [ "$(id -g "nixbld$i" 2>/dev/null)" = "$gid" ] || die "check failed: nixbld$i is not in group nixbld"
    i=$((i + 1))
  done
  echo "group nixbld (GID $gid) with $users build users"
}

revert_build_users() {
  [ -n "$backup" ] && [ -d "$backup" ] || return 0
  rc=0
  if [ -f "$backup/created-users" ]; then
    for u in $(sort -r "$backup/created-users"); do
      if getent passwd "$u" >/dev/null; then
        userdel "$u" || { echo "userdel $u failed" >&2; rc=1; continue; }
        change "deleted build user $u"
      fi
    done
  fi
  if recorded created-group nixbld && getent group nixbld >/dev/null; then
    groupdel nixbld || { echo "groupdel nixbld failed" >&2; rc=1; }
    [ $rc = 0 ] && change "deleted group nixbld"
  fi
  return $rc
}

# ---------------------------------------------------------------- 2. nix.conf

conf=/etc/nix/nix.conf
apply_nix_conf() {
  need_backup
  if [ ! -f "$backup/nix.conf.saved" ]; then
    if [ -f "$conf" ]; then
      cp -p "$conf" "$backup/nix.conf.orig" || die "cannot back up $conf"
    else
      : >"$backup/nix.conf.absent"
    fi
    [ -d /etc/nix ] || : >"$backup/etc-nix.created"
    : >"$backup/nix.conf.saved"
  fi
  mkdir -p /etc/nix || die "cannot create /etc/nix"
  if [ -f "$conf" ] && [ "$(grep -E '^[[:space:]]*build-users-group[[:space:]]*=' "$conf")" = "build-users-group = nixbld" ]; then
    echo "$conf already says build-users-group = nixbld"
  else
    tmp=$conf.nixfleet-tmp
    if [ -f "$conf" ]; then cp -p "$conf" "$tmp"; else : >"$tmp"; chmod 644 "$tmp"; fi
    { [ -f "$conf" ] && grep -v -E '^[[:space:]]*build-users-group[[:space:]]*=' "$conf"
      echo "build-users-group = nixbld"; } >"$tmp" && mv -f "$tmp" "$conf" || die "cannot write $conf"
    change "set build-users-group = nixbld in $conf (the rest of the file kept)"
  fi
  grep -qx 'build-users-group = nixbld' "$conf" || die "check failed: $conf does not say build-users-group = nixbld"
}

revert_nix_conf() {
  [ -n "$backup" ] && [ -f "$backup/nix.conf.saved" ] || return 0
  if [ -f "$backup/nix.conf.orig" ]; then
    cp -p "$backup/nix.conf.orig" "$conf" || { echo "cannot restore $conf" >&2; return 1; }
    change "restored $conf from its backup"
  elif [ -f "$backup/nix.conf.absent" ] && [ -e "$conf" ]; then
    rm -f "$conf" && change "removed $conf (there was none)"
  fi
  if [ -f "$backup/etc-nix.created" ] && [ -d /etc/nix ]; then
    rmdir /etc/nix 2>/dev/null && change "removed /etc/nix (there was none)"
  fi
  return 0
}

# ---------------------------------------------------------------- 3. the store to root

changed_dirs="/nix /nix/store /nix/var/nix/profiles/per-user /nix/var/nix/gcroots/per-user"
apply_store_ownership() {
  need_backup
  getent group nixbld >/dev/null || die "group nixbld does not exist"
  if [ ! -f "$backup/ownership.saved" ]; then
    # Who owns what now, exactly: a revert gives /nix back to the owner and then restores these.
    rm -f "$backup"/owned.*
    for pair in $(find /nix \( ! -user "$owner" -o ! -group "$group" \) -printf '%U:%G\n' | sort -u); do
      find /nix -uid "${pair%:*}" -gid "${pair#*:}" -print0 >"$backup/owned.$pair" || die "cannot record ownership"
    done
    for d in $changed_dirs; do
      if [ -e "$d" ]; then stat -c '%a %n' "$d"; else echo "absent $d"; fi
    done >"$backup/modes" || die "cannot record modes"
    : >"$backup/ownership.saved"
  fi
  chown -R root:nixbld /nix || die "chown -R root:nixbld /nix failed"
  chmod 1775 /nix/store || die "chmod /nix/store failed"
  for d in /nix/var/nix/profiles/per-user /nix/var/nix/gcroots/per-user; do
    mkdir -p "$d" && chmod 1777 "$d" || die "cannot set up $d"
  done
  # The former owner keeps their own profiles and GC roots, as the daemon's users do.
  for d in "$per_user_profiles" "$per_user_roots"; do
    if [ ! -d "$d" ]; then
      recorded created-dirs "$d" || record created-dirs "$d"
      mkdir -p "$d"
    fi
    chown -R "$owner:$group" "$d" || die "chown $d failed"
  done
  change "chown -R root:nixbld /nix; /nix/store mode 1775; profiles/per-user and gcroots/per-user mode 1777; $per_user_profiles and $per_user_roots stay $owner's"
  [ "$(stat -c '%U:%G %a' /nix/store)" = "root:nixbld 1775" ] || die "check failed: /nix/store is $(stat -c '%U:%G %a' /nix/store)"
  left=$(find /nix \( -path "$per_user_profiles" -o -path "$per_user_roots" \) -prune -o \( ! -user root -o ! -group nixbld \) -print | head -n 3)
  [ -z "$left" ] || die "check failed: not root:nixbld: $left"
}

revert_store_ownership() {
  [ -n "$backup" ] && [ -f "$backup/ownership.saved" ] || return 0
  rc=0
  chown -R "$owner:$group" /nix || { echo "chown -R $owner:$group /nix failed" >&2; rc=1; }
  for f in "$backup"/owned.*; do
    [ -f "$f" ] || continue
    pair=${f##*/owned.}
    xargs -0 -r chown -h "$pair" <"$f" 2>/dev/null || true
  done
  while read -r mode path; do
    if [ "$mode" = absent ]; then
      [ -d "$path" ] && rmdir "$path" 2>/dev/null
    elif [ -e "$path" ]; then
      chmod "$mode" "$path" || rc=1
    fi
  done <"$backup/modes"
  # Directories this conversion made go only when empty: what a user made in them since stays theirs.
  if [ -f "$backup/created-dirs" ]; then
    for d in $(sort -r "$backup/created-dirs"); do
      [ -d "$d" ] || continue
      rmdir "$d" 2>/dev/null || change "kept $d ($owner's now): it holds what was made in it since the conversion"
    done
  fi
  [ $rc = 0 ] && change "gave /nix back to $owner:$group with the owners and modes recorded before"
  return $rc
}

# ---------------------------------------------------------------- 4. the owner's profile

apply_user_profile() {
  need_backup
  link=$home/.nix-profile
  if [ ! -f "$backup/nix-profile.saved" ]; then
    if [ -L "$link" ]; then readlink "$link" >"$backup/nix-profile.link"
    elif [ -e "$link" ]; then die "$link is not a symlink"
    else : >"$backup/nix-profile.absent"
    fi
    : >"$backup/nix-profile.saved"
  fi
  old=$(cat "$backup/nix-profile.link" 2>/dev/null)
  case "$old" in
    /nix/var/nix/profiles/default | /nix/var/nix/profiles/default/)
      # The old installers' layout: the user's generations are the default profile's. Every
      # generation gets a per-user link to the same user environment (the default profile stays
      # root's, holding what it held, as on any multi-user install).
      copied=0
      for l in /nix/var/nix/profiles/default-*-link; do
        [ -L "$l" ] || continue
        n=${l##*/default-}
        n=${n%-link}
        dest=$per_user_profiles/profile-$n-link
        if [ -L "$dest" ]; then
          [ "$(readlink "$dest")" = "$(readlink "$l")" ] || die "$dest exists and points elsewhere than $l"
          continue
        fi
        recorded created-links "$dest" || record created-links "$dest"
        ln -s "$(readlink "$l")" "$dest" && chown -h "$owner:$group" "$dest" || die "cannot link $dest"
        copied=$((copied + 1))
      done
      cur=$(readlink /nix/var/nix/profiles/default)
      n=${cur#default-}
      n=${n%-link}
      if [ ! -L "$per_user_profiles/profile" ]; then
        record created-links "$per_user_profiles/profile"
        ln -s "profile-$n-link" "$per_user_profiles/profile" && chown -h "$owner:$group" "$per_user_profiles/profile" || die "cannot link the profile"
      fi
      ln -sfn "$per_user_profiles/profile" "$link" && chown -h "$owner:$group" "$link" || die "cannot repoint $link"
      change "linked $copied generation(s) of /nix/var/nix/profiles/default as $per_user_profiles/profile-N-link (current: $n); $link -> $per_user_profiles/profile"
      ;;
    "$per_user_profiles/profile")
      echo "$link already points to $per_user_profiles/profile: nothing to move"
      ;;
    '')
      echo "$owner has no ~/.nix-profile: nothing to move"
      ;;
    *)
      die "$link points to $old, which NixFleet does not know how to carry over"
      ;;
  esac
  if [ -L "$per_user_profiles/channels" ]; then
    echo "channels of $owner kept in $per_user_profiles/channels: $(ls "$per_user_profiles/channels/" | grep -v '^manifest.nix$' | tr '\n' ' ')"
  fi
  # Check: the profile still resolves to a user environment in the store.
  if [ -n "$old" ]; then
    target=$(readlink -f "$link")
    case "$target" in /nix/store/*) ;; *) die "check failed: $link resolves to '$target'" ;; esac
  fi
}

revert_user_profile() {
  [ -n "$backup" ] && [ -f "$backup/nix-profile.saved" ] || return 0
  link=$home/.nix-profile
  if [ -f "$backup/created-links" ]; then
    while read -r l; do
      [ -L "$l" ] && rm -f "$l"
    done <"$backup/created-links"
    change "removed the per-user generation links NixFleet made"
  fi
  if [ -f "$backup/nix-profile.link" ]; then
    old=$(cat "$backup/nix-profile.link")
    if [ "$(readlink "$link")" != "$old" ]; then
      ln -sfn "$old" "$link" && chown -h "$owner:$group" "$link" && change "$link -> $old again"
    fi
  fi
  return 0
}

# ---------------------------------------------------------------- 5. the daemon

daemon_started() {
  i=0
  while [ $i -lt 100 ]; do
    [ -S "$socket" ] && NIX_REMOTE=daemon nix_tool nix-store -q --hash "$(readlink -f /nix/var/nix/profiles/per-user/"$owner"/profile 2>/dev/null || ls -d /nix/store/*-* | head -n 1)" >/dev/null 2>&1 && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

unit_service() {
  cat <<EOF
# Installed by NixFleet (multi-user Nix). See /nix/var/nix/nixfleet-receipt.json.
[Unit]
Description=Nix Daemon
Documentation=man:nix-daemon
RequiresMountsFor=/nix/store
RequiresMountsFor=/nix/var
ConditionPathIsReadWrite=/nix/var/nix/daemon-socket

[Service]
ExecStart=$daemon_bin --daemon
KillMode=process
LimitNOFILE=1048576
TasksMax=1048576

[Install]
WantedBy=multi-user.target
EOF
}

unit_socket() {
  cat <<'EOF'
# Installed by NixFleet (multi-user Nix). See /nix/var/nix/nixfleet-receipt.json.
[Unit]
Description=Nix Daemon Socket
Before=multi-user.target
RequiresMountsFor=/nix/store
ConditionPathIsReadWrite=/nix/var/nix/daemon-socket

[Socket]
ListenStream=/nix/var/nix/daemon-socket/socket

[Install]
WantedBy=sockets.target
EOF
}

init_script() {
  cat <<EOF
#!/bin/sh
### BEGIN INIT INFO
# Provides:          nix-daemon
# Required-Start:    \$remote_fs \$syslog
# Required-Stop:     \$remote_fs \$syslog
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: Nix daemon (multi-user Nix builds)
### END INIT INFO
# Installed by NixFleet (multi-user Nix). See /nix/var/nix/nixfleet-receipt.json.
DAEMON=$daemon_bin
PIDFILE=/run/nix-daemon.pid
[ -x "\$DAEMON" ] || exit 0
case "\$1" in
  start)
    mkdir -p /nix/var/nix/daemon-socket
    start-stop-daemon --start --quiet --background --make-pidfile --pidfile "\$PIDFILE" --exec "\$DAEMON" -- --daemon
    ;;
  stop)
    start-stop-daemon --stop --quiet --retry 5 --pidfile "\$PIDFILE" --exec "\$DAEMON"
    rm -f "\$PIDFILE"
    ;;
  restart | force-reload)
    "\$0" stop
    "\$0" start
    ;;
  status)
    start-stop-daemon --status --pidfile "\$PIDFILE" --exec "\$DAEMON"
    ;;
  *)
    echo "Usage: \$0 {start|stop|restart|force-reload|status}" >&2
    exit 3
    ;;
esac
EOF
}

supervisor_script() {
  cat <<EOF
#!/bin/sh
# Installed by NixFleet (multi-user Nix) on a host without an init system it knows: keeps
# nix-daemon running, starting it again a second after it exits. It does not come back after a
# reboot. See /nix/var/nix/nixfleet-receipt.json.
trap 'kill \$child 2>/dev/null; exit 0' TERM INT
while :; do
  $daemon_bin --daemon &
  child=\$!
  wait \$child
  sleep 1
done
EOF
}

# Files NixFleet writes or edits: the first time, the file as it was is kept in $backup/files
# (or its absence recorded), and its path is listed in $backup/files.list.
file_key() { printf '%s' "$1" | md5sum | cut -c1-16; }
save_file() { # PATH
  k=$(file_key "$1")
  recorded files.list "$1" && return 0
  mkdir -p "$backup/files"
  if [ -e "$1" ]; then cp -p "$1" "$backup/files/$k" || die "cannot back up $1"; else : >"$backup/files/$k.absent"; fi
  record files.list "$1"
}

install_file() { # PATH MODE < content
  save_file "$1"
  mkdir -p "$(dirname "$1")"
  cat >"$1.nixfleet-tmp" && chmod "$2" "$1.nixfleet-tmp" && mv -f "$1.nixfleet-tmp" "$1" || die "cannot write $1"
}

restore_file() { # PATH: back as it was before save_file, byte for byte (owner, mode and times too)
  recorded files.list "$1" || return 0
  k=$(file_key "$1")
  if [ -e "$backup/files/$k" ]; then
    cp -p "$backup/files/$k" "$1" && change "restored $1 from its backup"
  elif [ -e "$1" ]; then
    rm -f "$1" && change "removed $1 (there was none)"
  fi
}

# Debian's nix-setup-systemd lets only the group of its tmpfiles rule reach the daemon socket
# (d /nix/var/nix/daemon-socket 770 root nix-users): the store's owner joins that group, and the
# rule is applied now rather than at the next boot.
socket_access() {
  rule=$(cat /etc/tmpfiles.d/nix-daemon.conf /run/tmpfiles.d/nix-daemon.conf /usr/lib/tmpfiles.d/nix-daemon.conf 2>/dev/null |
    awk '$1 == "d" && $2 == "/nix/var/nix/daemon-socket" { print $3, $5; exit }')
  [ -n "$rule" ] || return 0
  socket_group=${rule#* }
  case "$socket_group" in '' | - | root) return 0 ;; esac
  getent group "$socket_group" >/dev/null || return 0
  if ! id -nG "$owner" | tr ' ' '\n' | grep -qxF "$socket_group"; then
    recorded added-groups "$socket_group" || record added-groups "$socket_group"
    usermod -aG "$socket_group" "$owner" || die "cannot add $owner to group $socket_group"
    change "added $owner to group $socket_group: this host's tmpfiles rule lets only that group reach the daemon socket (Debian's nix-setup-systemd)"
  fi
  systemd-tmpfiles --create --prefix=/nix/var/nix/daemon-socket 2>/dev/null
  return 0
}

apply_daemon() {
  need_backup
  [ -x "$daemon_bin" ] || die "no nix-daemon at $daemon_bin"
  for d in /nix/var/nix/daemon-socket /nix/var/nix/userpool; do
    [ -d "$d" ] || recorded created-dirs "$d" || record created-dirs "$d"
  done
  mkdir -p /nix/var/nix/daemon-socket
  case "$init" in
    systemd)
      unit_service | install_file /etc/systemd/system/nix-daemon.service 644
      unit_socket | install_file /etc/systemd/system/nix-daemon.socket 644
      systemctl daemon-reload || die "systemctl daemon-reload failed"
      systemctl enable nix-daemon.socket nix-daemon.service || die "systemctl enable failed"
      socket_access
      # The socket cannot be restarted while its service runs (a resumed step finds both up).
      systemctl stop nix-daemon.service 2>/dev/null
      systemctl restart nix-daemon.socket || die "nix-daemon.socket did not start: $(systemctl status nix-daemon.socket 2>&1 | tail -n 5)"
      systemctl start nix-daemon.service || die "nix-daemon.service did not start: $(systemctl status nix-daemon.service 2>&1 | tail -n 5)"
      change "installed, enabled and started nix-daemon.socket and nix-daemon.service (systemd; $daemon_bin)"
      ;;
    sysv)
      init_script | install_file /etc/init.d/nix-daemon 755
      if command -v update-rc.d >/dev/null 2>&1; then update-rc.d nix-daemon defaults >/dev/null || die "update-rc.d failed"
      elif command -v chkconfig >/dev/null 2>&1; then chkconfig --add nix-daemon || die "chkconfig failed"
      else
        for r in 2 3 4 5; do mkdir -p /etc/rc$r.d && ln -sfn ../init.d/nix-daemon /etc/rc$r.d/S60nix-daemon; done
      fi
      /etc/init.d/nix-daemon start || die "/etc/init.d/nix-daemon start failed"
      change "installed /etc/init.d/nix-daemon, enabled it for runlevels 2-5 and started it (SysV init; $daemon_bin)"
      ;;
    none)
      supervisor_script | install_file "$supervisor" 755
      if [ -f /run/nixfleet-nix-daemon.pid ] && kill -0 "$(cat /run/nixfleet-nix-daemon.pid)" 2>/dev/null; then
        echo "the supervised nix-daemon already runs"
      else
        setsid "$supervisor" </dev/null >>/var/log/nixfleet-nix-daemon.log 2>&1 &
        echo $! >/run/nixfleet-nix-daemon.pid
      fi
      change "started nix-daemon as a supervised background process ($supervisor, log /var/log/nixfleet-nix-daemon.log): this host has no init system NixFleet knows, so it does not start again after a reboot"
      ;;
    *) die "no init system given" ;;
  esac
  daemon_started || die "check failed: nix-daemon does not answer on $socket"
  echo "nix-daemon answers on $socket"
}

revert_daemon() {
  [ -n "$backup" ] && [ -d "$backup" ] || return 0
  rc=0
  case "$init" in
    systemd)
      if recorded files.list /etc/systemd/system/nix-daemon.service; then
        systemctl disable --now nix-daemon.socket nix-daemon.service 2>/dev/null
        systemctl stop nix-daemon.service nix-daemon.socket 2>/dev/null
        if [ -f "$backup/added-groups" ]; then
          while read -r g; do gpasswd -d "$owner" "$g" >/dev/null && change "removed $owner from group $g"; done <"$backup/added-groups"
        fi
        restore_file /etc/systemd/system/nix-daemon.service
        restore_file /etc/systemd/system/nix-daemon.socket
        systemctl daemon-reload || rc=1
        change "stopped and disabled nix-daemon (systemd)"
      fi
      ;;
    sysv)
      if recorded files.list /etc/init.d/nix-daemon; then
        [ -x /etc/init.d/nix-daemon ] && /etc/init.d/nix-daemon stop
        if command -v update-rc.d >/dev/null 2>&1; then update-rc.d -f nix-daemon remove >/dev/null
        elif command -v chkconfig >/dev/null 2>&1; then chkconfig --del nix-daemon
        else rm -f /etc/rc[2345].d/S60nix-daemon
        fi
        restore_file /etc/init.d/nix-daemon
        change "stopped and removed nix-daemon (SysV init)"
      fi
      ;;
    none)
      if [ -f /run/nixfleet-nix-daemon.pid ]; then
        kill "$(cat /run/nixfleet-nix-daemon.pid)" 2>/dev/null && change "stopped the supervised nix-daemon"
        rm -f /run/nixfleet-nix-daemon.pid
      fi
      restore_file "$supervisor"
      ;;
  esac
  # Nothing of the daemon may stay: a daemon (or a build of its) on a store given back to a user.
  i=0
  while [ $i -lt 50 ]; do
    pids=$(ps -eo pid=,comm= | awk '$2 == "nix-daemon" { print $1 }')
    [ -z "$pids" ] && break
    # shellcheck disable=SC2086
    [ $i = 20 ] && kill $pids 2>/dev/null
    sleep 0.1
    i=$((i + 1))
  done
  if [ -n "$pids" ]; then echo "nix-daemon still runs: $pids" >&2; rc=1
  elif [ $i -gt 20 ]; then change "stopped the remaining nix-daemon processes"
  fi
  rm -f "$socket"
  # The socket's directory and the daemon's build-user locks, when this conversion made them.
  if [ -f "$backup/created-dirs" ]; then
    for d in /nix/var/nix/daemon-socket /nix/var/nix/userpool; do
      recorded created-dirs "$d" && [ -d "$d" ] && rm -rf "$d"
    done
  fi
  return $rc
}

# ---------------------------------------------------------------- 6. login profile

profile_script_text() {
  cat <<'EOF'
# Installed by NixFleet: multi-user Nix for login shells. See /nix/var/nix/nixfleet-receipt.json.
# Users reach the store through nix-daemon; each has a profile in /nix/var/nix/profiles/per-user.
if [ -n "${HOME:-}" ] && [ -n "${USER:-}" ] && [ -z "${__NIXFLEET_NIX_DAEMON_SOURCED:-}" ]; then
  __NIXFLEET_NIX_DAEMON_SOURCED=1
  if [ "$USER" != root ] || [ ! -w /nix/var/nix/db ]; then
    export NIX_REMOTE=daemon
  fi
  NIX_USER_PROFILE_DIR=/nix/var/nix/profiles/per-user/$USER
  if [ -w "$HOME" ] && [ ! -L "$HOME/.nix-profile" ]; then
    if [ "$USER" != root ]; then
      ln -s "$NIX_USER_PROFILE_DIR/profile" "$HOME/.nix-profile"
    else
      ln -s /nix/var/nix/profiles/default "$HOME/.nix-profile"
    fi
  fi
  export NIX_PROFILES="/nix/var/nix/profiles/default $HOME/.nix-profile"
  for i in /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-bundle.crt /etc/pki/tls/certs/ca-bundle.crt; do
    if [ -z "${NIX_SSL_CERT_FILE:-}" ] && [ -e "$i" ]; then export NIX_SSL_CERT_FILE=$i; fi
  done
  export PATH="$HOME/.nix-profile/bin:/nix/var/nix/profiles/default/bin:$PATH"
  unset i NIX_USER_PROFILE_DIR
fi
EOF
}

apply_login_profile() {
  need_backup
  profile_script_text | install_file "$profile_script" 644
  change "installed $profile_script (NIX_REMOTE=daemon, per-user profile, PATH)"
  for f in .profile .bash_profile .bash_login .bashrc .zshenv .zshrc .zprofile; do
    p=$home/$f
    [ -f "$p" ] || continue
    grep -q '\.nix-profile/etc/profile\.d/nix\.sh' "$p" || continue
    save_file "$p"
    record edited.list "$p"
    sed -i 's|^.*\.nix-profile/etc/profile\.d/nix\.sh.*$|if [ -e /etc/profile.d/nix-daemon.sh ]; then . /etc/profile.d/nix-daemon.sh; fi # NixFleet: multi-user Nix (was the single-user nix.sh)|' "$p" ||
      die "cannot edit $p"
    change "$p: the line sourcing the single-user nix.sh now sources $profile_script (backup kept)"
  done
  [ -f "$profile_script" ] && sh -n "$profile_script" || die "check failed: $profile_script is not a valid script"
  # Check: a login shell of the owner gets the daemon.
  got=$(runuser -u "$owner" -- sh -c ". $profile_script; echo \$NIX_REMOTE" 2>/dev/null)
  [ "$got" = daemon ] || die "check failed: a shell of $owner gets NIX_REMOTE='$got' from $profile_script"
}

revert_login_profile() {
  [ -n "$backup" ] && [ -f "$backup/files.list" ] || return 0
  if [ -f "$backup/edited.list" ]; then
    while read -r p; do restore_file "$p"; done <"$backup/edited.list"
  fi
  restore_file "$profile_script"
  return 0
}

# ---------------------------------------------------------------- 7. verify

apply_verify() {
  section daemon-root
  NIX_REMOTE=daemon nix_tool nix-store --store daemon -q --hash "$(readlink -f "$home/.nix-profile" 2>/dev/null || ls -d /nix/store/*-* | head -n 1)" 2>&1 | body
  section daemon-user
  runuser -u "$owner" -- env NIX_REMOTE=daemon "$(command -v nix-store 2>/dev/null || echo "$(dirname "$daemon_bin")/nix-store")" \
    --store daemon -q --hash "$(readlink -f "$home/.nix-profile" 2>/dev/null || ls -d /nix/store/*-* | head -n 1)" 2>&1 | body
  section packages
  runuser -u "$owner" -- sh -c 'NIX_REMOTE=daemon; export NIX_REMOTE; PATH=$HOME/.nix-profile/bin:$PATH; nix-env -q' 2>&1 | body
  section generations
  for l in "$per_user_profiles"/profile-*-link; do [ -L "$l" ] && echo "${l##*/} $(readlink "$l")"; done | body
  section build
  # A derivation no store has yet (the nonce), built by the daemon with no substituters. Its
  # builder records the UID it ran as; in a sandbox, uid_map names the real one outside.
  expr="derivation { name = \"nixfleet-convert-check\"; system = builtins.currentSystem; builder = \"/bin/sh\"; nonce = \"$nonce\"; args = [ \"-c\" \"while read -r k v rest; do case \$k in Uid:) u=\$v;; esac; done < /proc/self/status; read -r a b c < /proc/self/uid_map; echo \$u \$a \$b \$c > \$out\" ]; }"
  out=$(runuser -u "$owner" -- sh -c 'NIX_REMOTE=daemon; export NIX_REMOTE; cd /tmp && exec "$0" --no-out-link --option substituters "" -E "$1"' \
    "$(dirname "$daemon_bin")/nix-build" "$expr" 2>/dev/null | tail -n 1)
  if [ -n "$out" ] && [ -f "$out" ]; then
    read -r u inside outside count <"$out"
    # uid_map "0 0 4294967295" is no user namespace: the Uid line is the real one.
    if [ "$count" = 1 ]; then real=$outside; else real=$u; fi
    echo "$out $real $(getent passwd "$real" | cut -d: -f1)" | body
  fi
  section modes
  stat -c '%U:%G %a %n' /nix /nix/store /nix/var/nix/profiles/per-user /nix/var/nix/gcroots/per-user "$per_user_profiles" "$per_user_roots" 2>&1 | body
}

revert_verify() { return 0; }

# ---------------------------------------------------------------- receipt

write_receipt() {
  tmp=$receipt.tmp
  cat >"$tmp" && chmod 644 "$tmp" && mv -f "$tmp" "$receipt" || die "cannot write $receipt"
  # Owned as /nix/var/nix is: a store given back to its user keeps nothing of root's.
  chown "$(stat -c %u:%g /nix/var/nix)" "$receipt"
}

case "$action:$step" in
  probe:preflight) probe ;;
  probe:running) running_steps ;;
  apply:build-users) apply_build_users ;;
  apply:nix-conf) apply_nix_conf ;;
  apply:store-ownership) apply_store_ownership ;;
  apply:user-profile) apply_user_profile ;;
  apply:daemon) apply_daemon ;;
  apply:login-profile) apply_login_profile ;;
  apply:verify) apply_verify ;;
  revert:build-users) revert_build_users ;;
  revert:nix-conf) revert_nix_conf ;;
  revert:store-ownership) revert_store_ownership ;;
  revert:user-profile) revert_user_profile ;;
  revert:daemon) revert_daemon ;;
  revert:login-profile) revert_login_profile ;;
  revert:verify) revert_verify ;;
  receipt:write) write_receipt ;;
  render:systemd-service) unit_service ;;
  render:systemd-socket) unit_socket ;;
  render:sysv-init) init_script ;;
  render:supervisor) supervisor_script ;;
  render:profile-script) profile_script_text ;;
  *) die "unknown action $action $step" ;;
esac
