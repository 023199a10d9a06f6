# NixFleet: remote build machines (Nix's distributed builds), on the client and on the builder.
# Runs as root with sh -c, one action per call:
#   sh -c SCRIPT nixfleet-builders key                                  (client: root's key pair)
#   sh -c SCRIPT nixfleet-builders apply substitutes=true|false [max-jobs=N] < framed input
#   sh -c SCRIPT nixfleet-builders restore                              (client: as before NixFleet)
#   sh -c SCRIPT nixfleet-builders verify nonce=NONCE uri=ssh://USER@HOST...
#   sh -c SCRIPT nixfleet-builders authorize user=USER client=NAME key='TYPE BASE64'   (builder)
#   sh -c SCRIPT nixfleet-builders unauthorize user=USER client=NAME                  (builder)
# It is a constant: every value arrives as a key=value argument (or, for apply, as stdin) and is
# checked below before anything else. The framed input of apply has three sections, each line
# prefixed with '|': "@@machines" (lines of /etc/nix/machines), "@@ssh-config" (Host blocks for
# builders behind an alias) and "@@known-hosts" (root's known_hosts lines); every line is checked
# against the only shapes NixFleet renders. Every action is idempotent; "nixfleet-change: ..."
# lines say what changed, "@@diff PATH" sections show how. A file is backed up the first time it
# is touched, under /var/lib/nixfleet/builders/{client,builder}: restore puts it back byte for byte.
cd / || exit 1
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/nix/var/nix/profiles/default/bin:/run/current-system/sw/bin
LC_ALL=C
export PATH LC_ALL
umask 022

die() { printf 'nixfleet-builders: %s\n' "$*" >&2; exit 1; }
change() { printf 'nixfleet-change: %s\n' "$*"; }
section() { printf '\n@@%s\n' "$1"; }
body() { sed 's/^/|/'; }

action=${1:-}
[ $# -ge 1 ] && shift
user='' client='' key='' max_jobs='' substitutes='' nonce='' uris=''
for kv in "$@"; do
  case "$kv" in
    user=*) user=${kv#user=} ;;
    client=*) client=${kv#client=} ;;
    key=*) key=${kv#key=} ;;
    max-jobs=*) max_jobs=${kv#max-jobs=} ;;
    substitutes=*) substitutes=${kv#substitutes=} ;;
    nonce=*) nonce=${kv#nonce=} ;;
    uri=*)
      u=${kv#uri=}
      case "$u" in ssh://[a-z_]*@[A-Za-z0-9]*) ;; *) die "bad uri" ;; esac
      case "${u#ssh://}" in *[!a-z0-9_@A-Z.-]* | *@*@*) die "bad uri" ;; esac
      uris="$uris $u"
      ;;
    *) die "unknown argument" ;;
  esac
done
case "$user" in '') ;; *[!a-z0-9_-]* | [!a-z_]*) die "bad user" ;; esac
[ ${#user} -le 32 ] || die "bad user"
case "$client" in '') ;; [!A-Za-z0-9]* | *[!A-Za-z0-9_.-]*) die "bad client name" ;; esac
case "$max_jobs" in '') ;; *[!0-9]* | ?????*) die "bad max-jobs" ;; esac
case "$substitutes" in '' | true | false) ;; *) die "bad substitutes" ;; esac
case "$nonce" in *[!a-z0-9]*) die "bad nonce" ;; esac
if [ -n "$key" ]; then
  case "$key" in *' '*) ;; *) die "bad key" ;; esac
  key_type=${key%% *}
  key_blob=${key#* }
  case "$key_type" in
    ssh-ed25519 | ssh-rsa | ecdsa-sha2-nistp256 | ecdsa-sha2-nistp384 | ecdsa-sha2-nistp521 | sk-ssh-ed25519@openssh.com | sk-ecdsa-sha2-nistp256@openssh.com) ;;
    *) die "bad key" ;;
  esac
  case "$key_blob" in '' | *[!A-Za-z0-9+/=]*) die "bad key" ;; esac
  printf '%s' "$key_blob" | base64 -d >/dev/null 2>&1 || die "bad key"
fi

conf=/etc/nix/nix.conf
machines=/etc/nix/machines
ssh_key=/root/.ssh/nixfleet-builder_ed25519
begin_mark='# BEGIN NixFleet remote builders (written by NixFleet; replaced on every change)'
end_mark='# END NixFleet remote builders'
nix_cmd() { nix --extra-experimental-features nix-command "$@"; }

# ---------------------------------------------------------------- backups

# The first time a file is touched it is copied (or its absence recorded) into $backup/files,
# and its path listed in $backup/files.list.
file_key() { printf '%s' "$1" | md5sum | cut -c1-16; }
save_file() { # PATH
  mkdir -p "$backup/files" && chmod 700 "$backup" || die "cannot create $backup"
  [ -f "$backup/files.list" ] && grep -qxF -- "$1" "$backup/files.list" && return 0
  k=$(file_key "$1")
  if [ -e "$1" ]; then cp -p "$1" "$backup/files/$k" || die "cannot back up $1"; else : >"$backup/files/$k.absent"; fi
  printf '%s\n' "$1" >>"$backup/files.list"
}

# Replaces PATH with the content of NEW (a temporary file), keeping PATH's owner and mode, or
# MODE when it is new; prints a change line and a diff when the content differs, and adds PATH
# to $written.
written=''
write_file() { # PATH NEW MODE WHAT
  if [ -e "$1" ] && cmp -s "$1" "$2"; then rm -f "$2"; return 0; fi
  save_file "$1"
  section "diff $1"
  if [ -e "$1" ]; then old=$1; else old=/dev/null; fi
  diff -u --label "$1 (before)" --label "$1" "$old" "$2" | body
  if [ -e "$1" ]; then chown --reference="$1" "$2" && chmod --reference="$1" "$2"; else chmod "$3" "$2"; fi || die "cannot write $1"
  mv -f "$2" "$1" || die "cannot write $1"
  written="$written $1"
  change "$4"
}

restore_file() { # PATH: as it was before save_file, byte for byte (owner, mode and times too)
  k=$(file_key "$1")
  if [ -e "$backup/files/$k" ]; then
    cmp -s "$backup/files/$k" "$1" 2>/dev/null && [ "$(stat -c %a:%U:%G "$1")" = "$(stat -c %a:%U:%G "$backup/files/$k")" ] && return 0
    section "diff $1"
    diff -u --label "$1 (before)" --label "$1" "$1" "$backup/files/$k" | body
    cp -p "$backup/files/$k" "$1" || die "cannot restore $1"
    written="$written $1"
    change "restored $1 from its backup"
  elif [ -e "$1" ]; then
    section "diff $1"
    diff -u --label "$1 (before)" --label "$1" "$1" /dev/null | body
    rm -f "$1" || die "cannot remove $1"
    written="$written $1"
    change "removed $1 (there was none)"
  fi
}

# ---------------------------------------------------------------- the daemon

daemon_answers() { nix_cmd store ping --store daemon >/dev/null 2>&1; }

gone() { # PID: waits up to 5 s for it to exit
  i=0
  while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  ! kill -0 "$1" 2>/dev/null
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# nix.conf is read when the daemon starts: restart it the way this host runs it.
restart_daemon() {
  if [ -d /run/systemd/system ]; then
    systemctl restart nix-daemon.service || die "systemctl restart nix-daemon.service failed"
    how="systemd: systemctl restart nix-daemon.service"
  elif alive /run/nixfleet-nix-daemon.pid; then
    # NixFleet's supervisor (see convert.sh) starts its nix-daemon again a second after it exits.
    child=$(ps -eo pid=,ppid=,comm= | awk -v p="$(cat /run/nixfleet-nix-daemon.pid)" '$2 == p && $3 == "nix-daemon" { print $1 }')
    [ -n "$child" ] || die "NixFleet's supervisor runs no nix-daemon"
    kill "$child" && gone "$child" || die "nix-daemon $child did not stop"
    how="NixFleet's supervisor: stopped its nix-daemon ($child), which it starts again"
  elif [ -x /etc/init.d/nix-daemon ]; then
    /etc/init.d/nix-daemon restart || die "/etc/init.d/nix-daemon restart failed"
    how="SysV init: /etc/init.d/nix-daemon restart"
  elif alive /run/nix-daemon.pid; then
    pid=$(cat /run/nix-daemon.pid)
    # The command it was started as: nix-daemon is often a link to the multi-call nix binary,
    # which acts by the name it is called by.
    cmd=$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)
    case "$cmd" in /*) ;; *) cmd=$(command -v "$cmd") || die "cannot find $cmd" ;; esac
    kill "$pid" && gone "$pid" || die "nix-daemon $pid did not stop"
    rm -f /nix/var/nix/daemon-socket/socket
    setsid "$cmd" --daemon </dev/null >>/var/log/nix-daemon.log 2>&1 &
    echo $! >/run/nix-daemon.pid
    how="no init system: stopped nix-daemon $pid (/run/nix-daemon.pid) and started $cmd --daemon with setsid"
  else
    die "no nix-daemon that NixFleet knows how to restart (systemd, SysV, NixFleet's supervisor, /run/nix-daemon.pid): remote builds go through the daemon of a multi-user install"
  fi
  i=0
  while ! daemon_answers; do
    [ $i -lt 100 ] || die "nix-daemon does not answer after the restart ($how)"
    sleep 0.1
    i=$((i + 1))
  done
  change "restarted nix-daemon ($how)"
}

# ---------------------------------------------------------------- client: key

client_key() {
  mkdir -p /root/.ssh && chmod 700 /root/.ssh || die "cannot create /root/.ssh"
  if [ ! -f "$ssh_key" ]; then
    command -v ssh-keygen >/dev/null || die "ssh-keygen not found (the OpenSSH client)"
    rm -f "$ssh_key.pub"
    ssh-keygen -q -t ed25519 -N '' -C "nixfleet-builders@$(cat /etc/hostname 2>/dev/null || hostname)" -f "$ssh_key" ||
      die "ssh-keygen failed"
    change "created root's key pair $ssh_key (ed25519, mode 0600, root:root) for the daemon's connections to builders"
  fi
  case "$(readlink -f "$ssh_key")" in /nix/store/*) die "$ssh_key is in the Nix store: refusing a world-readable private key" ;; esac
  chown root:root "$ssh_key" && chmod 600 "$ssh_key" || die "cannot set the mode of $ssh_key"
  [ -f "$ssh_key.pub" ] || ssh-keygen -y -f "$ssh_key" >"$ssh_key.pub" || die "cannot read $ssh_key"
  section public-key
  body <"$ssh_key.pub"
  section key-mode
  stat -c '%a %U:%G' "$ssh_key" | body
  section nixos
  if [ -e /etc/NIXOS ]; then echo yes; else echo no; fi | body
}

# ---------------------------------------------------------------- client: apply

# The lines of one section of the framed input.
input_section() { awk -v s="$1" '/^@@/ { cur = substr($0, 3) } /^\|/ && cur == s { print substr($0, 2) }' "$work/input"; }

# Fails on any line of the section that is not one of the shapes given (grep -E, whole lines).
check_lines() { # SECTION PATTERN
  bad=$(input_section "$1" | grep -Evx -- "$2" | head -n 1)
  [ -z "$bad" ] || die "bad $1 line: $bad"
}

# FILE without NixFleet's marked block.
unmarked() { [ -f "$1" ] && awk -v b="$begin_mark" -v e="$end_mark" '$0 == b { skip = 1 } !skip { print } $0 == e { skip = 0 }' "$1"; }

client_apply() {
  [ -e /etc/NIXOS ] && die "NixOS generates /etc/nix from configuration.nix: NixFleet does not write it; put the snippet it shows in configuration.nix"
  [ -n "$substitutes" ] || die "no substitutes=true|false given"
  backup=/var/lib/nixfleet/builders/client
  work=$(mktemp -d) || die "mktemp failed"
  trap 'rm -rf "$work"' EXIT
  cat >"$work/input"
  types='(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)'
  list='[A-Za-z0-9_.+-]+(,[A-Za-z0-9_.+-]+)*'
  check_lines machines "ssh://[a-z_][a-z0-9_-]*@[A-Za-z0-9.-]+ [a-z0-9_]+-[a-z0-9_]+(,[a-z0-9_]+-[a-z0-9_]+)* $ssh_key [0-9]{1,4} [0-9]{1,4} (-|$list) (-|$list) [A-Za-z0-9+/]+={0,2}"
  check_lines ssh-config 'Host nixfleet-builder-[a-z0-9-]+|  HostName [A-Za-z0-9.:-]+|  Port [0-9]{1,5}|  HostKeyAlias nixfleet-builder-[a-z0-9-]+'
  check_lines known-hosts "[A-Za-z0-9.:-]+ $types [A-Za-z0-9+/]+={0,2}"
  [ -n "$(input_section machines)" ] || die "no machines given"
  mkdir -p /etc/nix /root/.ssh || die "cannot create /etc/nix or /root/.ssh"

  { echo "# Remote build machines, written by NixFleet (replaced on every change). Format: nix.conf(5), builders."
    input_section machines; } >"$work/machines"
  write_file "$machines" "$work/machines" 644 "wrote $machines ($(input_section machines | wc -l) machine(s))"

  # nix.conf: every line kept but the settings NixFleet sets, which go at the end.
  keys='builders|builders-use-substitutes'
  [ -n "$max_jobs" ] && keys="$keys|max-jobs"
  { [ -f "$conf" ] && grep -v -E "^[[:space:]]*($keys)[[:space:]]*=" "$conf"
    echo "builders = @$machines"
    echo "builders-use-substitutes = $substitutes"
    [ -n "$max_jobs" ] && echo "max-jobs = $max_jobs"; } >"$work/nix.conf"
  write_file "$conf" "$work/nix.conf" 644 "set builders = @$machines, builders-use-substitutes = $substitutes${max_jobs:+, max-jobs = $max_jobs} in $conf (the rest of the file kept)"

  # Builders behind an alias (a port other than 22, an IPv6 address: Nix 2.8's ssh:// URIs take
  # neither). The block goes first, as ssh takes the first value it finds for each option; the
  # "Host *" after it keeps the lines that follow applying to every host, as they did.
  { if [ -n "$(input_section ssh-config)" ]; then
      echo "$begin_mark"
      input_section ssh-config
      echo "Host *"
      echo "$end_mark"
    fi
    unmarked /root/.ssh/config; } >"$work/ssh-config"
  if [ -e /root/.ssh/config ] || [ -s "$work/ssh-config" ]; then
    write_file /root/.ssh/config "$work/ssh-config" 600 "wrote the builders' Host aliases in /root/.ssh/config"
  fi

  # The builders' host keys for root's own ssh too (Nix gives ssh the machines file's key itself).
  { unmarked /root/.ssh/known_hosts
    if [ -n "$(input_section known-hosts)" ]; then
      echo "$begin_mark"
      input_section known-hosts
      echo "$end_mark"
    fi; } >"$work/known_hosts"
  if [ -e /root/.ssh/known_hosts ] || [ -s "$work/known_hosts" ]; then
    write_file /root/.ssh/known_hosts "$work/known_hosts" 600 "recorded the builders' host keys in /root/.ssh/known_hosts"
  fi

  case " $written " in *" $conf "*) restart_daemon ;; *) echo "$conf unchanged: the daemon keeps running" ;; esac
}

client_restore() {
  backup=/var/lib/nixfleet/builders/client
  if [ ! -f "$backup/files.list" ]; then
    echo "nothing to restore: NixFleet has not configured builders on this host"
    return 0
  fi
  while read -r f; do restore_file "$f"; done <"$backup/files.list"
  case " $written " in *" $conf "*) restart_daemon ;; esac
  # The next apply backs up the configuration as it is then.
  rm -rf "$backup"
}

# ---------------------------------------------------------------- client: verify

# A derivation only the builder can build (--max-jobs 0: nothing builds here), new every time
# (the nonce); its output is the name of the host it ran on.
check_expr='{ nonce, system }: derivation {
  name = "nixfleet-builder-check";
  inherit nonce system;
  builder = "/bin/sh";
  args = [ "-c" "if [ -r /etc/hostname ]; then read -r h < /etc/hostname; else h=$(/bin/hostname); fi; echo $h > $out" ];
}'

client_verify() {
  [ -n "$nonce" ] || die "no nonce given"
  [ -n "$uris" ] || die "no uri given"
  work=$(mktemp -d) || die "mktemp failed"
  trap 'rm -rf "$work"' EXIT
  section builders-setting
  nix_cmd show-config 2>/dev/null | grep -E '^builders = ' | body
  n=0
  for uri in $uris; do
    n=$((n + 1))
    line=$(awk -v u="$uri" '$1 == u { print; exit }' "$machines" 2>/dev/null)
    if [ -z "$line" ]; then
      section "missing $uri"
      continue
    fi
    set -f
    # shellcheck disable=SC2086
    set -- $line
    set +f
    query=''
    [ "${3:--}" != - ] && query="ssh-key=$3"
    [ "${8:--}" != - ] && query="${query:+$query&}base64-ssh-public-host-key=$8"
    section "ping $uri"
    timeout 60 nix --extra-experimental-features nix-command store ping --store "$uri${query:+?$query}" >"$work/ping" 2>&1
    rc=$?
    body <"$work/ping"
    section "ping-exit $uri"
    echo "$rc" | body
    [ "$rc" = 0 ] || continue
    start=$(date +%s%N)
    timeout 300 env NIX_REMOTE=daemon nix-build --no-out-link --max-jobs 0 --builders "$line" \
      -E "$check_expr" --argstr nonce "$nonce$n" --argstr system "${2%%,*}" >"$work/out" 2>"$work/err"
    rc=$?
    end=$(date +%s%N)
    section "build $uri"
    body <"$work/err"
    section "build-exit $uri"
    echo "$rc $start $end" | body
    section "output $uri"
    out=$(tail -n 1 "$work/out")
    if [ -n "$out" ] && [ -f "$out" ]; then printf '%s\n%s\n' "$out" "$(cat "$out")" | body; fi
  done
}

# ---------------------------------------------------------------- builder: authorize

# Whether USER is trusted by this host's Nix: named, '*', or through an @group in trusted-users.
trusted() {
  set -f
  # shellcheck disable=SC2046
  set -- $(nix_cmd show-config 2>/dev/null | sed -n 's/^trusted-users = //p')
  set +f
  for t in "$@"; do
    case "$t" in
      "$user" | '*') return 0 ;;
      @*) id -nG "$user" 2>/dev/null | tr ' ' '\n' | grep -qxF -- "${t#@}" && return 0 ;;
    esac
  done
  return 1
}

trust_line() { echo "extra-trusted-users = $user # NixFleet: remote builds"; }

# After NixFleet's lines are gone from FILE: if it is as it was before NixFleet (its content, but
# for the final newline added before NixFleet's line), put the backup back (owner, mode and times
# too) and forget it.
settle() { # FILE
  k=$(file_key "$1")
  [ -f "$backup/files.list" ] && grep -qxF -- "$1" "$backup/files.list" || return 0
  if [ -e "$backup/files/$k.absent" ]; then
    [ -e "$1" ] && [ -s "$1" ] && return 0
    rm -f "$1" "$backup/files/$k.absent"
  else
    [ "$(cat "$1")" = "$(cat "$backup/files/$k")" ] || return 0
    cp -p "$backup/files/$k" "$1" && rm -f "$backup/files/$k"
  fi
  grep -vxF -- "$1" "$backup/files.list" >"$backup/files.list.tmp"
  mv -f "$backup/files.list.tmp" "$backup/files.list"
}

builder_setup() {
  [ -n "$user" ] || die "no user given"
  [ -n "$client" ] || die "no client given"
  backup=/var/lib/nixfleet/builders/builder
  home=$(getent passwd "$user" | cut -d: -f6)
  [ -n "$home" ] || die "no user $user on this host"
  [ -d "$home" ] || die "$user's home $home does not exist"
  group=$(id -gn "$user") || die "no group for $user"
  auth=$home/.ssh/authorized_keys
  marker="nixfleet-builders:$client"
}

builder_authorize() {
  builder_setup
  [ -n "$key" ] || die "no key given"
  # On NixOS nix.conf is generated: a user Nix does not trust is the operator's to add.
  if ! trusted && [ -e /etc/NIXOS ]; then
    die "$user is not in trusted-users of this host's Nix, and NixOS generates nix.conf: add nix.settings.trusted-users = [ \"$user\" ]; to configuration.nix"
  fi
  section authorized
  if [ -f "$auth" ] && awk -v b="$key_blob" '{ for (i = 1; i <= NF; i++) if ($i == b) found = 1 } END { exit !found }' "$auth"; then
    echo already | body
  else
    save_file "$auth"
    if [ ! -d "$home/.ssh" ]; then
      install -d -m 700 -o "$user" -g "$group" "$home/.ssh" || die "cannot create $home/.ssh"
    fi
    if [ ! -e "$auth" ]; then
      install -m 600 -o "$user" -g "$group" /dev/null "$auth" || die "cannot create $auth"
    fi
    # A file without a final newline would run our line into its last one.
    [ -n "$(tail -c 1 "$auth")" ] && echo >>"$auth"
    printf 'restrict %s %s %s\n' "$key_type" "$key_blob" "$marker" >>"$auth" || die "cannot write $auth"
    change "authorized $client's key for $user in $auth (restrict, marked $marker)"
    echo added | body
  fi
  section trusted
  if trusted; then
    echo already | body
  else
    save_file "$conf"
    mkdir -p /etc/nix
    [ -f "$conf" ] && [ -n "$(tail -c 1 "$conf")" ] && echo >>"$conf"
    trust_line >>"$conf" || die "cannot write $conf"
    change "added $user to the trusted users of this host's Nix ($(trust_line) in $conf)"
    trusted || die "check failed: $user is still not trusted after editing $conf"
    restart_daemon
    echo added | body
  fi
}

builder_unauthorize() {
  builder_setup
  if [ -f "$auth" ] && awk -v m="$marker" '$NF == m { found = 1 } END { exit !found }' "$auth"; then
    awk -v m="$marker" '$NF != m' "$auth" >"$auth.nixfleet-tmp" && cat "$auth.nixfleet-tmp" >"$auth" && rm -f "$auth.nixfleet-tmp" ||
      die "cannot write $auth"
    change "removed $client's key from $auth"
  fi
  # trusted-users goes back as it was once no NixFleet client is left for this user.
  if [ -f "$auth" ] && awk '$NF ~ /^nixfleet-builders:/ { found = 1 } END { exit !found }' "$auth"; then
    echo "other NixFleet clients still use $user: trusted-users stays"
  elif [ -f "$conf" ] && grep -qxF -- "$(trust_line)" "$conf"; then
    grep -vxF -- "$(trust_line)" "$conf" >"$conf.nixfleet-tmp" && cat "$conf.nixfleet-tmp" >"$conf" && rm -f "$conf.nixfleet-tmp" ||
      die "cannot write $conf"
    settle "$conf"
    change "removed $user from the trusted users of this host's Nix"
    restart_daemon
  fi
  [ -f "$auth" ] && settle "$auth"
  [ -s "$backup/files.list" ] || rm -rf "$backup"
  return 0
}

case "$action" in
  key) client_key ;;
  apply) client_apply ;;
  restore) client_restore ;;
  verify) client_verify ;;
  authorize) builder_authorize ;;
  unauthorize) builder_unauthorize ;;
  *) die "unknown action $action" ;;
esac
