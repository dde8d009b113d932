// Kernel-side ioregionfd (KVM_SET_IOREGION, from the proposed KVM patches).
// No mainline kernel has it, so tsvmm probes for it per VM and falls back to
// forwarding the region's exits in userspace over the same socket and wire
// protocol (src/bus/ioregion-client.ts). The capability number changed across
// revisions of the proposal and collides with mainline capabilities, so the
// probe tries the ioctl itself: mainline kernels answer ENOTTY.
import { koffi } from '../../ffi/koffi.js';
import { ENOTTY, ioctlBuffer } from '../../ffi/libc.js';

const KVMIO = 0xae;
/** struct kvm_ioregion { u64 guest_paddr, memory_size, user_data; s32 rfd, wfd; u32 flags; u8 pad[28]; } */
const KVM_IOREGION_SIZE = 64;
export const KVM_SET_IOREGION = ((1 << 30) >>> 0) + ((KVM_IOREGION_SIZE << 16) | (KVMIO << 8) | 0x49);
const KVM_IOREGION_PIO = 1 << 0;
const KVM_IOREGION_POSTED_WRITES = 1 << 1;

function ioregion(gpa: number, size: number, fd: number, flags: number): Buffer {
  const b = Buffer.alloc(KVM_IOREGION_SIZE);
  b.writeBigUInt64LE(BigInt(gpa), 0);
  b.writeBigUInt64LE(BigInt(size), 8);
  b.writeBigUInt64LE(0n, 16);
  b.writeInt32LE(fd, 24);
  b.writeInt32LE(fd, 28);
  b.writeUInt32LE(flags, 32);
  return b;
}

/** True when this kernel implements KVM_SET_IOREGION (probed with an empty, invalid region). */
export function kernelHasIoregionfd(vmFd: number): boolean {
  const ret = ioctlBuffer(vmFd, KVM_SET_IOREGION, ioregion(0, 0, -1, 0)) as number;
  return !(ret < 0 && koffi.errno() === ENOTTY);
}

/** Asks the kernel to serve [gpa, gpa+size) over `fd` itself; false when it declines. */
export function registerKernelIoregion(vmFd: number, gpa: number, size: number, fd: number, opts: { pio: boolean; postedWrites: boolean }): boolean {
  const flags = (opts.pio ? KVM_IOREGION_PIO : 0) | (opts.postedWrites ? KVM_IOREGION_POSTED_WRITES : 0);
  return (ioctlBuffer(vmFd, KVM_SET_IOREGION, ioregion(gpa, size, fd, flags)) as number) === 0;
}
