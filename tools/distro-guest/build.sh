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
FLAVOUR=cloud-amd64
INIT=$HERE/init
MANIFEST=guest.json
KEY_FILES=("$HERE/build.sh" "$INIT")
debian_boot_build
