#!/bin/sh
# switch-to-configuration of a NixFleet test "NixOS" system (template: @out@ is
# replaced by the system's own store path at build time). Usage like NixOS:
#   switch-to-configuration switch|boot|test|dry-activate
# switch, test: repoint /run/current-system to this system.
# Every successful run appends "<unix-time> <mode> <store path>" to
#   /var/lib/nixfleet-test/activations
# Fault injection: if NIXFLEET_FAIL_ACTIVATION is non-empty or
# /etc/nixfleet-test/fail-activation exists (empty, or naming this system's store
# path on a line of its own), it prints an error, appends the same kind of line to
# /var/lib/nixfleet-test/activations.failed instead, leaves /run/current-system
# alone and exits 1. /etc/nixfleet-test/slow-activation holding a number of
# seconds makes every activation take that much longer (to interrupt it).
self="@out@"
mode="$1"
case "$mode" in
  switch|boot|test|dry-activate) ;;
  *)
    echo "Usage: $0 [switch|boot|test|dry-activate]" >&2
    exit 1
    ;;
esac
/bin/mkdir -p /var/lib/nixfleet-test
if [ -r /etc/nixfleet-test/slow-activation ]; then
  echo "activation slowed down by the test host: $(/bin/cat /etc/nixfleet-test/slow-activation) s" >&2
  /bin/sleep "$(/bin/cat /etc/nixfleet-test/slow-activation)"
fi
now="$(/bin/date +%s)"
fail=/etc/nixfleet-test/fail-activation
if [ -n "${NIXFLEET_FAIL_ACTIVATION:-}" ] || { [ -e $fail ] && { [ ! -s $fail ] || /bin/grep -qxF "$self" $fail; }; }; then
  echo "activating the configuration..." >&2
  echo "error: activation of $self failed (fault injected by NixFleet test host)" >&2
  echo "$now $mode $self" >> /var/lib/nixfleet-test/activations.failed
  exit 1
fi
case "$mode" in
  switch|test)
    echo "activating the configuration..." >&2
    echo "setting up /etc..." >&2
    /bin/ln -sfn "$self" /run/current-system
    ;;
  boot)
    echo "updating GRUB 2 menu..." >&2
    ;;
  dry-activate)
    echo "would activate the configuration..." >&2
    ;;
esac
echo "$now $mode $self" >> /var/lib/nixfleet-test/activations
exit 0
