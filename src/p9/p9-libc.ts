// The libc calls Node's fs lacks that the 9P server needs: utimensat /
// futimens (nanosecond times, UTIME_NOW / UTIME_OMIT, and AT_SYMLINK_NOFOLLOW
// so a symlink's own times change, not its target's), mknod (FIFOs,
// sockets, device nodes) and openat2 (a path checked for symlinks in one call). Kept here rather than in ffi/ while the 9P server is
// their only user. Each wrapper throws P9Errno with the call's errno.
import { close, koffi, libc } from '../../ffi/libc.js';
import { P9Errno } from './p9-errno.js';

const utimensatCall = libc.func('int utimensat(int dirfd, const char *path, const uint8_t *times, int flags)');
const futimensCall = libc.func('int futimens(int fd, const uint8_t *times)');
const mknodCall = libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)');
/** glibc has no openat2 wrapper: syscall(SYS_openat2, dirfd, path, &how, sizeof how). */
const openat2Call = libc.func('long syscall(long nr, int dirfd, const char *path, const uint8_t *how, size_t size)');
const SYS_OPENAT2 = 437;
const O_PATH = 0o10000000;
const O_DIRECTORY = 0o200000;
const O_CLOEXEC = 0o2000000;
const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_NO_SYMLINKS = 0x04;
const RESOLVE_BENEATH = 0x08;
/** struct open_how { u64 flags, mode, resolve }: an O_PATH directory, below dirfd, through no symlink. */
const DIRECTORY_BENEATH = new Uint8Array(
  BigUint64Array.of(BigInt(O_PATH | O_DIRECTORY | O_CLOEXEC), 0n, BigInt(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)).buffer,
);

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

/** A libc call's result, or P9Errno with its errno when it failed (negative). */
export function checked(ret: number): number {
  if (ret < 0) throw new P9Errno(koffi.errno());
  return ret;
}

/** utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW) */
export function setTimesNoFollow(path: string, atime: TimeSpec, mtime: TimeSpec): void {
  checked(utimensatCall(AT_FDCWD, path, timespecPair(atime, mtime), AT_SYMLINK_NOFOLLOW) as number);
}

export function setTimesOfFd(fd: number, atime: TimeSpec, mtime: TimeSpec): void {
  checked(futimensCall(fd, timespecPair(atime, mtime)) as number);
}

/** glibc's makedev(). */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

export function mknod(path: string, mode: number, major: number, minor: number): void {
  checked(mknodCall(path, mode >>> 0, makedev(major, minor)) as number);
}

/**
 * 0 when `relative` names a directory below `dirfd` reached through real
 * directories only (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), else the
 * errno: ELOOP for a symlink on the way or at the end, EXDEV for a way out,
 * ENOENT, ENOTDIR; ENOSYS before Linux 5.6.
 */
export function directoryBeneathErrno(dirfd: number, relative: string): number {
  const fd = openat2Call(SYS_OPENAT2, dirfd, relative, DIRECTORY_BENEATH, DIRECTORY_BENEATH.byteLength) as number;
  if (fd < 0) return koffi.errno();
  close(fd);
  return 0;
}
