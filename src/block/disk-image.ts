// Opening a raw disk image (a regular file or a block device): the right open
// flags for read-only and cache=none, an advisory lock so two VMs never write
// one image (exclusive for read-write, shared for read-only), and the facts a
// backend needs (size, direct-I/O alignment). Every failure is a DiskImageError
// whose message names the file and says what to do.
//
// The lock is an flock(2) lock, which belongs to the open file description:
// it travels with the descriptor when the frontend hands it to the helper
// process and lasts until the last descriptor for it is closed.
import {
  AT_EMPTY_PATH,
  BLKGETSIZE64,
  BLKSSZGET,
  LOCK_EX,
  LOCK_NB,
  LOCK_SH,
  S_IFBLK,
  S_IFMT,
  S_IFREG,
  STATX_DIOALIGN,
  STATX_MODE,
  STATX_SIZE,
  STATX_TYPE,
  flock,
  lastErrno,
  statx,
  statxLayout,
} from '../../ffi/block-io.js';
import {
  EACCES,
  EINTR,
  EINVAL,
  EISDIR,
  ELOOP,
  ENOENT,
  ENOTDIR,
  EPERM,
  EROFS,
  EWOULDBLOCK,
  O_CLOEXEC,
  O_DIRECT,
  O_RDONLY,
  O_RDWR,
  close,
  errnoName,
  ioctlBuffer,
  open,
} from '../../ffi/libc.js';

export type CacheMode = 'none' | 'writeback';

export interface DiskImageOptions {
  readOnly?: boolean;
  /** 'none': O_DIRECT, bypass the host page cache. Default 'writeback'. */
  cache?: CacheMode;
  /** Take the image lock (default true). */
  lock?: boolean;
}

export class DiskImageError extends Error {
  override name = 'DiskImageError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export class DiskImage {
  private closed = false;
  private flushError = 0;

  private constructor(
    readonly path: string,
    readonly fd: number,
    readonly readOnly: boolean,
    readonly direct: boolean,
    readonly size: number,
    readonly isBlockDevice: boolean,
    /** Offset/length alignment O_DIRECT needs (512 when buffered). */
    readonly logicalBlockSize: number,
    /** Memory alignment O_DIRECT needs for buffers (1 when buffered). */
    readonly memoryAlignment: number,
    readonly ownsFd: boolean,
  ) {}

  /** Opens, locks and probes `path`. Throws DiskImageError. */
  static open(path: string, options: DiskImageOptions = {}): DiskImage {
    const readOnly = options.readOnly ?? false;
    const direct = (options.cache ?? 'writeback') === 'none';
    if (path.length === 0) throw new DiskImageError('disk image path is empty', 'EINVAL');
    const flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct ? O_DIRECT : 0);
    let fd: number;
    for (;;) {
      fd = open(path, flags, 0) as number;
      if (fd >= 0) break;
      const e = lastErrno();
      if (e === EINTR) continue;
      throw openError(path, e, readOnly, direct);
    }
    try {
      if (options.lock ?? true) lockImage(fd, path, readOnly);
      return DiskImage.probe(path, fd, readOnly, direct, true);
    } catch (err) {
      close(fd);
      throw err;
    }
  }

  /**
   * Wraps a descriptor opened (and locked) elsewhere, e.g. by the frontend.
   * `readOnly`/`direct` must match how it was opened. Does not take ownership
   * unless `own` is true.
   */
  static fromFd(fd: number, path: string, options: { readOnly: boolean; direct: boolean; own?: boolean }): DiskImage {
    return DiskImage.probe(path, fd, options.readOnly, options.direct, options.own ?? false);
  }

  private static probe(path: string, fd: number, readOnly: boolean, direct: boolean, own: boolean): DiskImage {
    const buf = new Uint8Array(statxLayout.size);
    const o = statxLayout.offsets;
    const mask = STATX_TYPE | STATX_MODE | STATX_SIZE | STATX_DIOALIGN;
    if ((statx(fd, '', AT_EMPTY_PATH, mask, buf) as number) !== 0)
      throw new DiskImageError(`cannot stat disk image ${path}: ${errnoName(lastErrno())}`, errnoName(lastErrno()));
    const dv = new DataView(buf.buffer);
    const gotMask = dv.getUint32(o.stx_mask, true);
    const mode = dv.getUint16(o.stx_mode, true);
    const type = mode & S_IFMT;
    let size: number;
    let lbs = 512;
    let memAlign = direct ? 512 : 1;
    if (type === S_IFREG) {
      size = Number(dv.getBigUint64(o.stx_size, true));
      if (direct) {
        if (gotMask & STATX_DIOALIGN) {
          const memA = dv.getUint32(o.stx_dio_mem_align, true);
          const offA = dv.getUint32(o.stx_dio_offset_align, true);
          if (memA === 0 || offA === 0)
            throw new DiskImageError(
              `disk image ${path}: its filesystem does not support cache=none (O_DIRECT); use cache=writeback`,
              'EINVAL',
            );
          memAlign = memA;
          lbs = Math.max(512, offA);
        } else {
          // Old kernel: assume the most common strict case.
          memAlign = 4096;
          lbs = 4096;
        }
      }
    } else if (type === S_IFBLK) {
      const sz = new BigUint64Array(1);
      if ((ioctlBuffer(fd, BLKGETSIZE64, sz) as number) !== 0)
        throw new DiskImageError(`cannot get the size of block device ${path}: ${errnoName(lastErrno())}`, errnoName(lastErrno()));
      size = Number(sz[0]);
      const ss = new Int32Array(1);
      if ((ioctlBuffer(fd, BLKSSZGET, ss) as number) === 0 && ss[0] >= 512) lbs = ss[0];
      if (direct) memAlign = lbs;
    } else {
      throw new DiskImageError(`disk image ${path} is not a regular file or a block device`, 'EINVAL');
    }
    if (!Number.isSafeInteger(size)) throw new DiskImageError(`disk image ${path} is too large`, 'EFBIG');
    return new DiskImage(path, fd, readOnly, direct, size, type === S_IFBLK, lbs, memAlign, own);
  }

  /**
   * -errno of the first flush (fdatasync) that failed on this image, 0 while
   * none has. Linux reports a write-back error once per open file and marks
   * the lost pages clean, so a later fdatasync succeeds although data is
   * gone: once one has failed, every later flush must fail (as in QEMU).
   */
  get flushFailure(): number {
    return this.flushError;
  }

  /** What a flush that just returned `result` (0 or -errno) reports: the latched error once one failed. */
  flushResult(result: number): number {
    if (this.flushError === 0 && result < 0) this.flushError = result;
    return this.flushError !== 0 ? this.flushError : result;
  }

  /** Capacity in 512-byte sectors (a trailing partial sector is not exposed). */
  get sectors(): number {
    return Math.floor(this.size / 512);
  }

  /** Closes the descriptor (if owned), which drops the lock. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsFd) close(this.fd);
  }
}

function lockImage(fd: number, path: string, readOnly: boolean): void {
  for (;;) {
    if ((flock(fd, (readOnly ? LOCK_SH : LOCK_EX) | LOCK_NB) as number) === 0) return;
    const e = lastErrno();
    if (e === EINTR) continue;
    if (e === EWOULDBLOCK)
      throw new DiskImageError(
        readOnly
          ? `disk image ${path} is in use read-write by another VM (it holds a lock on it); a read-only open needs no writer`
          : `disk image ${path} is in use by another VM (it holds a lock on it); two VMs must never write one image — use ,ro for a shared read-only disk`,
        'ELOCKED',
      );
    throw new DiskImageError(`cannot lock disk image ${path}: ${errnoName(e)}`, errnoName(e));
  }
}

function openError(path: string, e: number, readOnly: boolean, direct: boolean): DiskImageError {
  const code = errnoName(e);
  switch (e) {
    case ENOENT:
      return new DiskImageError(`disk image ${path} does not exist`, code);
    case ENOTDIR:
      return new DiskImageError(`disk image ${path}: a component of the path is not a directory`, code);
    case EACCES:
    case EPERM:
      return new DiskImageError(
        readOnly
          ? `no permission to read disk image ${path}`
          : `no permission to open disk image ${path} for writing (add ,ro for a read-only disk)`,
        code,
      );
    case EROFS:
      return new DiskImageError(`disk image ${path} is on a read-only filesystem (add ,ro for a read-only disk)`, code);
    case EISDIR:
      return new DiskImageError(`disk image ${path} is a directory`, code);
    case ELOOP:
      return new DiskImageError(`disk image ${path}: too many symbolic links`, code);
    case EINVAL:
      if (direct)
        return new DiskImageError(`disk image ${path}: its filesystem does not support cache=none (O_DIRECT); use cache=writeback`, code);
      return new DiskImageError(`cannot open disk image ${path}: ${code}`, code);
    default:
      return new DiskImageError(`cannot open disk image ${path}: ${code}`, code);
  }
}
