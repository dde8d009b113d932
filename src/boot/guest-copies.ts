// Copies from the kernel's and the initrd's files into guest RAM that the
// kernel's io_uring workers make while the helper goes on building the VM
// (its vCPUs, devices and the vCPU's thread): the loader queues a vmlinux's
// segments and the initrd here instead of reading them on the way, and the
// helper waits for them only before it jails itself. In the nested L1 the
// default guest's 12 MB took 130-400 ms of the helper's path to the guest's
// first instruction (docs/host-kvm.md, "Where `run`'s start goes").
//
// The reads are linked (IOSQE_IO_LINK), so one worker does them in order,
// beside the helper's thread rather than against it; IOSQE_ASYNC keeps
// io_uring_enter from doing page-cache reads inline, which would be no
// overlap at all. Whatever a read did not complete (an error, a short read, a
// link cancelled by an earlier failure) is copied again synchronously by
// finish(), which so reports a file that shrank exactly as a synchronous load
// does.
//
// Only for RAM this process maps privately: a shared memfd is filled by
// sendfile inside the kernel, which keeps its pages out of the helper's page
// tables (GuestMemory.fillFromFile). Where the host has no io_uring for us
// (none, or refused), each copy is made at once, as before.
import { EINTR } from '../../ffi/libc.js';
import { IORING_OP_READ, IOSQE_ASYNC, IOSQE_IO_LINK } from '../../ffi/block-io.js';
import { IoUring, type CqeHandler } from '../block/io-uring.js';
import { BootError } from './boot-error.js';

/** The most one read asks for (an SQE's length is 32 bits). */
const MAX_READ = 1 << 30;
/** SQEs in the ring: a vmlinux has a few PT_LOAD segments, and there is one initrd. */
const RING_ENTRIES = 16;

interface Copy {
  readonly fileOffset: number;
  readonly address: number;
  readonly length: number;
  /** Bytes the kernel has copied. */
  done: number;
  /** Copies the bytes from `done` on, synchronously (and reports a file that ended early). */
  readonly rest: (done: number) => void;
}

/** What finish() found: for the debug log, and the tests. */
export interface GuestCopiesReport {
  reads: number;
  /** Bytes the kernel's workers copied. */
  byWorkers: number;
  /** Bytes finish() copied itself, because a read left them. */
  afterwards: number;
}

export class GuestCopies implements CqeHandler {
  private readonly copies: Copy[] = [];
  /** Reads submitted (or queued) and not yet completed. */
  private inFlight = 0;
  /** Made at the first copy (a real-mode payload has none); null where the host has none for us. */
  private ring: IoUring | null | undefined;

  /**
   * Queues a copy of `length` bytes at `fileOffset` of `fd` to `address`
   * (guest RAM this process maps; the caller checked both ranges). `rest`
   * copies synchronously from a byte count on, for what the kernel leaves.
   */
  read(fd: number, fileOffset: number, address: number, length: number, rest: (done: number) => void): void {
    if (this.ring === undefined) {
      const ring = IoUring.create(RING_ENTRIES);
      this.ring = typeof ring === 'number' ? null : ring;
    }
    if (this.ring === null) return rest(0);
    const ring = this.ring;
    for (let at = 0; at < length; at += MAX_READ) {
      const part = Math.min(MAX_READ, length - at);
      const copy: Copy = { fileOffset: fileOffset + at, address: address + at, length: part, done: 0, rest: (done) => rest(at + done) };
      const tag = this.copies.push(copy) - 1;
      const prep = () => ring.prep(IORING_OP_READ, fd, copy.fileOffset, copy.address, part, 0, tag, IOSQE_ASYNC | IOSQE_IO_LINK);
      let queued = prep();
      if (!queued) {
        // A full ring: what is queued goes now, as a chain of its own.
        this.submit();
        queued = prep();
      }
      // Not queued at all, finish() copies it.
      if (queued) this.inFlight++;
    }
  }

  /** Hands the queued reads to the kernel's workers. The load calls it once it has queued everything. */
  submit(): void {
    const ring = this.ring;
    if (!ring || ring.unsubmitted === 0) return;
    // Not submitted, they never reach memory, and finish() copies them itself.
    if (ring.enter(0) < 0) ring.cancelUnsubmitted(() => this.inFlight--);
  }

  /** Waits for every read, copies what they left, and closes the ring. Throws a BootError for a file that ended early. */
  finish(): GuestCopiesReport {
    const ring = this.ring;
    if (ring) {
      try {
        this.submit();
        while (this.inFlight > 0) {
          const r = ring.enter(this.inFlight);
          if (r < 0 && r !== -EINTR) throw new BootError(`waiting for the kernel's copy of the guest's image failed (errno ${-r})`);
          ring.reap(this);
        }
      } finally {
        ring.close();
        this.ring = null;
      }
    }
    const report: GuestCopiesReport = { reads: this.copies.length, byWorkers: 0, afterwards: 0 };
    for (const copy of this.copies) {
      report.byWorkers += copy.done;
      if (copy.done === copy.length) continue;
      copy.rest(copy.done);
      report.afterwards += copy.length - copy.done;
    }
    return report;
  }

  cqe(tag: number, res: number): void {
    this.inFlight--;
    // res: bytes read, or -errno (-ECANCELED for a link an earlier read broke).
    const copy = this.copies[tag];
    if (copy !== undefined && res > 0) copy.done = Math.min(res, copy.length);
  }
}
