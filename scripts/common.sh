# Shared by run.sh and test.sh: install what is missing, and only that.

log() { printf '==> %s\n' "$*" >&2; }

require_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "Run this as root: $1." >&2
    exit 1
  fi
}

# ensure_packages PKG... : apt-get installs the Debian packages that are not installed yet.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "Missing Debian packages: ${missing[*]}. Install them (as root: apt-get install ${missing[*]}) or run this as root." >&2
    exit 1
  fi
  log "installing ${missing[*]}"
  # Keep package scripts from starting services: the machine's own sshd would take port 22 on
  # every address, where the test hosts listen.
  local policy=/usr/sbin/policy-rc.d ours=0
  if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy && ours=1; fi
  local rc=0
  { DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } || rc=$?
  [ $ours = 1 ] && rm -f $policy
  return $rc
}

# The front-end packages (Tabler, htmx) come from npm at build time.
ensure_node() {
  command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1 && return 0
  ensure_packages nodejs npm
}

# print_summary DIR : adds up the TRX files in DIR into one closing line.
print_summary() {
  local total=0 passed=0 failed=0 skipped=0 f t p fl
  for f in "$1"/*.trx; do
    [ -f "$f" ] || continue
    t=$(grep -o '<Counters [^>]*' "$f" | grep -o ' total="[0-9]*"' | grep -o '[0-9]*' || echo 0)
    p=$(grep -o '<Counters [^>]*' "$f" | grep -o ' passed="[0-9]*"' | grep -o '[0-9]*' || echo 0)
    fl=$(grep -o '<Counters [^>]*' "$f" | grep -o ' failed="[0-9]*"' | grep -o '[0-9]*' || echo 0)
    total=$((total + t)); passed=$((passed + p)); failed=$((failed + fl))
  done
  skipped=$((total - passed - failed))
  echo
  echo "$passed passed, $failed failed, $skipped skipped"
}
