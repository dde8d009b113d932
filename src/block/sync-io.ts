// Blocking vectored I/O on one file descriptor: the synchronous engine's
// workhorse and the asynchronous engines' fallback for rare cases (continuing
// a short transfer, discard, write-zeroes). Returns bytes or -errno; retries
// EINTR and continues short transfers until done or end of file.
import {
  FALLOC_FL_KEEP_SIZE,
  FALLOC_FL_PUNCH_HOLE,
  FALLOC_FL_ZERO_RANGE,
  IOV_MAX,
  fallocate,
  fdatasync,
  lastErrno,
  preadv,
  pwriteAt,
  pwritev,
} from '../../ffi/block-io.js';
import { EINTR } from '../../ffi/libc.js';
import { HostBuffer } from '../memory/dma-host-buffer.js';
import { IoVecArray, type IoVecList } from '../memory/dma-iovec.js';
import { Errno } from './block-backend.js';

const ZERO_CHUNK = 256 * 1024;

export class SyncIo {
  private readonly scratchMemory: HostBuffer;
  private readonly scratch: IoVecArray;
  private zeroes: HostBuffer | null = null;
  /** fallocate modes found unsupported, not retried. */
  private zeroRangeWorks = true;
  private punchHoleWorks = true;

  constructor(readonly fd: number) {
    this.scratchMemory = new HostBuffer(IOV_MAX * 16);
    this.scratch = new IoVecArray(this.scratchMemory.bytes, this.scratchMemory.address, IOV_MAX);
  }

  readv(offset: number, iov: IoVecList): number {
    return this.transfer(false, offset, iov, 0);
  }

  writev(offset: number, iov: IoVecList): number {
    return this.transfer(true, offset, iov, 0);
  }

  /**
   * Transfers the rest of `iov` after its first `done` bytes (an async
   * engine's short completion); returns the total including `done`.
   */
  transfer(write: boolean, offset: number, iov: IoVecList, done: number): number {
    const total = iov.length;
    if (iov.count > IOV_MAX) return -Errno.EINVAL;
    let list: IoVecList = iov;
    let skipped = 0; // bytes of `iov` not in `list`
    if (done > 0) {
      this.advanceInto(iov, done);
      list = this.scratch;
      skipped = done;
    }
    while (skipped < total) {
      const n = (write ? pwritev : preadv)(this.fd, list.address, list.count, offset + skipped) as number;
      if (n < 0) {
        const e = lastErrno();
        if (e === EINTR) continue;
        return -e;
      }
      if (n === 0) return -Errno.EIO; // end of file: the image shrank under us
      skipped += n;
      if (skipped < total) {
        this.advanceInto(iov, skipped);
        list = this.scratch;
      }
    }
    return total;
  }

  flush(): number {
    for (;;) {
      if ((fdatasync(this.fd) as number) === 0) return 0;
      const e = lastErrno();
      if (e !== EINTR) return -e;
    }
  }

  discard(offset: number, length: number): number {
    if (length === 0 || !this.punchHoleWorks) return 0;
    const r = this.fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
    if (r === -Errno.EOPNOTSUPP || r === -Errno.ENOSYS) {
      // Discard is advisory: not deallocating is a valid implementation.
      this.punchHoleWorks = false;
      return 0;
    }
    return r;
  }

  writeZeroes(offset: number, length: number): number {
    if (length === 0) return 0;
    if (this.zeroRangeWorks) {
      const r = this.fallocate(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, length);
      if (r === 0) return 0;
      if (r !== -Errno.EOPNOTSUPP && r !== -Errno.ENOSYS && r !== -Errno.EINVAL) return r;
      this.zeroRangeWorks = false;
    }
    if (this.punchHoleWorks) {
      // A punched hole reads back as zeroes.
      const r = this.fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
      if (r === 0) return 0;
      if (r !== -Errno.EOPNOTSUPP && r !== -Errno.ENOSYS && r !== -Errno.EINVAL) return r;
      this.punchHoleWorks = false;
    }
    this.zeroes ??= new HostBuffer(ZERO_CHUNK);
    let done = 0;
    while (done < length) {
      const n = pwriteAt(this.fd, this.zeroes.address, Math.min(ZERO_CHUNK, length - done), offset + done) as number;
      if (n < 0) {
        const e = lastErrno();
        if (e === EINTR) continue;
        return -e;
      }
      if (n === 0) return -Errno.EIO;
      done += n;
    }
    return 0;
  }

  private fallocate(mode: number, offset: number, length: number): number {
    for (;;) {
      if ((fallocate(this.fd, mode, offset, length) as number) === 0) return 0;
      const e = lastErrno();
      if (e !== EINTR) return -e;
    }
  }

  /** scratch := iov without its first `skip` bytes. */
  private advanceInto(iov: IoVecList, skip: number): void {
    const s = this.scratch;
    s.reset();
    let left = skip;
    for (let i = 0; i < iov.count; i++) {
      const len = iov.len(i);
      if (left >= len) {
        left -= len;
        continue;
      }
      s.push(iov.base(i) + left, len - left);
      left = 0;
    }
  }

  release(): void {
    this.scratchMemory.release();
    this.zeroes?.release();
    this.zeroes = null;
  }
}
