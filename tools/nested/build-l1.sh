#!/usr/bin/env bash
# Builds the "L1": a Linux that runs under QEMU's TCG emulation with an AMD
# CPU that has SVM, so that its kvm-amd module gives a real /dev/kvm on hosts
# that have none. Debian packages only: the distribution's generic kernel
# (kvm-amd, virtio, 9p and overlayfs are modules there) and busybox-static
# for an initramfs whose /init is tools/nested/l1-init.
# Output: ${TSVMM_CACHE:-$HOME/.cache/tsvmm}/l1/{vmlinuz,initrd.gz,l1.json}.
# Reruns reuse the cache, keyed like the default guest's (package versions and
# the build's own files).
# Usage: bash tools/nested/build-l1.sh [--force]      (see tools/nested/README.md)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${TSVMM_CACHE:-$HOME/.cache/tsvmm}/l1
FORCE=${1:-}
# Loaded in this order by l1-init; modprobe adds what each one depends on.
MODULES=(virtio_pci virtio_blk virtio_console virtio_rng ext4 9pnet_virtio 9p overlay kvm_amd)

T0=$(date +%s)
stage() { printf '[l1 %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
die() { printf 'L1 build: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools
missing=()
for tool in depmod:kmod modprobe:kmod cpio:cpio gzip:gzip xz:xz-utils; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if ((${#missing[@]})); then
  stage "installing: ${missing[*]}"
  [[ $(id -u) == 0 ]] || die "missing packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
    die "cannot install ${missing[*]}"
fi

# ---------------------------------------------------------------- packages
# The kernel package that linux-image-amd64 points at today, and busybox-static.
kernel_package() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
KPKG=$(kernel_package)
if [[ -z $KPKG ]]; then
  stage "apt-get update (no package lists yet)"
  apt-get update >&2 || die "apt-get update failed"
  KPKG=$(kernel_package)
fi
[[ -n $KPKG ]] || die "apt-cache knows no linux-image-amd64 (is this Debian with its main archive?)"
version() { apt-cache policy "$1" | awk '/Candidate:/{print $2; exit}'; }
KVER=$(version "$KPKG"); BBVER=$(version busybox-static)
KEY=$( { echo "$KPKG $KVER busybox-static $BBVER ${MODULES[*]}"; cat "$HERE/build-l1.sh" "$HERE/l1-init"; } | sha256sum | cut -c1-16)

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9 || die "cannot lock $OUT/.lock"
if [[ $FORCE != --force && -f $OUT/.key && $(cat "$OUT/.key") == "$KEY" && -f $OUT/vmlinuz && -f $OUT/initrd.gz && -f $OUT/l1.json ]]; then
  stage "up to date (key $KEY): $OUT"
  exit 0
fi
stage "building the L1 (key $KEY): $KPKG $KVER, busybox-static $BBVER"

DEB=$OUT/deb
mkdir -p "$DEB"
fetch() { # package version
  local file=$DEB/${1}_${2//:/%3a}_amd64.deb
  [[ -f $file ]] && return 0
  stage "downloading $1 $2"
  (cd "$DEB" && apt-get download "$1=$2" >&2) || { apt-get update >&2 && (cd "$DEB" && apt-get download "$1=$2" >&2); } ||
    die "cannot download Debian package $1 $2"
}
fetch "$KPKG" "$KVER"
fetch busybox-static "$BBVER"

# ---------------------------------------------------------------- unpack
X=$OUT/x
rm -rf "$X" "$OUT/initrd"
mkdir -p "$X"
dpkg-deb -x "$DEB/${KPKG}_${KVER//:/%3a}_amd64.deb" "$X"
dpkg-deb -x "$DEB/busybox-static_${BBVER//:/%3a}_amd64.deb" "$X"
KREL=$(ls "$X/lib/modules")
depmod -b "$X" "$KREL"

# ---------------------------------------------------------------- initramfs
I=$OUT/initrd
mkdir -p "$I"/{bin,dev,proc,sys,lower,upper,newroot,ctl,modules}
cp "$X/bin/busybox" "$I/bin/busybox"
cp "$HERE/l1-init" "$I/init"
chmod 755 "$I/init"
: > "$I/modules/order"
for m in "${MODULES[@]}"; do
  modprobe -d "$X" -S "$KREL" --show-depends "$m" | awk '$1 == "insmod" { print $2 }' | while read -r ko; do
    name=$(basename "${ko%.xz}")
    grep -qxF "$name" "$I/modules/order" && continue
    case $ko in
      *.xz) xz -dc "$ko" > "$I/modules/$name" ;;
      *) cp "$ko" "$I/modules/$name" ;;
    esac
    echo "$name" >> "$I/modules/order"
  done || die "modprobe cannot resolve module $m in $KPKG"
done
count=$(wc -l < "$I/modules/order")
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -1) > "$OUT/initrd.gz.tmp"
mv "$OUT/initrd.gz.tmp" "$OUT/initrd.gz"
cp "$X/boot/vmlinuz-$KREL" "$OUT/vmlinuz"
printf '{"kernelPackage":"%s","kernelVersion":"%s","kernelRelease":"%s","busybox":"%s","key":"%s"}\n' \
  "$KPKG" "$KVER" "$KREL" "$BBVER" "$KEY" > "$OUT/l1.json"
rm -rf "$X" "$I"
echo "$KEY" > "$OUT/.key"
stage "done: $OUT (kernel $KREL, $count modules)"
