// What the two asynchronous engines (io_uring, Linux AIO) share: request
// slots (slot number = the kernel's user data), a FIFO for requests beyond the
// queue depth, batching of submissions into one system call per JS task (on a
// microtask), completion batching, and noticing completions on the Node event
// loop through an eventfd watched on this thread's loop (bus/fd-watch.ts). Reaping itself is the
// engine's: both read the kernel's completion ring in user space.
import { EAGAIN, EBUSY, EFD_CLOEXEC, EFD_NONBLOCK, EINTR, close, eventfd, koffi, read } from '../../ffi/libc.js';
import type { IoVecList } from '../memory/dma-iovec.js';
import { watchFd, type FdWatch } from '../bus/fd-watch.js';
import { Errno, checkBlockRequest, type BlockBackend, type BlockCompletion, type BlockEngineKind } from './block-backend.js';
import { CompletionBatch } from './completion-batch.js';
import type { DiskImage } from './disk-image.js';
import { SyncIo } from './sync-io.js';
import { runSoon } from '../microtask.js';

export const OP_READ = 1;
export const OP_WRITE = 2;
export const OP_FLUSH = 3;


export interface EngineStats {
  submitted: number;
  /** System calls made to submit. */
  submitCalls: number;
  /** Completions found in the ring right after submitting (no wake-up needed). */
  reapedInline: number;
  /** Completions found after an eventfd wake-up. */
  reapedOnWake: number;
  wakeups: number;
  spuriousWakeups: number;
  /** Completions read from the ring without a system call. */
  reapedInUserSpace: number;
  shortTransfers: number;
}

export abstract class KernelQueueBackend implements BlockBackend {
  abstract readonly kind: BlockEngineKind;
  readonly size: number;
  readonly readOnly: boolean;
  readonly direct: boolean;
  readonly logicalBlockSize: number;
  readonly canDiscard = true;
  readonly canWriteZeroes = true;
  readonly stats: EngineStats = {
    submitted: 0,
    submitCalls: 0,
    reapedInline: 0,
    reapedOnWake: 0,
    wakeups: 0,
    spuriousWakeups: 0,
    reapedInUserSpace: 0,
    shortTransfers: 0,
  };

  protected readonly fd: number;
  protected readonly image: DiskImage;
  protected readonly sync: SyncIo;
  private readonly batch = new CompletionBatch();

  // per-slot request state
  private readonly slotDone: (BlockCompletion | null)[];
  private readonly slotTag: Float64Array;
  protected readonly slotOp: Uint8Array;
  protected readonly slotOffset: Float64Array;
  protected readonly slotIov: (IoVecList | null)[];
  private readonly freeSlots: Int32Array;
  private freeCount: number;
  protected active = 0;

  // requests waiting for a slot, FIFO
  private readonly waitOp: number[] = [];
  private readonly waitOffset: number[] = [];
  private readonly waitIov: (IoVecList | null)[] = [];
  private readonly waitDone: (BlockCompletion | null)[] = [];
  private readonly waitTag: number[] = [];
  private waitHead = 0;

  private submitScheduled = false;
  private readonly submitBound = (): void => this.submitNow();
  private retry: NodeJS.Immediate | null = null;
  protected eventfd = -1;
  private poll: FdWatch | null = null;
  private pollRef = false;
  private readonly efdBuf = new Uint8Array(8);
  protected closed = false;
  private closing = false;

  protected constructor(image: DiskImage, depth: number) {
    this.size = image.size;
    this.readOnly = image.readOnly;
    this.direct = image.direct;
    this.logicalBlockSize = image.logicalBlockSize;
    this.fd = image.fd;
    this.image = image;
    this.sync = new SyncIo(image.fd);
    this.slotDone = new Array<BlockCompletion | null>(depth).fill(null);
    this.slotIov = new Array<IoVecList | null>(depth).fill(null);
    this.slotTag = new Float64Array(depth);
    this.slotOp = new Uint8Array(depth);
    this.slotOffset = new Float64Array(depth);
    this.freeSlots = new Int32Array(depth);
    for (let i = 0; i < depth; i++) this.freeSlots[i] = depth - 1 - i;
    this.freeCount = depth;
  }

  /** Creates the eventfd the engine signals and watches it on the event loop. */
  protected watchEventfd(): number {
    const efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) as number;
    if (efd < 0) throw new Error(`eventfd failed (errno ${koffi.errno()})`);
    this.eventfd = efd;
    return efd;
  }

  protected startPolling(): void {
    this.poll = watchFd(this.eventfd, { readable: true }, () => this.onWake());
    this.poll.unref();
  }

  // ---- engine hooks ----
  /** Queues the kernel request for `slot`; false if the kernel queue is full. */
  protected abstract queue(slot: number, op: number, offset: number, iov: IoVecList | null): boolean;
  /** Submits everything queued in one system call; 0 or -errno (partial submission is fine). */
  protected abstract submitQueued(): number;
  /** Reaps all completions in user space, calling completion() for each; returns the count. */
  protected abstract reap(): number;
  /** Blocks until at least one completion is available (shutdown, tests). */
  protected abstract waitAny(): number;
  /** Fails every queued, unsubmitted request (fatal submission error). */
  protected abstract cancelQueued(errno: number): void;
  /** Queued but unsubmitted requests. */
  protected abstract get unsubmitted(): number;
  protected abstract closeKernel(): void;

  get inFlight(): number {
    return this.active + (this.waitOp.length - this.waitHead) + this.batch.pending;
  }

  readv(offset: number, iov: IoVecList, done: BlockCompletion, tag: number): void {
    const bad = this.check(offset, iov.length, false);
    if (bad !== 0 || iov.length === 0) return this.finishNow(done, tag, bad);
    this.start(OP_READ, offset, iov, done, tag);
  }

  writev(offset: number, iov: IoVecList, done: BlockCompletion, tag: number): void {
    const bad = this.check(offset, iov.length, true);
    if (bad !== 0 || iov.length === 0) return this.finishNow(done, tag, bad);
    this.start(OP_WRITE, offset, iov, done, tag);
  }

  flush(done: BlockCompletion, tag: number): void {
    if (this.closed) return this.finishNow(done, tag, -Errno.EBADF);
    if (this.readOnly) return this.finishNow(done, tag, 0);
    if (this.image.flushFailure !== 0) return this.finishNow(done, tag, this.image.flushFailure);
    this.start(OP_FLUSH, 0, null, done, tag);
  }

  discard(offset: number, length: number, done: BlockCompletion, tag: number): void {
    // Rare, metadata-only on most filesystems: done synchronously.
    const bad = this.check(offset, length, true);
    this.finishNow(done, tag, bad !== 0 ? bad : this.sync.discard(offset, length));
  }

  writeZeroes(offset: number, length: number, done: BlockCompletion, tag: number): void {
    const bad = this.check(offset, length, true);
    this.finishNow(done, tag, bad !== 0 ? bad : this.sync.writeZeroes(offset, length));
  }

  private check(offset: number, length: number, write: boolean): number {
    return checkBlockRequest(this.closed, this.readOnly, this.size, offset, length, write);
  }

  /** Completes without the kernel queue (errors, no-ops, sync ops), on a microtask. */
  protected finishNow(done: BlockCompletion, tag: number, result: number): void {
    this.batch.push(done, tag, result);
    this.batch.schedule();
  }

  private start(op: number, offset: number, iov: IoVecList | null, done: BlockCompletion, tag: number): void {
    if (this.freeCount === 0 || this.waitHead < this.waitOp.length) {
      this.waitOp.push(op);
      this.waitOffset.push(offset);
      this.waitIov.push(iov);
      this.waitDone.push(done);
      this.waitTag.push(tag);
      return;
    }
    this.issue(op, offset, iov, done, tag);
  }

  private issue(op: number, offset: number, iov: IoVecList | null, done: BlockCompletion, tag: number): void {
    const slot = this.freeSlots[--this.freeCount];
    this.slotDone[slot] = done;
    this.slotTag[slot] = tag;
    this.slotOp[slot] = op;
    this.slotOffset[slot] = offset;
    this.slotIov[slot] = iov;
    this.active++;
    // Slots never outnumber the kernel queue, so with a free slot it has room.
    if (!this.queue(slot, op, offset, iov)) {
      this.releaseSlot(slot);
      this.finishNow(done, tag, -Errno.EAGAIN);
      return;
    }
    this.stats.submitted++;
    if (!this.submitScheduled) {
      this.submitScheduled = true;
      runSoon(this.submitBound);
    }
  }

  /** Submits everything queued in this JS task, then reaps what already completed. */
  private submitNow(): void {
    this.submitScheduled = false;
    if (this.closed) return;
    if (this.unsubmitted > 0) {
      this.stats.submitCalls++;
      const r = this.submitQueued();
      if (r < 0) {
        const e = -r;
        if (e === EAGAIN || e === EBUSY || e === EINTR) {
          this.retry ??= setImmediate(() => {
            this.retry = null;
            this.submitNow();
          });
        } else {
          this.cancelQueued(e);
        }
      }
    }
    const n = this.reap();
    this.stats.reapedInline += n;
    this.updateRef();
    this.batch.deliver();
  }

  /** Engines call this for each reaped completion. */
  protected completion(slot: number, res: number): void {
    if (slot >= this.slotOp.length || this.slotDone[slot] === null) return; // not ours: cannot happen
    this.stats.reapedInUserSpace++;
    const op = this.slotOp[slot];
    if (res >= 0 && op !== OP_FLUSH) {
      const iov = this.slotIov[slot]!;
      if (res < iov.length) {
        // Short transfer (a signal, end of file): finish it synchronously;
        // too rare to deserve a second asynchronous path.
        this.stats.shortTransfers++;
        res = this.sync.transfer(op === OP_WRITE, this.slotOffset[slot], iov, res);
      }
    }
    this.completeSlot(slot, res);
  }

  protected completeSlot(slot: number, res: number): void {
    // any failed flush latches; one that succeeded after it still fails
    if (this.slotOp[slot] === OP_FLUSH) res = this.image.flushResult(res);
    const done = this.slotDone[slot]!;
    const tag = this.slotTag[slot];
    this.releaseSlot(slot);
    this.batch.push(done, tag, res);
    if (this.waitHead < this.waitOp.length && !this.closing) {
      const i = this.waitHead++;
      const wd = this.waitDone[i]!;
      const wi = this.waitIov[i];
      this.waitDone[i] = null;
      this.waitIov[i] = null;
      this.issue(this.waitOp[i], this.waitOffset[i], wi, wd, this.waitTag[i]);
      if (this.waitHead === this.waitOp.length) {
        this.waitHead = 0;
        this.waitOp.length = 0;
        this.waitOffset.length = 0;
        this.waitIov.length = 0;
        this.waitDone.length = 0;
        this.waitTag.length = 0;
      }
    }
  }

  private releaseSlot(slot: number): void {
    this.slotDone[slot] = null;
    this.slotIov[slot] = null;
    this.freeSlots[this.freeCount++] = slot;
    this.active--;
  }

  private onWake(): void {
    if (this.closed) return;
    this.stats.wakeups++;
    read(this.eventfd, this.efdBuf, 8); // reset the counter (non-blocking)
    const n = this.reap();
    if (n === 0) this.stats.spuriousWakeups++;
    this.stats.reapedOnWake += n;
    this.updateRef();
    this.batch.deliver();
  }

  /** Reaps and delivers completions now, without a system call. */
  pump(): number {
    const n = this.reap();
    this.updateRef();
    this.batch.deliver();
    return n;
  }

  /** Blocks until at least one request completes, then delivers (tests, shutdown). */
  waitOne(): void {
    if (this.submitScheduled) this.submitNow();
    if (this.active === 0) return;
    this.waitAny();
    this.pump();
  }

  drain(): void {
    for (;;) {
      if (this.submitScheduled) this.submitNow();
      this.batch.deliver();
      if (this.active === 0 && this.waitHead >= this.waitOp.length && this.batch.pending === 0) return;
      if (this.active > 0) {
        const r = this.waitAny();
        if (r < 0 && -r !== EINTR && -r !== EAGAIN && -r !== EBUSY) return; // the ring is gone
      }
      this.reap();
      this.updateRef();
    }
  }

  private updateRef(): void {
    const want = this.active > 0;
    if (want === this.pollRef || this.poll === null) return;
    this.pollRef = want;
    if (want) this.poll.ref();
    else this.poll.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closing = true;
    // The kernel may still be writing into guest memory: wait for it.
    if (this.unsubmitted > 0) this.submitQueued();
    const before = this.active;
    for (let spins = 0; this.active > 0 && spins < before + 1000; spins++) {
      const r = this.waitAny();
      if (r < 0 && -r !== EINTR && -r !== EAGAIN && -r !== EBUSY) break;
      this.reap();
    }
    this.closed = true;
    if (this.retry !== null) clearImmediate(this.retry);
    this.batch.clear();
    this.poll?.close();
    this.poll = null;
    this.closeKernel();
    if (this.eventfd >= 0) close(this.eventfd);
    this.sync.release();
  }
}
