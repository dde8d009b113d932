#!/usr/bin/env bash
# Boots the default guest under QEMU (the reference VMM) to check it on this
# host: bash tools/guest/qemu-boot.sh [-t SECONDS] [-m MEM] [-x EXTRA_CMDLINE]
#   [-d DISK.img (virtio-blk)] [-z (gzip initrd)] [-- COMMAND...]
# With a COMMAND, the guest runs it and QEMU exits with the guest's status
# (translated back from isa-debug-exit's (status<<1)|1, so only statuses
# 0-127 survive QEMU's 8-bit exit code; tsvmm has no such limit). Without, the console
# is interactive (Ctrl-A X quits QEMU). Always bounded by a timeout (default 300 s).
# Never run two guests at once on a 2-core host: they livelock each other.
set -euo pipefail
GUEST=${TSVMM_CACHE:-$HOME/.cache/tsvmm}/guest
TIMEOUT=300 MEM=128M EXTRA= INITRD=$GUEST/initramfs.cpio DISKS=()
while (($#)); do
  case $1 in
    -t) TIMEOUT=$2; shift 2 ;;
    -m) MEM=$2; shift 2 ;;
    -x) EXTRA=$2; shift 2 ;;
    # one virtio-blk disk (/dev/vda). microvm puts it on its last virtio-mmio
    # slot; name that slot on the command line ourselves (QEMU would append it
    # after " -- ", where it would become part of the guest's command).
    -d) DISKS=(-drive "id=d0,file=$2,format=raw,if=none" -device virtio-blk-device,drive=d0)
        EXTRA+=" virtio_mmio.device=512@0xfeb00e00:12"; shift 2 ;;
    -z) INITRD=$GUEST/initramfs.cpio.gz; shift ;;   # gzip initramfs (slow here)
    --) shift; break ;;
    *) echo "usage: $0 [-t SECONDS] [-m MEM] [-x EXTRA_CMDLINE] [-d DISK.img] [-z] [-- COMMAND...]" >&2; exit 2 ;;
  esac
done
CMDLINE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cmdline"])' "$GUEST/guest.json")
[[ -n $EXTRA ]] && CMDLINE+=" ${EXTRA# }"
# A fresh boot seed for the guest's crng (patches/0005): without it every
# get_random_*() in the guest costs tens of ms here. SEED=0 leaves it out.
[[ ${SEED:-1} == 0 ]] || CMDLINE+=" tsvmm.seed=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
(($#)) && CMDLINE+=" -- $*"
set +e
timeout --foreground -k 5 "$TIMEOUT" qemu-system-x86_64 \
  -M microvm,x-option-roms=off,rtc=off,pit=on,pic=on,isa-serial=on,acpi=off,auto-kernel-cmdline=off -enable-kvm -cpu host,-arch-capabilities \
  -m "$MEM" -smp 1 -nodefaults -no-user-config -nographic -no-reboot -serial stdio \
  -device isa-debug-exit,iobase=0x501,iosize=1 \
  "${DISKS[@]}" ${QEMU_EXTRA:-} -kernel "$GUEST/vmlinux" -initrd "$INITRD" -append "$CMDLINE"
rc=$?
set -e
if ((rc == 124 || rc == 137)); then echo "qemu-boot: timed out after ${TIMEOUT}s" >&2; exit 124; fi
if ((rc & 1)); then exit $((rc >> 1)); fi   # isa-debug-exit: (status<<1)|1
echo "qemu-boot: QEMU exited with $rc without using the exit device" >&2
exit 125
