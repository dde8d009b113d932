// A file's attributes by statx(2) into one buffer the server reuses: what
// Tgetattr, Twalk's qids and a directory entry of unknown type need. Node's
// lstat and fstat with bigint build a Stats object with four Dates for each
// call: ~15% of the server's CPU for the walks and getattrs of a `find`.
// The view is valid until the next call.
import { koffi, libc } from '../../ffi/libc.js';
import { P9Errno } from './p9-errno.js';

/** struct statx (linux/stat.h): test/p9/p9-directory-entries.test.ts checks it. */
export const STATX = {
  size: 256,
  stx_mask: 0,
  stx_blksize: 4,
  stx_nlink: 16,
  stx_uid: 20,
  stx_gid: 24,
  stx_mode: 28,
  stx_ino: 32,
  stx_size: 40,
  stx_blocks: 48,
  stx_atime: 64,
  stx_btime: 80,
  stx_ctime: 96,
  stx_mtime: 112,
  stx_rdev_major: 128,
  stx_rdev_minor: 132,
} as const;
/** struct statx_timestamp: tv_sec (s64), then tv_nsec (u32). */
export const TV_NSEC = 8;
const STATX_BASIC_STATS = 0x7ff;
export const STATX_BTIME = 0x800;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_EMPTY_PATH = 0x1000;

const statxCall = libc.func('int statx(int dirfd, const char *path, int flags, unsigned int mask, _Out_ uint8_t *buf)');
const buffer = new Uint8Array(STATX.size);
// Read through a DataView, whose getters are V8 builtins: Buffer's readUInt32LE
// and friends are JavaScript, which a fresh process runs in the interpreter.
const fields = new DataView(buffer.buffer);

export interface Timestamp {
  readonly sec: bigint;
  readonly nsec: number;
}

/** The last statx's result, read field by field. */
class HostStat {
  get mask(): number {
    return fields.getUint32(STATX.stx_mask, true);
  }
  get mode(): number {
    return fields.getUint16(STATX.stx_mode, true);
  }
  get ino(): bigint {
    return fields.getBigUint64(STATX.stx_ino, true);
  }
  get size(): bigint {
    return fields.getBigUint64(STATX.stx_size, true);
  }
  get uid(): number {
    return fields.getUint32(STATX.stx_uid, true);
  }
  get gid(): number {
    return fields.getUint32(STATX.stx_gid, true);
  }
  get nlink(): number {
    return fields.getUint32(STATX.stx_nlink, true);
  }
  get blksize(): number {
    return fields.getUint32(STATX.stx_blksize, true);
  }
  get blocks(): bigint {
    return fields.getBigUint64(STATX.stx_blocks, true);
  }
  get rdevMajor(): number {
    return fields.getUint32(STATX.stx_rdev_major, true);
  }
  get rdevMinor(): number {
    return fields.getUint32(STATX.stx_rdev_minor, true);
  }
  time(field: 'stx_atime' | 'stx_btime' | 'stx_ctime' | 'stx_mtime'): Timestamp {
    return { sec: fields.getBigInt64(STATX[field], true), nsec: fields.getUint32(STATX[field] + TV_NSEC, true) };
  }
  /** Milliseconds of the modification time, as Node's BigIntStats.mtimeMs. */
  get mtimeMs(): bigint {
    const t = this.time('stx_mtime');
    return t.sec * 1000n + BigInt(Math.floor(t.nsec / 1e6));
  }
}
export type { HostStat };

const view = new HostStat();

/** -errno, or the attributes in the shared view. */
function statx(dirfd: number, path: string, flags: number): HostStat | number {
  return (statxCall(dirfd, path, flags, STATX_BASIC_STATS | STATX_BTIME, buffer) as number) < 0 ? -koffi.errno() : view;
}

function orThrow(result: HostStat | number): HostStat {
  if (typeof result === 'number') throw new P9Errno(-result);
  return result;
}

/** The attributes of `path` itself (a symlink's own, not its target's); -errno when it cannot be read (-ENOENT: no such entry). */
export function statPathOrErrno(path: string): HostStat | number {
  return statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW);
}

/** The attributes of `path` itself; P9Errno when it cannot be read. */
export function statPath(path: string): HostStat {
  return orThrow(statPathOrErrno(path));
}

/** The attributes of entry `name` of the directory open at `dirfd`, not following a symlink. */
export function statAt(dirfd: number, name: string): HostStat {
  return orThrow(statx(dirfd, name, AT_SYMLINK_NOFOLLOW));
}

/** The attributes of the file open at `fd`. */
export function statFd(fd: number): HostStat {
  return orThrow(statx(fd, '', AT_EMPTY_PATH));
}
