// cache=none (O_DIRECT) needs every iovec base aligned to the device's DMA
// alignment and every offset and length a multiple of its logical block size.
// This wrapper passes aligned requests straight through (zero copy, no extra
// work beyond the check) and bounces only misaligned ones through an aligned
// buffer: reads read the covering blocks and copy out; writes whose offset or
// length is not block-aligned read-modify-write the covering blocks. Bounced
// requests run one at a time (two read-modify-writes of one block must not
// interleave) in chunks of at most `chunkSize` bytes.
import { HostBuffer } from '../memory/dma-host-buffer.js';
import { IoVecArray, copyIoVecs, type IoVecList } from '../memory/dma-iovec.js';
import { Errno, type BlockBackend, type BlockCompletion, type BlockEngineKind } from './block-backend.js';
import { CompletionBatch } from './completion-batch.js';

const OP_READ = 1;
const OP_WRITE = 2;

export interface AlignedBackendOptions {
  /** Required alignment of iovec bases. */
  memoryAlignment: number;
  /** Required alignment of offsets and lengths. */
  blockSize: number;
  /** Bounce buffer size (multiple of blockSize). Default 256 KiB. */
  chunkSize?: number;
}

export class AlignedBlockBackend implements BlockBackend, BlockCompletion {
  readonly kind: BlockEngineKind;
  readonly size: number;
  readonly readOnly: boolean;
  readonly direct: boolean;
  readonly logicalBlockSize: number;
  readonly canDiscard: boolean;
  readonly canWriteZeroes: boolean;
  /** Requests that needed bouncing (statistics). */
  bounced = 0;
  passedThrough = 0;

  private readonly memAlign: number;
  private readonly bs: number;
  private readonly chunk: number;
  private buffer: HostBuffer | null = null;
  private readonly bounceIovMemory: HostBuffer;
  private readonly bounceIov: IoVecArray;
  private readonly batch = new CompletionBatch();

  // FIFO of bounced requests; the head one is running
  private readonly qOp: number[] = [];
  private readonly qOffset: number[] = [];
  private readonly qIov: (IoVecList | null)[] = [];
  private readonly qDone: (BlockCompletion | null)[] = [];
  private readonly qTag: number[] = [];
  private running = false;
  // progress of the running request
  private pos = 0; // next byte of the request (absolute offset)
  private end = 0;
  private chunkStart = 0; // aligned chunk being worked on
  private chunkEnd = 0;
  private phase = 0; // 1: reading the chunk, 2: writing the chunk

  constructor(
    readonly inner: BlockBackend,
    options: AlignedBackendOptions,
  ) {
    this.kind = inner.kind;
    this.size = inner.size;
    this.readOnly = inner.readOnly;
    this.direct = inner.direct;
    this.logicalBlockSize = inner.logicalBlockSize;
    this.canDiscard = inner.canDiscard;
    this.canWriteZeroes = inner.canWriteZeroes;
    this.memAlign = Math.max(1, options.memoryAlignment);
    this.bs = Math.max(1, options.blockSize);
    const want = options.chunkSize ?? 256 * 1024;
    this.chunk = Math.max(this.bs, Math.floor(want / this.bs) * this.bs);
    this.bounceIovMemory = new HostBuffer(16);
    this.bounceIov = new IoVecArray(this.bounceIovMemory.bytes, this.bounceIovMemory.address, 1);
  }

  get inFlight(): number {
    return this.inner.inFlight + this.qOp.length + this.batch.pending;
  }

  /** True when the request can go to O_DIRECT as is. */
  isAligned(offset: number, iov: IoVecList): boolean {
    const bs = this.bs;
    const ma = this.memAlign;
    if (offset % bs !== 0 || iov.length % bs !== 0) return false;
    for (let i = 0; i < iov.count; i++) if (iov.base(i) % ma !== 0 || iov.len(i) % bs !== 0) return false;
    return true;
  }

  readv(offset: number, iov: IoVecList, done: BlockCompletion, tag: number): void {
    if (this.isAligned(offset, iov)) {
      this.passedThrough++;
      return this.inner.readv(offset, iov, done, tag);
    }
    this.enqueue(OP_READ, offset, iov, done, tag);
  }

  writev(offset: number, iov: IoVecList, done: BlockCompletion, tag: number): void {
    if (this.isAligned(offset, iov)) {
      this.passedThrough++;
      return this.inner.writev(offset, iov, done, tag);
    }
    this.enqueue(OP_WRITE, offset, iov, done, tag);
  }

  flush(done: BlockCompletion, tag: number): void {
    this.inner.flush(done, tag);
  }

  discard(offset: number, length: number, done: BlockCompletion, tag: number): void {
    this.inner.discard(offset, length, done, tag);
  }

  writeZeroes(offset: number, length: number, done: BlockCompletion, tag: number): void {
    this.inner.writeZeroes(offset, length, done, tag);
  }

  private enqueue(op: number, offset: number, iov: IoVecList, done: BlockCompletion, tag: number): void {
    const len = iov.length;
    if (!Number.isSafeInteger(offset) || offset < 0 || len > this.size - offset) {
      this.batch.push(done, tag, -Errno.EINVAL);
      this.batch.schedule();
      return;
    }
    if (op === OP_WRITE && this.readOnly) {
      this.batch.push(done, tag, -Errno.EROFS);
      this.batch.schedule();
      return;
    }
    this.bounced++;
    this.qOp.push(op);
    this.qOffset.push(offset);
    this.qIov.push(iov);
    this.qDone.push(done);
    this.qTag.push(tag);
    if (!this.running) this.startNext();
  }

  private startNext(): void {
    if (this.qOp.length === 0) {
      this.running = false;
      return;
    }
    this.running = true;
    this.buffer ??= new HostBuffer(this.chunk);
    this.pos = this.qOffset[0];
    this.end = this.pos + this.qIov[0]!.length;
    if (this.pos === this.end) return this.finish(0);
    this.nextChunk();
  }

  private nextChunk(): void {
    const bs = this.bs;
    this.chunkStart = Math.floor(this.pos / bs) * bs;
    this.chunkEnd = Math.min(Math.ceil(this.end / bs) * bs, this.chunkStart + this.chunk);
    const op = this.qOp[0];
    const partial = this.pos !== this.chunkStart || Math.min(this.end, this.chunkEnd) !== this.chunkEnd;
    if (op === OP_READ || partial) {
      this.phase = 1;
      this.inner.readv(this.chunkStart, this.chunkIov(), this, 0);
    } else {
      this.copyIn();
      this.phase = 2;
      this.inner.writev(this.chunkStart, this.chunkIov(), this, 0);
    }
  }

  private chunkIov(): IoVecList {
    this.bounceIov.reset();
    this.bounceIov.push(this.buffer!.address, this.chunkEnd - this.chunkStart);
    return this.bounceIov;
  }

  /** Copies [pos, min(end, chunkEnd)) of the request between the user iovecs and the bounce buffer. */
  private copy(toUser: boolean): number {
    const stop = Math.min(this.end, this.chunkEnd);
    const skip = this.pos - this.qOffset[0]; // bytes of the request before pos
    copyIoVecs(this.qIov[0]!, skip, this.buffer!.address + (this.pos - this.chunkStart), stop - this.pos, toUser);
    return stop;
  }

  private copyIn(): void {
    this.copy(false);
  }

  blockComplete(_tag: number, result: number): void {
    if (result < 0) return this.finish(result);
    if (this.qOp[0] === OP_READ) {
      this.pos = this.copy(true);
    } else if (this.phase === 1) {
      // read half of read-modify-write done: merge the new data, write back
      this.copyIn();
      this.phase = 2;
      this.inner.writev(this.chunkStart, this.chunkIov(), this, 0);
      return;
    } else {
      this.pos = Math.min(this.end, this.chunkEnd);
    }
    if (this.pos >= this.end) this.finish(this.qIov[0]!.length);
    else this.nextChunk();
  }

  blockBatchEnd(): void {
    this.batch.deliver();
  }

  private finish(result: number): void {
    const done = this.qDone[0]!;
    const tag = this.qTag[0];
    this.qOp.shift();
    this.qOffset.shift();
    this.qIov.shift();
    this.qDone.shift();
    this.qTag.shift();
    this.batch.push(done, tag, result);
    this.batch.schedule();
    this.startNext();
  }

  drain(): void {
    while (this.qOp.length > 0 || this.inner.inFlight > 0) {
      if (this.inner.inFlight === 0) break; // nothing can make progress (cannot happen)
      this.inner.drain();
    }
    while (this.batch.pending > 0) this.batch.deliver();
  }

  close(): void {
    this.inner.close();
    this.batch.clear();
    this.buffer?.release();
    this.buffer = null;
    this.bounceIovMemory.release();
  }
}
