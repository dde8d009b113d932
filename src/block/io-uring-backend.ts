// The asynchronous engine on io_uring. Requests become SQEs (READV/WRITEV on
// the caller's iovec array, FSYNC with IORING_FSYNC_DATASYNC for flush); all
// requests made during one JS task reach the kernel in one io_uring_enter.
// Completions are read from the shared CQ ring in user space: right after
// each submission (page-cache hits complete inline, so no wake-up is needed)
// and when the eventfd registered with IORING_REGISTER_EVENTFD becomes
// readable on the Node event loop (one eventfd read per batch).
//
// Not IORING_REGISTER_EVENTFD_ASYNC: it signals only completions posted by an
// io-wq worker, and O_DIRECT completions are posted from task work in our own
// thread, so the event loop would never wake for them (measured: a hang).
// The price of the plain eventfd is a spurious wake-up after a batch that
// completed inline; stats.spuriousWakeups counts them.
//
// The ring is created disabled and, once its eventfd is registered, restricted
// to exactly the three opcodes below and no io_uring_register operation
// (IoUring.restrict), before the jail: a compromised process cannot make it
// open a file or a socket, and the filter lets it make no other ring
// (src/sandbox/policy-base.ts). A kernel without restrictions (before 5.10)
// gets no io_uring at all: the block layer falls back to Linux AIO.
import { IORING_FSYNC_DATASYNC, IORING_OP_FSYNC, IORING_OP_READV, IORING_OP_WRITEV } from '../../ffi/block-io.js';
import { EINVAL } from '../../ffi/libc.js';
import type { IoVecList } from '../memory/dma-iovec.js';
import type { BlockEngineKind } from './block-backend.js';
import type { DiskImage } from './disk-image.js';
import { IoUring, type CqeHandler } from './io-uring.js';
import { KernelQueueBackend, OP_FLUSH, OP_READ } from './kernel-queue-backend.js';

/** The only SQE opcodes the ring accepts: what queue() issues. */
const RING_OPS = [IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC] as const;

export interface IoUringBackendOptions {
  /** Queue depth (ring size; the kernel rounds up to a power of two). Default 256. */
  entries?: number;
  /** Watch the eventfd on the Node event loop (default). false: the caller pumps. */
  eventLoop?: boolean;
}

export class IoUringBlockBackend extends KernelQueueBackend implements CqeHandler {
  readonly kind: BlockEngineKind = 'io_uring';
  private readonly ring: IoUring;

  private constructor(image: DiskImage, ring: IoUring, eventLoop: boolean) {
    super(image, Math.min(ring.sqEntries, ring.cqEntries));
    this.ring = ring;
    if (eventLoop) {
      const efd = this.watchEventfd();
      const r = ring.registerEventfd(efd, false);
      if (r !== 0) throw new Error(`io_uring eventfd registration failed (errno ${-r})`);
    }
    const r = ring.restrict(RING_OPS);
    if (r !== 0) throw new Error(`io_uring restrictions refused (errno ${-r})`);
    if (eventLoop) this.startPolling();
  }

  /**
   * The engine for `image`, or a reason string when io_uring is unusable here
   * (not built into the kernel, disabled by sysctl, refused by seccomp,
   * missing opcodes).
   */
  static create(image: DiskImage, options: IoUringBackendOptions = {}): IoUringBlockBackend | string {
    const ring = IoUring.create(options.entries ?? 256, { disabled: true });
    if (typeof ring === 'number') return `io_uring_setup failed (errno ${-ring}${-ring === EINVAL ? ': no IORING_SETUP_R_DISABLED before Linux 5.10' : ''})`;
    const ops = ring.supportedOps();
    if (ops !== null) {
      for (const [op, name] of [
        [IORING_OP_READV, 'READV'],
        [IORING_OP_WRITEV, 'WRITEV'],
        [IORING_OP_FSYNC, 'FSYNC'],
      ] as const) {
        if (!ops.has(op)) {
          ring.close();
          return `io_uring lacks IORING_OP_${name}`;
        }
      }
    }
    try {
      return new IoUringBlockBackend(image, ring, options.eventLoop ?? true);
    } catch (e) {
      ring.close();
      return (e as Error).message;
    }
  }

  /** io_uring_enter calls so far. */
  get enterCalls(): number {
    return this.ring.enterCalls;
  }

  protected queue(slot: number, op: number, offset: number, iov: IoVecList | null): boolean {
    if (op === OP_FLUSH) return this.ring.prep(IORING_OP_FSYNC, this.fd, 0, 0, 0, IORING_FSYNC_DATASYNC, slot);
    return this.ring.prep(op === OP_READ ? IORING_OP_READV : IORING_OP_WRITEV, this.fd, offset, iov!.address, iov!.count, 0, slot);
  }

  protected submitQueued(): number {
    // The caller reaps right after: completions made during the call need no eventfd wake-up.
    const r = this.ring.submitQuietly();
    return r < 0 ? r : 0;
  }

  protected get unsubmitted(): number {
    return this.ring.unsubmitted;
  }

  protected reap(): number {
    return this.ring.reap(this);
  }

  /** CqeHandler */
  cqe(userData: number, res: number): void {
    this.completion(userData, res);
  }

  protected waitAny(): number {
    return this.ring.enter(1);
  }

  protected cancelQueued(errno: number): void {
    this.ring.cancelUnsubmitted((slot) => this.completeSlot(slot, -errno));
  }

  protected closeKernel(): void {
    // No IORING_UNREGISTER_EVENTFD: the restricted ring refuses every register
    // operation (and the jail's filter io_uring_register); closing the ring
    // releases its eventfd.
    this.ring.close();
  }
}
