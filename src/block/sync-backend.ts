// The synchronous engine: preadv/pwritev/fdatasync on the calling thread,
// completions delivered together on a microtask once the submitting code has
// returned. Simple and fast when the data is in the page cache; a slow disk
// stalls the event loop, which is what the asynchronous engines avoid.
import type { IoVecList } from '../memory/dma-iovec.js';
import { Errno, checkBlockRequest, type BlockBackend, type BlockCompletion, type BlockEngineKind } from './block-backend.js';
import { CompletionBatch } from './completion-batch.js';
import type { DiskImage } from './disk-image.js';
import { SyncIo } from './sync-io.js';

export class SyncBlockBackend implements BlockBackend {
  readonly kind: BlockEngineKind = 'sync';
  readonly size: number;
  readonly readOnly: boolean;
  readonly direct: boolean;
  readonly logicalBlockSize: number;
  readonly canDiscard = true;
  readonly canWriteZeroes = true;
  private readonly io: SyncIo;
  private readonly batch = new CompletionBatch();
  private closed = false;

  constructor(readonly image: DiskImage) {
    this.size = image.size;
    this.readOnly = image.readOnly;
    this.direct = image.direct;
    this.logicalBlockSize = image.logicalBlockSize;
    this.io = new SyncIo(image.fd);
  }

  get inFlight(): number {
    return this.batch.pending;
  }

  readv(offset: number, iov: IoVecList, done: BlockCompletion, tag: number): void {
    const bad = this.check(offset, iov.length, false);
    this.complete(done, tag, bad !== 0 ? bad : this.io.readv(offset, iov));
  }

  writev(offset: number, iov: IoVecList, done: BlockCompletion, tag: number): void {
    const bad = this.check(offset, iov.length, true);
    this.complete(done, tag, bad !== 0 ? bad : this.io.writev(offset, iov));
  }

  flush(done: BlockCompletion, tag: number): void {
    const image = this.image;
    let r: number;
    if (this.closed) r = -Errno.EBADF;
    else if (this.readOnly) r = 0;
    else if (image.flushFailure !== 0) r = image.flushFailure;
    else r = image.flushResult(this.io.flush());
    this.complete(done, tag, r);
  }

  discard(offset: number, length: number, done: BlockCompletion, tag: number): void {
    const bad = this.check(offset, length, true);
    this.complete(done, tag, bad !== 0 ? bad : this.io.discard(offset, length));
  }

  writeZeroes(offset: number, length: number, done: BlockCompletion, tag: number): void {
    const bad = this.check(offset, length, true);
    this.complete(done, tag, bad !== 0 ? bad : this.io.writeZeroes(offset, length));
  }

  private check(offset: number, length: number, write: boolean): number {
    return checkBlockRequest(this.closed, this.readOnly, this.size, offset, length, write);
  }

  private complete(done: BlockCompletion, tag: number, result: number): void {
    this.batch.push(done, tag, result);
    this.batch.schedule();
  }

  drain(): void {
    while (this.batch.pending > 0) this.batch.deliver();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.batch.clear();
    this.io.release();
  }
}
