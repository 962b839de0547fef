#!/usr/bin/env bash
# Runs inside the VM as root (see run.sh): a system bus, two linked virtual LE controllers,
# the real bluetoothd, then the mocha suite of this folder. The lock side takes hci1 and the
# gateway under test hci0; both only meet through bluetoothd and the virtual radio.
set -euo pipefail
# run.sh wrote the paths into the run folder, which init mounted at its own path.
for arg in $(cat /proc/cmdline); do case $arg in bluezvm.work=*) WORK=${arg#bluezvm.work=} ;; esac; done
# shellcheck disable=SC1091
. "${WORK:?no bluezvm.work= on the kernel command line}/env"
export PATH="$HOST_PATH:/usr/sbin:/sbin" HOME=/tmp
cd "$ROOT"

say() { echo "bluez-vm guest: $*"; }
finish() {
  local code=$?
  echo "$code" > "$WORK/status"
  # Keep the daemons' own logs with the run; the tmpfs they wrote to dies with the VM.
  kill "$(jobs -p)" 2>/dev/null || true
  sleep 0.5
  say "done ($code)"
}
trap finish EXIT

wait_for() { # seconds, description, command...
  local n=$(($1 * 10)) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    n=$((n - 1)); [ "$n" -gt 0 ] || { say "timed out waiting for $what"; return 1; }
    sleep 0.1
  done
}

mkdir -p /run/dbus /var/lib/bluetooth
dbus-daemon --system --nofork --nopidfile --nosyslog > "$WORK/dbus.log" 2>&1 &
wait_for 10 "the system bus" test -S /run/dbus/system_bus_socket

btvirt -L -l2 > "$WORK/btvirt.log" 2>&1 &
wait_for 10 "two virtual controllers" test -e /sys/class/bluetooth/hci1

/usr/libexec/bluetooth/bluetoothd -n -d > "$WORK/bluetoothd.log" 2>&1 &
wait_for 15 "bluetoothd on the bus" dbus-send --system --print-reply --dest=org.bluez /org/bluez/hci1 \
  org.freedesktop.DBus.Properties.Get string:org.bluez.Adapter1 string:Address
say "bluetoothd $(/usr/libexec/bluetooth/bluetoothd --version) up after $(cut -d' ' -f1 /proc/uptime) s"

# The suite was bundled on the host (run.sh): under TCG, transpiling and resolving hundreds of
# modules over 9p took minutes, one plain file takes seconds.
args=(--no-config --reporter "$ROOT/test/support/counting-reporter.cjs" --timeout 30000 --exit)
[ -z "${BLUEZ_VM_GREP:-}" ] || args+=(--grep "$BLUEZ_VM_GREP")
export MOCHA_COUNTS_FILE="$WORK/counts" MOCHA_SUITE_NAME=bluez-vm BLUEZ_SOAK_CYCLES BLUEZ_VM_VERBOSE
# For test/support/homebridge.ts: the source tree (the suite runs from a bundle), dist/ built on
# the host, and Homebridge's start-up at TCG speed.
export IGRS_ROOT="$ROOT" IGRS_PREBUILT=1 IGRS_HOMEBRIDGE_START_MS=240000
say "mocha starts at $(cut -d' ' -f1 /proc/uptime) s"
"$NODE" "$ROOT/node_modules/mocha/bin/mocha.js" "${args[@]}" "$WORK"/suite/*.bluez.mjs 2>&1 | tee "$WORK/mocha.log"
