#!/usr/bin/env bash
# Builds the VM the BlueZ tier boots: Debian's own kernel (Bluetooth and hci_vhci are modules
# there) and a busybox initramfs that loads them. The guest then runs over the host's root
# filesystem, so bluetoothd, btvirt, node and node_modules are the host's own.
# Usage: build.sh [OUTDIR]   (default .cache/bluez-vm; a no-op when the image is current)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/.cache/bluez-vm}
mkdir -p "$out"
out=$(cd "$out" && pwd)

die() { echo "bluez-vm build: $*" >&2; exit 1; }

missing=()
for cmd in qemu-system-x86_64 busybox cpio gzip apt-get apt-cache dpkg; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
[ -e /usr/share/seabios/bios-256k.bin ] || missing+=(seabios)
[ "${#missing[@]}" -eq 0 ] || die "missing ${missing[*]}; install: apt-get install qemu-system-x86 seabios busybox-static cpio"
# busybox must be static: the initramfs has no libc.
if ldd "$(command -v busybox)" >/dev/null 2>&1; then die "busybox is dynamically linked; install busybox-static"; fi

# The kernel linux-image-amd64 points at now; the image is rebuilt when it or the init changes.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kpkg" ] || die "apt knows no linux-image-amd64 (run apt-get update)"
modules=(virtio_pci 9p 9pnet_virtio bluetooth hci_vhci ecdh_generic af_alg algif_hash algif_skcipher cmac ecb)
stamp="$kpkg $(sha256sum "$here/init" "$here/build.sh" | sha256sum | cut -c1-16)"
if [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.gz" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "bluez-vm build: image is current ($kpkg)"
  exit 0
fi

echo "bluez-vm build: building the image from $kpkg"
tmp=$(mktemp -d "$out/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$kpkg") || die "apt-get download $kpkg failed"
dpkg -x "$tmp/$kpkg"_*.deb "$tmp/k"
kver=$(ls "$tmp/k/lib/modules")
moddir="$tmp/k/lib/modules/$kver"

# Module dependencies come from each .ko's own modinfo `depends=` string: no depmod, no modules.dep.
declare -A ko_of=()
while IFS= read -r -d '' f; do
  name=$(basename "$f" .ko); ko_of[${name//-/_}]=$f
done < <(find "$moddir" -name '*.ko' -print0)
order=()
declare -A seen=()
visit() {
  local m=${1//-/_} dep
  [ -n "${seen[$m]:-}" ] && return 0
  seen[$m]=1
  [ -n "${ko_of[$m]:-}" ] || die "kernel $kver has no module $m"
  for dep in $(tr '\0' '\n' < "${ko_of[$m]}" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '); do visit "$dep"; done
  order+=("$m")
}
for m in "${modules[@]}"; do visit "$m"; done

ird="$tmp/initrd"
mkdir -p "$ird"/{bin,dev,proc,sys,newroot,modules}
for m in "${order[@]}"; do cp "${ko_of[$m]}" "$ird/modules/$m.ko"; echo "$m" >> "$ird/modules/order"; done
cp "$(command -v busybox)" "$ird/bin/busybox"
for applet in sh mount insmod chroot poweroff cat echo sleep mkdir ip; do ln -s busybox "$ird/bin/$applet"; done
install -m 755 "$here/init" "$ird/init"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1 > "$tmp/initrd.gz")
cp "$tmp"/k/boot/vmlinuz-* "$out/vmlinuz"
mv "$tmp/initrd.gz" "$out/initrd.gz"
echo "$stamp" > "$out/stamp"
echo "bluez-vm build: kernel $kver, ${#order[@]} modules (${order[*]})"
