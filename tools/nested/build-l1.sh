#!/usr/bin/env bash
# Builds the "L1": a Linux that runs under QEMU's TCG emulation with an AMD
# CPU that has SVM, so that its kvm-amd module gives a real /dev/kvm on hosts
# that have none. Debian packages only (tools/debian-boot/lib.sh): the
# distribution's generic kernel (kvm-amd, virtio, 9p and overlayfs are modules
# there) and busybox-static for an initramfs whose /init is tools/nested/l1-init.
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

STAGE_TAG=l1
# shellcheck source=../debian-boot/lib.sh
source "$HERE/../debian-boot/lib.sh"
debian_boot_tools

# The kernel package that linux-image-amd64 points at today, and busybox-static.
KPKG=$(debian_kernel_package amd64)
KVER=$(debian_version "$KPKG"); BBVER=$(debian_version busybox-static)
KEY=$( { echo "$KPKG $KVER busybox-static $BBVER ${MODULES[*]}"; cat "$HERE/build-l1.sh" "$HERE/l1-init" "$HERE/../debian-boot/lib.sh"; } | sha256sum | cut -c1-16)

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9 || die "cannot lock $OUT/.lock"
if [[ $FORCE != --force && -f $OUT/.key && $(cat "$OUT/.key") == "$KEY" && -f $OUT/vmlinuz && -f $OUT/initrd.gz && -f $OUT/l1.json ]]; then
  stage "up to date (key $KEY): $OUT"
  exit 0
fi
stage "building the L1 (key $KEY): $KPKG $KVER, busybox-static $BBVER"
debian_fetch "$KPKG" "$KVER"
debian_fetch busybox-static "$BBVER"
debian_build_initramfs "$KPKG" "$KVER" "$BBVER" "$HERE/l1-init" "$OUT/initrd.gz" "${MODULES[@]}"
printf '{"kernelPackage":"%s","kernelVersion":"%s","kernelRelease":"%s","busybox":"%s","key":"%s"}\n' \
  "$KPKG" "$KVER" "$KREL" "$BBVER" "$KEY" > "$OUT/l1.json"
echo "$KEY" > "$OUT/.key"
stage "done: $OUT (kernel $KREL, $MODULE_COUNT modules)"
