// The asynchronous engine on Linux AIO (io_setup/io_submit), the fallback when
// io_uring is unavailable. Requests are IOCB_CMD_PREADV/PWRITEV on the
// caller's iovec array and IOCB_CMD_FDSYNC for flush; completions signal an
// eventfd (IOCB_FLAG_RESFD) and are read straight from the aio_ring the kernel
// maps into our address space (the AIO context *is* its address), advancing
// its head ourselves instead of calling io_getevents — shared/seeds/003. The
// kernel supports this: it refills its free-request count from the ring head.
// Ordering: Atomics.load(tail) before reading events, Atomics.store(head)
// after (see io-uring.ts for why that suffices on x86-64).
//
// Caveat: without O_DIRECT Linux AIO runs the I/O inside io_submit, so
// buffered images get no concurrency from it (io_uring does better).
import {
  IOCB_CMD_FDSYNC,
  IOCB_CMD_PREADV,
  IOCB_CMD_PWRITEV,
  IOCB_FLAG_RESFD,
  aioRingLayout,
  ioDestroy,
  ioGetevents,
  ioSetup,
  ioSubmit,
  lastErrno,
} from '../../ffi/block-io.js';
import { EAGAIN, EINTR, EINVAL, viewAt } from '../../ffi/libc.js';
import { HostBuffer } from '../memory/dma-host-buffer.js';
import type { IoVecList } from '../memory/dma-iovec.js';
import type { BlockCompletion, BlockEngineKind } from './block-backend.js';
import type { DiskImage } from './disk-image.js';
import { KernelQueueBackend, OP_FLUSH, OP_READ } from './kernel-queue-backend.js';

const TWO32 = 0x1_0000_0000;

export interface LinuxAioBackendOptions {
  depth?: number;
  eventLoop?: boolean;
}

export class LinuxAioBlockBackend extends KernelQueueBackend {
  readonly kind: BlockEngineKind = 'aio';
  private readonly ctx: number;
  private readonly depth: number;
  /** The kernel's aio_ring (header + io_events), or null when it cannot be read in user space. */
  private readonly ring: Uint32Array | null;
  private readonly ringI32: Int32Array | null;
  private readonly ringNr: number;
  private readonly iocbs: HostBuffer;
  private readonly iocbWords: Uint32Array;
  private readonly ptrs: HostBuffer;
  private readonly ptrWords: Uint32Array;
  private readonly events: HostBuffer;
  private readonly eventWords: Int32Array;
  private queued = 0;
  private fdsync = true;
  /** True when completions are reaped from the mapped ring (no io_getevents). */
  readonly userSpaceReaping: boolean;

  private constructor(image: DiskImage, ctx: number, depth: number, eventLoop: boolean) {
    super(image, depth);
    this.ctx = ctx;
    this.depth = depth;
    this.iocbs = new HostBuffer(depth * 64);
    this.iocbWords = new Uint32Array(this.iocbs.bytes.buffer, 0, depth * 16);
    this.ptrs = new HostBuffer(depth * 8);
    this.ptrWords = new Uint32Array(this.ptrs.bytes.buffer, 0, depth * 2);
    this.events = new HostBuffer(depth * 32);
    this.eventWords = new Int32Array(this.events.bytes.buffer, 0, depth * 8);
    const header = new Uint32Array(viewAt(ctx, aioRingLayout.headerSize));
    const nr = header[aioRingLayout.offsets.nr / 4];
    const ok =
      header[aioRingLayout.offsets.magic / 4] === aioRingLayout.magic &&
      header[aioRingLayout.offsets.incompat_features / 4] === 0 &&
      header[aioRingLayout.offsets.header_length / 4] === aioRingLayout.headerSize &&
      nr > 0;
    this.ringNr = nr;
    this.ring = ok ? new Uint32Array(viewAt(ctx, aioRingLayout.headerSize + nr * 32)) : null;
    this.ringI32 = this.ring ? new Int32Array(this.ring.buffer, this.ring.byteOffset, this.ring.length) : null;
    this.userSpaceReaping = ok;
    if (eventLoop) {
      this.watchEventfd();
      this.startPolling();
    }
  }

  /** The engine for `image`, or a reason string when Linux AIO is unusable. */
  static create(image: DiskImage, options: LinuxAioBackendOptions = {}): LinuxAioBlockBackend | string {
    const depth = options.depth ?? 128;
    const ctxBuf = new HostBuffer(8);
    let ctx: number;
    try {
      if (ioSetup(depth, ctxBuf.address) < 0) return `io_setup failed (errno ${lastErrno()})`;
      const w = new Uint32Array(ctxBuf.bytes.buffer, 0, 2);
      ctx = w[0] + w[1] * TWO32;
    } finally {
      ctxBuf.release();
    }
    try {
      const b = new LinuxAioBlockBackend(image, ctx, depth, options.eventLoop ?? true);
      if (!image.readOnly) b.probeFdsync();
      return b;
    } catch (e) {
      ioDestroy(ctx);
      return (e as Error).message;
    }
  }

  /** IOCB_CMD_FDSYNC needs Linux 4.18; without it flush falls back to fdatasync(2). */
  private probeFdsync(): void {
    this.fillIocb(0, IOCB_CMD_FDSYNC, 0, 0, 0, false);
    this.setPtr(0, 0);
    const r = ioSubmit(this.ctx, 1, this.ptrs.address);
    if (r !== 1) {
      this.fdsync = false;
      return;
    }
    const n = ioGetevents(this.ctx, 1, 1, this.events.address, 0);
    if (n !== 1 || this.eventWords[4] === -EINVAL) this.fdsync = false;
  }

  override flush(done: BlockCompletion, tag: number): void {
    if (this.fdsync || this.readOnly || this.closed) return super.flush(done, tag);
    this.finishNow(done, tag, this.image.flushResult(this.sync.flush()));
  }

  private fillIocb(slot: number, opcode: number, offset: number, buf: number, nbytes: number, resfd: boolean): void {
    const w = this.iocbWords;
    const i = slot * 16;
    w[i] = slot; // aio_data
    w[i + 1] = 0;
    w[i + 2] = 0; // aio_key
    w[i + 3] = 0; // aio_rw_flags
    w[i + 4] = opcode; // aio_lio_opcode, aio_reqprio = 0
    w[i + 5] = this.fd >>> 0; // aio_fildes
    w[i + 6] = buf % TWO32; // aio_buf
    w[i + 7] = Math.floor(buf / TWO32);
    w[i + 8] = nbytes % TWO32; // aio_nbytes
    w[i + 9] = Math.floor(nbytes / TWO32);
    w[i + 10] = offset % TWO32; // aio_offset
    w[i + 11] = Math.floor(offset / TWO32);
    w[i + 12] = 0; // aio_reserved2
    w[i + 13] = 0;
    w[i + 14] = resfd ? IOCB_FLAG_RESFD : 0; // aio_flags
    w[i + 15] = resfd ? this.eventfd >>> 0 : 0; // aio_resfd
  }

  private setPtr(n: number, slot: number): void {
    const a = this.iocbs.address + slot * 64;
    this.ptrWords[n * 2] = a % TWO32;
    this.ptrWords[n * 2 + 1] = Math.floor(a / TWO32);
  }

  protected queue(slot: number, op: number, offset: number, iov: IoVecList | null): boolean {
    if (this.queued >= this.depth) return false;
    const resfd = this.eventfd >= 0;
    if (op === OP_FLUSH) this.fillIocb(slot, IOCB_CMD_FDSYNC, 0, 0, 0, resfd);
    else this.fillIocb(slot, op === OP_READ ? IOCB_CMD_PREADV : IOCB_CMD_PWRITEV, offset, iov!.address, iov!.count, resfd);
    this.setPtr(this.queued++, slot);
    return true;
  }

  protected get unsubmitted(): number {
    return this.queued;
  }

  protected submitQueued(): number {
    while (this.queued > 0) {
      const r = ioSubmit(this.ctx, this.queued, this.ptrs.address);
      if (r < 0) {
        const e = lastErrno();
        if (e === EAGAIN || e === EINTR) return -e;
        // io_submit fails only when the first iocb is refused: fail that one
        this.completeSlot(this.slotOfPtr(0), -e);
        this.shift(1);
        continue;
      }
      if (r < this.queued) {
        this.shift(r);
        return -EAGAIN; // the rest after the next turn of the event loop
      }
      this.queued = 0;
    }
    return 0;
  }

  private slotOfPtr(n: number): number {
    const a = this.ptrWords[n * 2] + this.ptrWords[n * 2 + 1] * TWO32;
    return (a - this.iocbs.address) / 64;
  }

  private shift(n: number): void {
    this.ptrWords.copyWithin(0, n * 2, this.queued * 2);
    this.queued -= n;
  }

  protected reap(): number {
    const ring = this.ring;
    if (ring === null) return this.reapWithSyscall();
    const i32 = this.ringI32!;
    const nr = this.ringNr;
    const HEAD = aioRingLayout.offsets.head / 4;
    const TAIL = aioRingLayout.offsets.tail / 4;
    const EVENTS = aioRingLayout.headerSize / 4;
    let head = ring[HEAD];
    let n = 0;
    for (;;) {
      const tail = Atomics.load(ring, TAIL); // acquire
      if (head === tail || tail >= nr) break;
      while (head !== tail) {
        const e = EVENTS + head * 8;
        const slot = ring[e]; // io_event.data (low half)
        const resLo = i32[e + 4];
        const resHi = i32[e + 5];
        const res = resHi < 0 ? resLo : ring[e + 4] + resHi * TWO32;
        head = head + 1 === nr ? 0 : head + 1;
        n++;
        this.completion(slot, res);
      }
      Atomics.store(ring, HEAD, head); // release the events
    }
    return n;
  }

  private reapWithSyscall(): number {
    let total = 0;
    for (;;) {
      const timeout = 0; // NULL timeout with min_nr 0: return at once
      const n = ioGetevents(this.ctx, 0, this.depth, this.events.address, timeout);
      if (n <= 0) return total;
      this.deliverEvents(n);
      total += n;
    }
  }

  private deliverEvents(n: number): void {
    const w = this.eventWords;
    for (let k = 0; k < n; k++) {
      const e = k * 8;
      const res = w[e + 5] < 0 ? w[e + 4] : (w[e + 4] >>> 0) + w[e + 5] * TWO32;
      this.completion(w[e], res);
    }
  }

  protected waitAny(): number {
    const n = ioGetevents(this.ctx, 1, this.depth, this.events.address, 0);
    if (n < 0) return -lastErrno();
    this.deliverEvents(n);
    return n;
  }

  protected cancelQueued(errno: number): void {
    while (this.queued > 0) {
      this.completeSlot(this.slotOfPtr(0), -errno);
      this.shift(1);
    }
  }

  protected closeKernel(): void {
    ioDestroy(this.ctx);
    this.iocbs.release();
    this.ptrs.release();
    this.events.release();
  }
}
