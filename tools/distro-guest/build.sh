#!/usr/bin/env bash
# Builds a guest from a stock Debian kernel, unmodified: the cloud flavour
# (linux-image-cloud-amd64: an LZ4 bzImage; it finds its interrupt
# controllers and virtio-mmio devices only through ACPI) with its own
# virtio_mmio, virtio_blk and ext4 modules in a busybox-static initramfs
# whose /init is tools/distro-guest/init. It proves that tsvmm boots the
# kernels users already have (test/integration/distro-kernel.kvm.test.ts).
# Output: ${TSVMM_CACHE:-$HOME/.cache/tsvmm}/distro-guest/{vmlinuz,initrd.gz,guest.json},
# cached under a key of the package versions and these files.
# Usage: bash tools/distro-guest/build.sh [--force]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${TSVMM_CACHE:-$HOME/.cache/tsvmm}/distro-guest
FORCE=${1:-}
MODULES=(virtio_mmio virtio_blk ext4)

STAGE_TAG=distro-guest
# shellcheck source=../debian-boot/lib.sh
source "$HERE/../debian-boot/lib.sh"
debian_boot_tools

KPKG=$(debian_kernel_package cloud-amd64)
KVER=$(debian_version "$KPKG"); BBVER=$(debian_version busybox-static)
KEY=$( { echo "$KPKG $KVER busybox-static $BBVER ${MODULES[*]}"; cat "$HERE/build.sh" "$HERE/init" "$HERE/../debian-boot/lib.sh"; } | sha256sum | cut -c1-16)

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9 || die "cannot lock $OUT/.lock"
if [[ $FORCE != --force && -f $OUT/.key && $(cat "$OUT/.key") == "$KEY" && -f $OUT/vmlinuz && -f $OUT/initrd.gz && -f $OUT/guest.json ]]; then
  stage "up to date (key $KEY): $OUT"
  exit 0
fi
stage "building (key $KEY): $KPKG $KVER, busybox-static $BBVER"
debian_fetch "$KPKG" "$KVER"
debian_fetch busybox-static "$BBVER"
debian_build_initramfs "$KPKG" "$KVER" "$BBVER" "$HERE/init" "$OUT/initrd.gz" "${MODULES[@]}"
printf '{"kernelPackage":"%s","kernelVersion":"%s","kernelRelease":"%s","busybox":"%s","key":"%s"}\n' \
  "$KPKG" "$KVER" "$KREL" "$BBVER" "$KEY" > "$OUT/guest.json"
echo "$KEY" > "$OUT/.key"
stage "done: $OUT (kernel $KREL, $MODULE_COUNT modules)"
