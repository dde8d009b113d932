// koffi bindings for the libc calls tsvmm uses. No policy lives here: callers
// decide what a failure means; `check` turns a -1 return into an ErrnoError.
import { koffi } from './koffi.js';
import os from 'node:os';

export const libc = koffi.load('libc.so.6');

// Fixed prototypes (never variadic): koffi's variadic path is measurably slower.
export const open = libc.func('int open(const char *path, int flags, int mode)');
export const close = libc.func('int close(int fd)');
export const read = libc.func('intptr_t read(int fd, _Out_ uint8_t *buf, size_t len)');
export const write = libc.func('intptr_t write(int fd, const uint8_t *buf, size_t len)');
export const recv = libc.func('intptr_t recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)');
/** ioctl whose argument is a plain integer (or a raw host address as a BigInt/number). */
export const ioctlValue = libc.func('int ioctl(int fd, unsigned long request, unsigned long arg)');
/** ioctl whose argument points into a Buffer/TypedArray (passed by address, no copy). */
export const ioctlBuffer = libc.func('int ioctl(int fd, unsigned long request, void *arg)');
/** mmap returning the address as a number (addresses fit in 2^53 on x86-64 user space). */
export const mmap = libc.func('uintptr_t mmap(uintptr_t addr, size_t len, int prot, int flags, int fd, int64_t offset)');
export const munmap = libc.func('int munmap(uintptr_t addr, size_t len)');
export const madvise = libc.func('int madvise(uintptr_t addr, size_t len, int advice)');
export const eventfd = libc.func('int eventfd(unsigned int initval, int flags)');
export const getrandom = libc.func('intptr_t getrandom(_Out_ uint8_t *buf, size_t len, unsigned int flags)');
export const getpid = libc.func('int getpid(void)');
export const _exit = libc.func('void _exit(int status)');
export const gettid = libc.func('int gettid(void)');
export const tgkill = libc.func('int tgkill(int tgid, int tid, int sig)');
/** The calling thread's name (what ps -L and /proc/.../comm show; 15 bytes at most). Before the jail: seccomp allows no prctl. */
const prctlName = libc.func('int prctl(int option, const char *name, unsigned long arg3, unsigned long arg4, unsigned long arg5)');
const PR_SET_NAME = 15;
export const setThreadName = (name: string): number => prctlName(PR_SET_NAME, name, 0, 0, 0) as number;
export const strerror = libc.func('const char *strerror(int errnum)');
export const socketpair = libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)');
export const socket = libc.func('int socket(int domain, int type, int protocol)');
export const connect = libc.func('int connect(int fd, const uint8_t *addr, unsigned int len)');
export const memfdCreate = libc.func('int memfd_create(const char *name, unsigned int flags)');
export const ftruncate = libc.func('int ftruncate(int fd, int64_t length)');
export const lseek = libc.func('int64_t lseek(int fd, int64_t offset, int whence)');
/** Copies `count` bytes of `in_fd` at `*offset` (advanced) to `out_fd` at its file position, inside the kernel. */
export const sendfile = libc.func('intptr_t sendfile(int out_fd, int in_fd, _Inout_ int64_t *offset, size_t count)');
export const MFD_CLOEXEC = 1;
export const poll = libc.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)');
export const POLLIN = 0x1;
export const POLLHUP = 0x10;
export const fcntl = libc.func('int fcntl(int fd, int cmd, int arg)');
/** pipe2(2): `fds` receives [read end, write end]. */
export const pipe2 = libc.func('int pipe2(_Out_ int *fds, int flags)');
/** dup3(2): `flags` 0 leaves the copy without close-on-exec, as spawn's stdio entries are. */
export const dup3 = libc.func('int dup3(int oldfd, int newfd, int flags)');
/** waitpid(2) on one child; `status` receives its wait status. */
export const waitpid = libc.func('int waitpid(int pid, _Out_ int *status, int options)');
export const WNOHANG = 1;

export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_SEQPACKET = 5;
export const SOCK_CLOEXEC = 0o2000000;
export const SOCK_NONBLOCK = 0o4000;
/** recv(2): this call alone does not block. */
export const MSG_DONTWAIT = 0x40;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const FD_CLOEXEC = 1;
// errno values (Linux, x86-64), for the calls whose errno a caller tests.
export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const EBADF = 9;
export const EAGAIN = 11;
export const EWOULDBLOCK = EAGAIN;
export const EACCES = 13;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENOTTY = 25;
export const ENOSPC = 28;
export const EROFS = 30;
export const EPIPE = 32;
export const ENOSYS = 38;
export const ELOOP = 40;
export const EOPNOTSUPP = 95;
export const ENOBUFS = 105;
export const ECONNRESET = 104;
export const ECONNREFUSED = 111;
export const EPROTO = 71;
export const ECANCELED = 125;

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NONBLOCK = 0o4000;
export const O_DIRECT = 0o40000;
export const O_CLOEXEC = 0o2000000;

export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MAP_FAILED = 2 ** 64 - 1; // (void *)-1 as an unsigned number (rounds to 2^64)
export const MADV_DONTFORK = 10;
export const MADV_MERGEABLE = 12;
export const MADV_HUGEPAGE = 14;

export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;

/** An OS error with the failing call and errno name in its message. */
export class ErrnoError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call}: ${errnoName(errno)} (${strerror(errno)})`);
    this.name = 'ErrnoError';
  }
}

export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(os.constants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

/** Throws ErrnoError when a libc call returned a negative value. */
export function check<T extends number | bigint>(ret: T, call: string): T {
  if (ret < 0) throw new ErrnoError(call, koffi.errno());
  return ret;
}

/** Attempts before checkRetryingEintr gives up: a signal storm, not a slow call. */
const EINTR_ATTEMPTS = 1000;

/**
 * check(), for a call the kernel may fail with EINTR whenever a signal is
 * pending, even under SA_RESTART (e.g. KVM_CREATE_VM: registering its MMU
 * notifier takes every lock of the address space, and gives up with EINTR on
 * a signal): it is made again, as QEMU does.
 */
export function checkRetryingEintr(call: () => number, name: string): number {
  for (let attempt = 1; ; attempt++) {
    const ret = call();
    if (ret >= 0 || koffi.errno() !== EINTR || attempt === EINTR_ATTEMPTS) return check(ret, name);
  }
}

/** Adds O_NONBLOCK to a descriptor's status flags. */
export function setNonBlocking(fd: number): void {
  check(fcntl(fd, F_SETFL, (check(fcntl(fd, F_GETFL, 0) as number, 'fcntl') | O_NONBLOCK) >>> 0) as number, 'fcntl');
}

export function mmapChecked(len: number, prot: number, flags: number, fd = -1, offset = 0, at = 0): number {
  const addr = mmap(at, len, prot, flags, fd, offset) as number;
  if (addr === MAP_FAILED || addr >= 2 ** 64 - 4096) throw new ErrnoError('mmap', koffi.errno());
  return addr;
}

/** A zero-copy ArrayBuffer over host memory at `addr` (from mmap). */
export function viewAt(addr: number | bigint, len: number): ArrayBuffer {
  return koffi.view(BigInt(addr), len);
}

export { koffi };

/** ssize_t readv(int fd, const struct iovec *iov, int iovcnt): iov by address (an IoVecArray). */
export const readv = libc.func('intptr_t readv(int fd, uintptr_t iov, int iovcnt)');
/** ssize_t writev(int fd, const struct iovec *iov, int iovcnt) */
export const writev = libc.func('intptr_t writev(int fd, uintptr_t iov, int iovcnt)');
