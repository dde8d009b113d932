// The libc calls Node's fs lacks that the 9P server needs: utimensat /
// futimens (nanosecond times, UTIME_NOW / UTIME_OMIT, and AT_SYMLINK_NOFOLLOW
// so a symlink's own times change, not its target's) and mknod (FIFOs,
// sockets, device nodes). Kept here rather than in ffi/ while the 9P server is
// their only user. Each wrapper throws P9Errno with the call's errno.
import { koffi, libc } from '../../ffi/libc.js';
import { P9Errno } from './p9-errno.js';

const utimensatCall = libc.func('int utimensat(int dirfd, const char *path, const uint8_t *times, int flags)');
const futimensCall = libc.func('int futimens(int fd, const uint8_t *times)');
const mknodCall = libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)');

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
/** tv_nsec values of a struct timespec that mean "now" and "leave as is". */
export const UTIME_NOW = (1n << 30n) - 1n;
export const UTIME_OMIT = (1n << 30n) - 2n;

/** A struct timespec: seconds and nanoseconds, or UTIME_NOW / UTIME_OMIT in nsec. */
export interface TimeSpec {
  sec: bigint;
  nsec: bigint;
}

function timespecPair(atime: TimeSpec, mtime: TimeSpec): Uint8Array {
  const words = BigInt64Array.of(atime.sec, atime.nsec, mtime.sec, mtime.nsec);
  return new Uint8Array(words.buffer);
}

function checked(ret: number): void {
  if (ret < 0) throw new P9Errno(koffi.errno());
}

/** utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) */
export function setTimesNoFollow(path: string, atime: TimeSpec, mtime: TimeSpec): void {
  checked(utimensatCall(AT_FDCWD, path, timespecPair(atime, mtime), AT_SYMLINK_NOFOLLOW) as number);
}

export function setTimesOfFd(fd: number, atime: TimeSpec, mtime: TimeSpec): void {
  checked(futimensCall(fd, timespecPair(atime, mtime)) as number);
}

/** glibc's makedev(). */
function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

export function mknod(path: string, mode: number, major: number, minor: number): void {
  checked(mknodCall(path, mode >>> 0, makedev(major, minor)) as number);
}
