// The signal that takes a vCPU thread out of KVM_RUN: kicks from the VMM's
// main thread (tgkill) and the vCPU's own timer (vcpu-timer.ts).
//
// It never reaches a handler. The vCPU thread blocks it, and KVM unblocks it
// only while the guest runs (KVM_SET_SIGNAL_MASK), so one sent then ends
// KVM_RUN with EINTR; one sent while the thread is out of the guest stays
// pending and ends the next KVM_RUN at once. The thread takes it off with a
// zero-timeout sigtimedwait, as QEMU once did. A signal Node handles would
// also wake the main thread's event loop, which runs every handler.
//
// Process-wide it is ignored: a stray one (a timer outliving its thread) is
// dropped. The kernel never drops a signal the receiving thread blocks, so
// the vCPU's still arrives.
import { KVM_IOCTL, KvmSignalMask } from '../../ffi/kvm-abi.js';
import { ErrnoError, check, ioctlBuffer, koffi } from '../../ffi/libc.js';
import {
  KERNEL_SIGSET_BYTES,
  SIGSET_BYTES,
  SIG_BLOCK,
  SIG_ERR,
  SIG_IGN,
  TIMESPEC_SIZE,
  pthreadSigmask,
  sigset,
  sigtimedwait,
  signalDisposition,
} from '../../ffi/signals.js';

/**
 * SIGUSR2: neither Node, V8 nor libuv uses it (Node's inspector takes
 * SIGUSR1). A standard signal, so kicks sent while one is pending merge into
 * it; a real-time one would queue each, up to a limit where tgkill fails.
 */
export const VCPU_SIGNAL = 12;

/** Has the whole process drop VCPU_SIGNAL wherever no vCPU thread blocks it. Before the first vCPU thread starts. */
export function ignoreVcpuSignalElsewhere(): void {
  if (signalDisposition(VCPU_SIGNAL, SIG_IGN) === SIG_ERR) throw new ErrnoError('signal(VCPU_SIGNAL, SIG_IGN)', koffi.errno());
}

export class VcpuSignal {
  private readonly set = sigset(SIGSET_BYTES, VCPU_SIGNAL);
  private readonly noWait = new Uint8Array(TIMESPEC_SIZE);

  /** On the vCPU's own thread, before its first KVM_RUN. */
  constructor(vcpuFd: number) {
    const before = new Uint8Array(SIGSET_BYTES);
    const failed = pthreadSigmask(SIG_BLOCK, this.set, before) as number; // an errno, not -1
    if (failed !== 0) throw new ErrnoError('pthread_sigmask', failed);
    // Inside KVM_RUN: the thread's mask as it was, the vCPU signal open.
    const mask = new Uint8Array(KvmSignalMask.size + KERNEL_SIGSET_BYTES);
    new DataView(mask.buffer).setUint32(KvmSignalMask.offsets.len, KERNEL_SIGSET_BYTES, true);
    mask.set(before.subarray(0, KERNEL_SIGSET_BYTES), KvmSignalMask.offsets.sigset);
    const bit = VCPU_SIGNAL - 1;
    mask[KvmSignalMask.offsets.sigset + (bit >> 3)] &= ~(1 << (bit & 7));
    check(ioctlBuffer(vcpuFd, KVM_IOCTL.KVM_SET_SIGNAL_MASK, mask) as number, 'KVM_SET_SIGNAL_MASK');
  }

  /** Takes the pending signal off this thread, if one is: true when there was one. */
  take(): boolean {
    return (sigtimedwait(this.set, null, this.noWait) as number) === VCPU_SIGNAL;
  }
}
