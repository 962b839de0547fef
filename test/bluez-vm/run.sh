#!/usr/bin/env bash
# `npm run test:bluez`: the plugin's BLE tests against the real BlueZ stack. Builds the VM image
# once (cached in .cache/bluez-vm), boots it, and runs guest.sh inside it: a system bus, two
# linked virtual controllers (btvirt), bluetoothd, then mocha with the lock on hci1 and the
# gateway on hci0. Prints the guest's counts and appends them to $MOCHA_COUNTS_FILE (.ci/run
# sums those). A VM that cannot be built or booted, or a guest that reports nothing, is a failure.
#
# Environment: BLUEZ_VM_TIMEOUT (seconds for the whole boot, default 900), BLUEZ_VM_KVM=1 (try
# KVM; it aborted on the machines this was written on), BLUEZ_VM_GREP (mocha --grep),
# BLUEZ_SOAK_CYCLES (default 12: each cycle takes seconds under TCG; 500 is the long soak),
# BLUEZ_VM_SMP (guest CPUs, default 2), BLUEZ_VM_CPU (default max), BLUEZ_VM_VERBOSE=1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=$root/.cache/bluez-vm
work=$cache/run
started=$(date +%s)

fail() {
  echo "bluez-vm: $*" >&2
  if [ -n "${MOCHA_COUNTS_FILE:-}" ]; then
    echo '{"suite":"bluez-vm","passes":0,"failures":1,"pending":0}' >> "$MOCHA_COUNTS_FILE"
  fi
  echo "bluez-vm: 0 passed, 1 failed"
  exit 1
}

"$here/build.sh" "$cache" || fail "cannot build the VM image (see above)"

rm -rf "$work"
mkdir -p "$work"
# The guest sees the host's files read-only at the same paths; this folder is its only
# writable place that outlives the VM. Everything it needs to know is written here.
# Quoted for the guest's shell, which sources it.
for pair in "ROOT=$root" "WORK=$work" "NODE=$(command -v node)" "HOST_PATH=$PATH" \
  "BLUEZ_VM_GREP=${BLUEZ_VM_GREP:-}" "BLUEZ_VM_VERBOSE=${BLUEZ_VM_VERBOSE:-}" "BLUEZ_SOAK_CYCLES=${BLUEZ_SOAK_CYCLES:-12}"; do
  printf '%s=%q\n' "${pair%%=*}" "${pair#*=}"
done > "$work/env"

# The end-to-end suite runs Homebridge on the plugin's dist/, which the read-only guest cannot build.
(cd "$root" && npm run --silent build) || fail "cannot build the plugin (npm run build)"

# One bundle per suite file, node_modules included except native addons, hap-controller (it
# reads files beside its own) and dbus-next: the simulator patches dbus-next's marshallers in
# place, which needs the one copy everybody uses.
"$root/node_modules/.bin/esbuild" "$here"/*.bluez.ts --bundle --splitting --platform=node --format=esm \
  --outdir="$work/suite" --out-extension:.js=.mjs --conditions=igrs-source --log-level=warning \
  --external:x11 --external:usocket --external:better-sqlite3 --external:dbus-next --external:hap-controller \
  "--banner:js=import { createRequire as __igrsRequire } from 'node:module'; import { fileURLToPath as __igrsPath } from 'node:url'; const require = __igrsRequire(import.meta.url); const __filename = __igrsPath(import.meta.url); const __dirname = __igrsPath(new URL('.', import.meta.url));" \
  || fail "cannot bundle the suite"

accel=tcg
if [ "${BLUEZ_VM_KVM:-0}" = 1 ] && [ -w /dev/kvm ]; then accel=kvm; fi
echo "bluez-vm: booting ($accel, ${BLUEZ_VM_SMP:-2} CPUs); guest output follows"
set +e
timeout --foreground -k 10 "${BLUEZ_VM_TIMEOUT:-900}" qemu-system-x86_64 \
  -machine q35,accel=$accel -cpu "${BLUEZ_VM_CPU:-max}" -smp "${BLUEZ_VM_SMP:-2}" -m 2048 \
  -nographic -no-reboot -nic none \
  -kernel "$cache/vmlinuz" -initrd "$cache/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1 bluezvm.work=$work bluezvm.repo=$root bluezvm.run=$here/guest.sh" \
  -virtfs local,path=/,mount_tag=hostroot,readonly=on,security_model=none,multidevs=remap \
  -virtfs local,path="$root",mount_tag=repo,readonly=on,security_model=none,multidevs=remap \
  -virtfs local,path="$work",mount_tag=work,security_model=none \
  </dev/null 2>&1 | tee "$work/console.log"
qemu=${PIPESTATUS[0]}
set -e
elapsed=$(( $(date +%s) - started ))

[ "$qemu" -ne 124 ] || fail "the VM did not finish within ${BLUEZ_VM_TIMEOUT:-900} s (console: $work/console.log)"
[ "$qemu" -eq 0 ] || fail "qemu exited with $qemu (console: $work/console.log)"
[ -s "$work/counts" ] || fail "the guest reported no test counts: the stack or mocha did not start (logs in $work)"

passed=0 failed=0
while IFS= read -r line; do
  p=$(node -e 'process.stdout.write(String(JSON.parse(process.argv[1]).passes))' "$line")
  f=$(node -e 'process.stdout.write(String(JSON.parse(process.argv[1]).failures))' "$line")
  passed=$((passed + p)) failed=$((failed + f))
done < "$work/counts"
status=$(cat "$work/status" 2>/dev/null || echo missing)
# mocha can exit non-zero without a failed test (a crash in a hook after the counts were written).
if [ "$status" != 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
if [ -n "${MOCHA_COUNTS_FILE:-}" ]; then
  echo "{\"suite\":\"bluez-vm\",\"passes\":$passed,\"failures\":$failed,\"pending\":0}" >> "$MOCHA_COUNTS_FILE"
fi
echo "bluez-vm: $passed passed, $failed failed in ${elapsed} s (logs in $work)"
[ "$failed" -eq 0 ]
