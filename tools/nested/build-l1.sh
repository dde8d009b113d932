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
# dummy: an interface with a default route for passt (--net user) to take its
# addresses from; tun and veth: the tap network tests.
MODULES=(virtio_pci virtio_blk virtio_console virtio_rng ext4 9pnet_virtio 9p overlay kvm_amd dummy tun veth)

STAGE_TAG=l1
# shellcheck source=../debian-boot/lib.sh
source "$HERE/../debian-boot/lib.sh"
FLAVOUR=amd64
INIT=$HERE/l1-init
MANIFEST=l1.json
KEY_FILES=("$HERE/build-l1.sh" "$INIT")
debian_boot_build
