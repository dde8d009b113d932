// koffi bindings for block I/O: vectored file I/O, flushing, locking, file
// metadata, and the raw io_uring / Linux AIO system calls (glibc has no
// wrappers for those, so they go through syscall(2) with fixed prototypes:
// integer-only arguments make the variadic syscall() safe to declare fixed on
// x86-64). Addresses are passed as plain numbers (uintptr_t): every buffer
// handed to the kernel here lives in mmap'ed memory that never moves.
// No policy lives here; callers decide what a failure means.
import { koffi, libc } from './libc.js';

/** ssize_t preadv(int fd, const struct iovec *iov, int iovcnt, off_t offset) */
export const preadv = libc.func('intptr_t preadv(int fd, uintptr_t iov, int iovcnt, int64_t offset)');
/** ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset) */
export const pwritev = libc.func('intptr_t pwritev(int fd, uintptr_t iov, int iovcnt, int64_t offset)');
/** pread into a raw host address (bounce buffers). */
export const preadAt = libc.func('pread', 'intptr_t', ['int', 'uintptr_t', 'size_t', 'int64_t']);
/** pwrite from a raw host address (bounce buffers). */
export const pwriteAt = libc.func('pwrite', 'intptr_t', ['int', 'uintptr_t', 'size_t', 'int64_t']);
export const fdatasync = libc.func('int fdatasync(int fd)');
export const fsync = libc.func('int fsync(int fd)');
export const flock = libc.func('int flock(int fd, int operation)');
export const fallocate = libc.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)');
/** statx(fd, "", AT_EMPTY_PATH, mask, buf): buf is STATX_SIZE bytes. */
export const statx = libc.func('int statx(int dirfd, const char *path, int flags, unsigned int mask, _Out_ uint8_t *buf)');
/** memcpy between raw host addresses (bounce copies on slow paths). */
export const memcpyAddr = libc.func('memcpy', 'uintptr_t', ['uintptr_t', 'uintptr_t', 'size_t']);
/** memset on a raw host address. */
export const memsetAddr = libc.func('memset', 'uintptr_t', ['uintptr_t', 'int', 'size_t']);

// ---- raw system calls -------------------------------------------------------

export const SYS_io_setup = 206;
export const SYS_io_destroy = 207;
export const SYS_io_getevents = 208;
export const SYS_io_submit = 209;
export const SYS_io_uring_setup = 425;
export const SYS_io_uring_enter = 426;
export const SYS_io_uring_register = 427;

const sys_io_uring_setup = libc.func('syscall', 'long', ['long', 'uint32', 'uintptr_t']);
const sys_io_uring_enter = libc.func('syscall', 'long', ['long', 'int', 'uint32', 'uint32', 'uint32', 'uintptr_t', 'uintptr_t']);
const sys_io_uring_register = libc.func('syscall', 'long', ['long', 'int', 'uint32', 'uintptr_t', 'uint32']);
const sys_io_setup = libc.func('syscall', 'long', ['long', 'uint32', 'uintptr_t']);
const sys_io_destroy = libc.func('syscall', 'long', ['long', 'uintptr_t']);
const sys_io_submit = libc.func('syscall', 'long', ['long', 'uintptr_t', 'long', 'uintptr_t']);
const sys_io_getevents = libc.func('syscall', 'long', ['long', 'uintptr_t', 'long', 'long', 'uintptr_t', 'uintptr_t']);

/** io_uring_setup(entries, params): params is a 120-byte struct io_uring_params at a host address. */
export function ioUringSetup(entries: number, paramsAddress: number): number {
  return sys_io_uring_setup(SYS_io_uring_setup, entries, paramsAddress) as number;
}
export function ioUringEnter(fd: number, toSubmit: number, minComplete: number, flags: number): number {
  return sys_io_uring_enter(SYS_io_uring_enter, fd, toSubmit, minComplete, flags, 0, 0) as number;
}
export function ioUringRegister(fd: number, opcode: number, argAddress: number, nrArgs: number): number {
  return sys_io_uring_register(SYS_io_uring_register, fd, opcode, argAddress, nrArgs) as number;
}
/** io_setup(nr_events, &ctx): the context (a user address of the aio_ring) is stored at ctxAddress. */
export function ioSetup(nrEvents: number, ctxAddress: number): number {
  return sys_io_setup(SYS_io_setup, nrEvents, ctxAddress) as number;
}
export function ioDestroy(ctx: number): number {
  return sys_io_destroy(SYS_io_destroy, ctx) as number;
}
/** io_submit(ctx, nr, iocbpp): iocbpp is an array of iocb pointers at a host address. */
export function ioSubmit(ctx: number, nr: number, iocbppAddress: number): number {
  return sys_io_submit(SYS_io_submit, ctx, nr, iocbppAddress) as number;
}
/** io_getevents(ctx, min, nr, events, timeout): the slow path when userspace reaping is impossible. */
export function ioGetevents(ctx: number, minNr: number, nr: number, eventsAddress: number, timeoutAddress: number): number {
  return sys_io_getevents(SYS_io_getevents, ctx, minNr, nr, eventsAddress, timeoutAddress) as number;
}

/** errno of the last failed call on this thread. */
export function lastErrno(): number {
  return koffi.errno();
}

// ---- constants ---------------------------------------------------------------

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;
/** fcntl(2) on a pipe: set / get its capacity in bytes (Linux). */
export const F_SETPIPE_SZ = 1031;
export const F_GETPIPE_SZ = 1032;

export const AT_EMPTY_PATH = 0x1000;
export const STATX_TYPE = 0x1;
export const STATX_MODE = 0x2;
export const STATX_SIZE = 0x200;
export const STATX_DIOALIGN = 0x2000;
/** sizeof(struct statx) and the offsets used (checked against <linux/stat.h> by a test). */
export const statxLayout = {
  size: 256,
  offsets: { stx_mask: 0, stx_blksize: 4, stx_mode: 28, stx_size: 40, stx_dio_mem_align: 152, stx_dio_offset_align: 156 },
} as const;
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;

/** ioctl(BLKGETSIZE64) → u64 size in bytes; ioctl(BLKSSZGET) → int logical sector size. */
export const BLKGETSIZE64 = 0x80081272;
export const BLKSSZGET = 0x1268;

export const IOV_MAX = 1024;
/** sizeof(struct iovec) on x86-64: { void *iov_base; size_t iov_len; }. */
export const IOVEC_SIZE = 16;

// io_uring (include/uapi/linux/io_uring.h)
export const ioUringParamsLayout = {
  size: 120,
  offsets: {
    sq_entries: 0,
    cq_entries: 4,
    flags: 8,
    features: 20,
    sq_off: 40,
    cq_off: 80,
  },
  sqOff: { head: 0, tail: 4, ring_mask: 8, ring_entries: 12, flags: 16, dropped: 20, array: 24 },
  cqOff: { head: 0, tail: 4, ring_mask: 8, ring_entries: 12, overflow: 16, cqes: 20, flags: 24 },
} as const;
export const sqeLayout = {
  size: 64,
  offsets: { opcode: 0, flags: 1, ioprio: 2, fd: 4, off: 8, addr: 16, splice_off_in: 16, len: 24, rw_flags: 28, user_data: 32, splice_fd_in: 44 },
} as const;
export const cqeLayout = { size: 16, offsets: { user_data: 0, res: 8, flags: 12 } } as const;

export const IORING_OFF_SQ_RING = 0;
export const IORING_OFF_CQ_RING = 0x8000000;
export const IORING_OFF_SQES = 0x10000000;
export const IORING_SETUP_CLAMP = 1 << 4;
/** Start the ring disabled: restrictions can be registered until IORING_REGISTER_ENABLE_RINGS (5.10+). */
export const IORING_SETUP_R_DISABLED = 1 << 6;
export const IORING_FEAT_SINGLE_MMAP = 1 << 0;
export const IORING_FEAT_NODROP = 1 << 1;
export const IORING_ENTER_GETEVENTS = 1 << 0;
export const IORING_SQ_NEED_WAKEUP = 1 << 0;
export const IORING_SQ_CQ_OVERFLOW = 1 << 1;
/** cq_ring->flags: the registered eventfd is not signalled while set (5.8+). */
export const IORING_CQ_EVENTFD_DISABLED = 1 << 0;
export const IORING_OP_NOP = 0;
export const IORING_OP_READV = 1;
export const IORING_OP_WRITEV = 2;
export const IORING_OP_FSYNC = 3;
/** Completes once the descriptor is ready for the poll(2) events in the SQE's op flags (one shot). */
export const IORING_OP_POLL_ADD = 6;
export const IORING_OP_FALLOCATE = 17;
export const IORING_OP_OPENAT = 18;
/** A read into one buffer (5.6+). */
export const IORING_OP_READ = 22;
/** splice(2) (5.7+): one of its two descriptors must be a pipe. */
export const IORING_OP_SPLICE = 30;
/** sqe->flags: the next SQE starts only once this one has completed (a failure cancels the rest of the chain). */
export const IOSQE_IO_LINK = 1 << 2;
/** sqe->flags: run the request on one of the ring's kernel workers, never inline in io_uring_enter (5.6+). */
export const IOSQE_ASYNC = 1 << 4;
export const IORING_FSYNC_DATASYNC = 1;
export const IORING_REGISTER_EVENTFD = 4;
export const IORING_UNREGISTER_EVENTFD = 5;
export const IORING_REGISTER_EVENTFD_ASYNC = 7;
export const IORING_REGISTER_PROBE = 8;
export const IORING_REGISTER_RESTRICTIONS = 11;
export const IORING_REGISTER_ENABLE_RINGS = 12;
/** struct io_uring_restriction: { __u16 opcode; union { __u8 register_op, sqe_op, sqe_flags; }; __u8 resv; __u32 resv2[3]; }. */
export const ioUringRestrictionLayout = { size: 16, offsets: { opcode: 0, register_op: 2, sqe_op: 2, sqe_flags: 2, resv: 3, resv2: 4 } } as const;
export const IORING_RESTRICTION_REGISTER_OP = 0;
export const IORING_RESTRICTION_SQE_OP = 1;
export const IORING_RESTRICTION_SQE_FLAGS_ALLOWED = 2;
export const IORING_RESTRICTION_SQE_FLAGS_REQUIRED = 3;

// Linux AIO (include/uapi/linux/aio_abi.h)
export const iocbLayout = {
  size: 64,
  offsets: {
    aio_data: 0,
    aio_key: 8,
    aio_rw_flags: 12,
    aio_lio_opcode: 16,
    aio_reqprio: 18,
    aio_fildes: 20,
    aio_buf: 24,
    aio_nbytes: 32,
    aio_offset: 40,
    aio_flags: 56,
    aio_resfd: 60,
  },
} as const;
export const ioEventLayout = { size: 32, offsets: { data: 0, obj: 8, res: 16, res2: 24 } } as const;
/** The kernel's struct aio_ring header that io_setup maps into user space (fs/aio.c). */
export const aioRingLayout = {
  headerSize: 32,
  offsets: { id: 0, nr: 4, head: 8, tail: 12, magic: 16, compat_features: 20, incompat_features: 24, header_length: 28 },
  magic: 0xa10a10a1,
} as const;
export const IOCB_CMD_FSYNC = 2;
export const IOCB_CMD_FDSYNC = 3;
export const IOCB_CMD_PREADV = 7;
export const IOCB_CMD_PWRITEV = 8;
export const IOCB_FLAG_RESFD = 1;

export const MAP_POPULATE = 0x8000;

/** memcpy from a raw host address into a JS buffer (passed by address, no copy). */
export const memcpyFromHost = libc.func('memcpy', 'uintptr_t', ['void *', 'uintptr_t', 'size_t']);
/** memcpy from a JS buffer into a raw host address. */
export const memcpyToHost = libc.func('memcpy', 'uintptr_t', ['uintptr_t', 'void *', 'size_t']);
