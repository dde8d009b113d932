// Ends the calling thread's KVM_RUN when a descriptor becomes readable, so
// that one thread can run the guest and serve descriptors too
// (src/vmm/main-thread-vcpu.ts).
//
// How: a one-shot io_uring poll on the descriptor. When it fires, io_uring
// completes it through task work queued on the thread that submitted it, with
// TWA_SIGNAL (the default unless a ring asks for IORING_SETUP_COOP_TASKRUN
// or DEFER_TASKRUN: "io_uring will interrupt a task running in userspace
// when a completion event comes in", io_uring_setup(2)). That sets
// TIF_NOTIFY_SIGNAL and kicks the thread's CPU; KVM treats the flag as it
// treats a pending signal (xfer_to_guest_mode_work, Linux 5.11+): KVM_RUN
// ends with EINTR, from guest mode or from a halted vCPU's wait, and the
// completion is in the ring once the thread is back in user space.
//
// A completion that lands while the thread is in user space (handling an
// exit) is posted there and ends no KVM_RUN: `fired` is read before each
// entry, and the window between that read and the entry is covered by the
// vCPU's own timer (vcpu-timer.ts), which the caller keeps armed.
import { IORING_OP_POLL_ADD } from '../../ffi/block-io.js';
import { IoUring, type CqeHandler } from '../block/io-uring.js';

/** poll(2)'s POLLIN. */
const POLLIN = 1;
const WAKE_TAG = 1;

export class KvmRunWake implements CqeHandler {
  private armed = false;
  private completed = false;

  private constructor(
    private readonly ring: IoUring,
    private readonly fd: number,
  ) {}

  /** Before the jail (it makes a ring); -errno when the host has no io_uring for it (none, or no restrictions: before 5.10). */
  static create(fd: number): KvmRunWake | number {
    const ring = IoUring.create(2, { disabled: true });
    if (typeof ring === 'number') return ring;
    // The ring can only ever poll (io-uring.ts, "Restriction").
    const restricted = ring.restrict([IORING_OP_POLL_ADD]);
    if (restricted < 0) {
      ring.close();
      return restricted;
    }
    return new KvmRunWake(ring, fd);
  }

  /** Watches the descriptor, unless already watching; true if it is readable already. */
  arm(): boolean {
    if (!this.armed) {
      this.completed = false;
      this.ring.prep(IORING_OP_POLL_ADD, this.fd, 0, 0, 0, POLLIN, WAKE_TAG);
      const r = this.ring.enter(0);
      if (r < 0) throw new Error(`io_uring_enter failed (errno ${-r})`);
      this.armed = true;
    }
    return this.fired;
  }

  /** The descriptor became readable since arm() (no system call); arm() watches again. */
  get fired(): boolean {
    if (this.ring.ready > 0) this.ring.reap(this);
    return this.completed;
  }

  cqe(): void {
    // Whatever the poll's result (an error too), the thread looks at the descriptor.
    this.armed = false;
    this.completed = true;
  }

  close(): void {
    this.ring.close();
  }
}
