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
const buffer = Buffer.alloc(STATX.size);

export interface Timestamp {
  readonly sec: bigint;
  readonly nsec: number;
}

/** The last statx's result, read field by field. */
class HostStat {
  get mask(): number {
    return buffer.readUInt32LE(STATX.stx_mask);
  }
  get mode(): number {
    return buffer.readUInt16LE(STATX.stx_mode);
  }
  get ino(): bigint {
    return buffer.readBigUInt64LE(STATX.stx_ino);
  }
  get size(): bigint {
    return buffer.readBigUInt64LE(STATX.stx_size);
  }
  get uid(): number {
    return buffer.readUInt32LE(STATX.stx_uid);
  }
  get gid(): number {
    return buffer.readUInt32LE(STATX.stx_gid);
  }
  get nlink(): number {
    return buffer.readUInt32LE(STATX.stx_nlink);
  }
  get blksize(): number {
    return buffer.readUInt32LE(STATX.stx_blksize);
  }
  get blocks(): bigint {
    return buffer.readBigUInt64LE(STATX.stx_blocks);
  }
  get rdevMajor(): number {
    return buffer.readUInt32LE(STATX.stx_rdev_major);
  }
  get rdevMinor(): number {
    return buffer.readUInt32LE(STATX.stx_rdev_minor);
  }
  time(field: 'stx_atime' | 'stx_btime' | 'stx_ctime' | 'stx_mtime'): Timestamp {
    return { sec: buffer.readBigInt64LE(STATX[field]), nsec: buffer.readUInt32LE(STATX[field] + TV_NSEC) };
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
