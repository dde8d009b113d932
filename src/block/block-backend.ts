// The vectored block API. A device model submits reads and writes at a byte
// offset with host iovecs (from the DMA API: they point into guest RAM) and
// gets a completion callback later. Many requests may be in flight.
//
// Completion is (object, tag) rather than a closure so that submitting a
// request allocates nothing: the device passes itself and a request slot
// number. Contracts every backend keeps:
//   * a completion is never delivered from inside the submitting call;
//   * a read or write completes with its full length or with -errno (short
//     transfers are continued internally; hitting end-of-file is -EIO);
//   * completions are delivered in batches; after each batch blockBatchEnd()
//     is called once on every completion target that got one (a device sends
//     one interrupt per batch, not per request);
//   * the iovec array and the memory it points to must stay valid until the
//     completion arrives;
//   * flush completes only after the data of every write that completed before
//     the flush was submitted is on stable storage (fdatasync);
//   * once a flush has failed, every later flush on the image fails with the
//     same error (the kernel reports a lost write-back only once).
import { EAGAIN, EBADF, ECANCELED, EINVAL, EIO, ENOSPC, ENOSYS, EOPNOTSUPP, EROFS } from '../../ffi/libc.js';
import type { IoVecList } from '../memory/dma-iovec.js';

export interface BlockCompletion {
  /** `result`: bytes transferred (readv/writev), 0 (flush/discard/writeZeroes), or -errno. */
  blockComplete(tag: number, result: number): void;
  /** Once after a batch of completions for this target. */
  blockBatchEnd?(): void;
}

/** The engine serving a disk, by the name `--disk ...,engine=` gives it (logs and --stats print it). */
export type BlockEngineKind = 'sync' | 'io_uring' | 'aio';

export interface BlockBackend {
  readonly kind: BlockEngineKind;
  /** Size in bytes (fixed while open). */
  readonly size: number;
  readonly readOnly: boolean;
  /** Opened with O_DIRECT (cache=none). */
  readonly direct: boolean;
  /** Offsets and lengths are fastest (for O_DIRECT: only bounce-free) in multiples of this. */
  readonly logicalBlockSize: number;
  readonly canDiscard: boolean;
  readonly canWriteZeroes: boolean;
  /** Requests submitted and not yet completed. */
  readonly inFlight: number;
  readv(offset: number, iov: IoVecList, done: BlockCompletion, tag: number): void;
  writev(offset: number, iov: IoVecList, done: BlockCompletion, tag: number): void;
  flush(done: BlockCompletion, tag: number): void;
  /** Deallocates [offset, offset+length); reads afterwards return unspecified data. */
  discard(offset: number, length: number, done: BlockCompletion, tag: number): void;
  /** Makes [offset, offset+length) read as zeroes. */
  writeZeroes(offset: number, length: number, done: BlockCompletion, tag: number): void;
  /**
   * Blocks until no request is in flight, delivering every completion
   * (device reset: nothing may write into guest memory afterwards).
   */
  drain(): void;
  /**
   * Waits (synchronously) for requests in flight to finish, so that the kernel
   * no longer writes into guest memory, then releases everything. Completions
   * still pending are dropped. The image file itself is closed by its owner.
   */
  close(): void;
}

/** The errno values the block layer produces itself (values: ffi/libc.ts). */
export const Errno = { EIO, EBADF, EAGAIN, EINVAL, ENOSPC, EROFS, ENOSYS, EOPNOTSUPP, ECANCELED } as const;

/**
 * The checks every backend makes before it touches the image: open, writable
 * when writing, and [offset, offset+length) inside the disk. 0 or -errno.
 */
export function checkBlockRequest(closed: boolean, readOnly: boolean, size: number, offset: number, length: number, write: boolean): number {
  if (closed) return -Errno.EBADF;
  if (write && readOnly) return -Errno.EROFS;
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || length > size - offset) return -Errno.EINVAL;
  return 0;
}
