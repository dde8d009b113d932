// Checks the struct layouts and constants in ffi/block-io.ts against the
// kernel headers by compiling a probe (like test/ffi/kvm-abi.test.ts).
import { expect, it } from 'vitest';
import * as B from '../../ffi/block-io.js';
import { findCCompiler } from '../support/c-compiler.js';
import { probeC, type CCheck } from '../support/c-probe.js';
import { describeNeeding } from '../support/host-requirements.js';

const cc = findCCompiler();

const checks: CCheck[] = [
  ['sizeof(struct statx)', 'sizeof(struct statx)', B.statxLayout.size],
  ...Object.entries(B.statxLayout.offsets).map(([f, v]) => [`statx.${f}`, `offsetof(struct statx, ${f})`, v] as [string, string, number]),
  ['sizeof(struct io_uring_params)', 'sizeof(struct io_uring_params)', B.ioUringParamsLayout.size],
  ...Object.entries(B.ioUringParamsLayout.offsets).map(
    ([f, v]) => [`io_uring_params.${f}`, `offsetof(struct io_uring_params, ${f})`, v] as [string, string, number],
  ),
  ...Object.entries(B.ioUringParamsLayout.sqOff).map(
    ([f, v]) => [`io_sqring_offsets.${f}`, `offsetof(struct io_sqring_offsets, ${f})`, v] as [string, string, number],
  ),
  ...Object.entries(B.ioUringParamsLayout.cqOff).map(
    ([f, v]) => [`io_cqring_offsets.${f}`, `offsetof(struct io_cqring_offsets, ${f})`, v] as [string, string, number],
  ),
  ['sizeof(struct io_uring_sqe)', 'sizeof(struct io_uring_sqe)', B.sqeLayout.size],
  ...Object.entries(B.sqeLayout.offsets).map(([f, v]) => [`sqe.${f}`, `offsetof(struct io_uring_sqe, ${f})`, v] as [string, string, number]),
  ['sizeof(struct io_uring_cqe)', 'sizeof(struct io_uring_cqe)', B.cqeLayout.size],
  ...Object.entries(B.cqeLayout.offsets).map(([f, v]) => [`cqe.${f}`, `offsetof(struct io_uring_cqe, ${f})`, v] as [string, string, number]),
  ['sizeof(struct io_uring_restriction)', 'sizeof(struct io_uring_restriction)', B.ioUringRestrictionLayout.size],
  ...Object.entries(B.ioUringRestrictionLayout.offsets).map(
    ([f, v]) => [`io_uring_restriction.${f}`, `offsetof(struct io_uring_restriction, ${f})`, v] as [string, string, number],
  ),
  ['sizeof(struct iocb)', 'sizeof(struct iocb)', B.iocbLayout.size],
  ...Object.entries(B.iocbLayout.offsets).map(([f, v]) => [`iocb.${f}`, `offsetof(struct iocb, ${f})`, v] as [string, string, number]),
  ['sizeof(struct io_event)', 'sizeof(struct io_event)', B.ioEventLayout.size],
  ...Object.entries(B.ioEventLayout.offsets).map(([f, v]) => [`io_event.${f}`, `offsetof(struct io_event, ${f})`, v] as [string, string, number]),
  ['sizeof(struct iovec)', 'sizeof(struct iovec)', B.IOVEC_SIZE],
  ['IORING_OFF_CQ_RING', 'IORING_OFF_CQ_RING', B.IORING_OFF_CQ_RING],
  ['IORING_OFF_SQES', 'IORING_OFF_SQES', B.IORING_OFF_SQES],
  ['IORING_SETUP_CLAMP', 'IORING_SETUP_CLAMP', B.IORING_SETUP_CLAMP],
  ['IORING_FEAT_SINGLE_MMAP', 'IORING_FEAT_SINGLE_MMAP', B.IORING_FEAT_SINGLE_MMAP],
  ['IORING_SETUP_R_DISABLED', 'IORING_SETUP_R_DISABLED', B.IORING_SETUP_R_DISABLED],
  ['IORING_OP_OPENAT', 'IORING_OP_OPENAT', B.IORING_OP_OPENAT],
  ['IORING_OP_READ', 'IORING_OP_READ', B.IORING_OP_READ],
  ['IORING_OP_SPLICE', 'IORING_OP_SPLICE', B.IORING_OP_SPLICE],
  ['sqe.splice_off_in', 'offsetof(struct io_uring_sqe, splice_off_in)', B.sqeLayout.offsets.splice_off_in],
  ['sqe.splice_fd_in', 'offsetof(struct io_uring_sqe, splice_fd_in)', B.sqeLayout.offsets.splice_fd_in],
  ['IOSQE_IO_LINK', 'IOSQE_IO_LINK', B.IOSQE_IO_LINK],
  ['IOSQE_ASYNC', 'IOSQE_ASYNC', B.IOSQE_ASYNC],
  ['IORING_REGISTER_RESTRICTIONS', 'IORING_REGISTER_RESTRICTIONS', B.IORING_REGISTER_RESTRICTIONS],
  ['IORING_REGISTER_ENABLE_RINGS', 'IORING_REGISTER_ENABLE_RINGS', B.IORING_REGISTER_ENABLE_RINGS],
  ['IORING_RESTRICTION_REGISTER_OP', 'IORING_RESTRICTION_REGISTER_OP', B.IORING_RESTRICTION_REGISTER_OP],
  ['IORING_RESTRICTION_SQE_OP', 'IORING_RESTRICTION_SQE_OP', B.IORING_RESTRICTION_SQE_OP],
  ['IORING_RESTRICTION_SQE_FLAGS_ALLOWED', 'IORING_RESTRICTION_SQE_FLAGS_ALLOWED', B.IORING_RESTRICTION_SQE_FLAGS_ALLOWED],
  ['IORING_RESTRICTION_SQE_FLAGS_REQUIRED', 'IORING_RESTRICTION_SQE_FLAGS_REQUIRED', B.IORING_RESTRICTION_SQE_FLAGS_REQUIRED],
  ['IORING_OP_READV', 'IORING_OP_READV', B.IORING_OP_READV],
  ['IORING_OP_WRITEV', 'IORING_OP_WRITEV', B.IORING_OP_WRITEV],
  ['IORING_OP_FSYNC', 'IORING_OP_FSYNC', B.IORING_OP_FSYNC],
  ['IORING_OP_FALLOCATE', 'IORING_OP_FALLOCATE', B.IORING_OP_FALLOCATE],
  ['IORING_FSYNC_DATASYNC', 'IORING_FSYNC_DATASYNC', B.IORING_FSYNC_DATASYNC],
  ['IORING_REGISTER_EVENTFD', 'IORING_REGISTER_EVENTFD', B.IORING_REGISTER_EVENTFD],
  ['IORING_UNREGISTER_EVENTFD', 'IORING_UNREGISTER_EVENTFD', B.IORING_UNREGISTER_EVENTFD],
  ['IORING_REGISTER_EVENTFD_ASYNC', 'IORING_REGISTER_EVENTFD_ASYNC', B.IORING_REGISTER_EVENTFD_ASYNC],
  ['IORING_CQ_EVENTFD_DISABLED', 'IORING_CQ_EVENTFD_DISABLED', B.IORING_CQ_EVENTFD_DISABLED],
  ['IORING_REGISTER_PROBE', 'IORING_REGISTER_PROBE', B.IORING_REGISTER_PROBE],
  ['IORING_ENTER_GETEVENTS', 'IORING_ENTER_GETEVENTS', B.IORING_ENTER_GETEVENTS],
  ['IOCB_CMD_PREADV', 'IOCB_CMD_PREADV', B.IOCB_CMD_PREADV],
  ['IOCB_CMD_PWRITEV', 'IOCB_CMD_PWRITEV', B.IOCB_CMD_PWRITEV],
  ['IOCB_CMD_FDSYNC', 'IOCB_CMD_FDSYNC', B.IOCB_CMD_FDSYNC],
  ['IOCB_FLAG_RESFD', 'IOCB_FLAG_RESFD', B.IOCB_FLAG_RESFD],
  ['SYS_io_uring_setup', '__NR_io_uring_setup', B.SYS_io_uring_setup],
  ['SYS_io_uring_enter', '__NR_io_uring_enter', B.SYS_io_uring_enter],
  ['SYS_io_uring_register', '__NR_io_uring_register', B.SYS_io_uring_register],
  ['SYS_io_setup', '__NR_io_setup', B.SYS_io_setup],
  ['SYS_io_destroy', '__NR_io_destroy', B.SYS_io_destroy],
  ['SYS_io_getevents', '__NR_io_getevents', B.SYS_io_getevents],
  ['SYS_io_submit', '__NR_io_submit', B.SYS_io_submit],
  ['STATX_DIOALIGN', 'STATX_DIOALIGN', B.STATX_DIOALIGN],
  ['AT_EMPTY_PATH', 'AT_EMPTY_PATH', B.AT_EMPTY_PATH],
  ['BLKGETSIZE64', 'BLKGETSIZE64', B.BLKGETSIZE64],
  ['BLKSSZGET', 'BLKSSZGET', B.BLKSSZGET],
  ['LOCK_EX', 'LOCK_EX', B.LOCK_EX],
  ['LOCK_NB', 'LOCK_NB', B.LOCK_NB],
  ['FALLOC_FL_PUNCH_HOLE', 'FALLOC_FL_PUNCH_HOLE', B.FALLOC_FL_PUNCH_HOLE],
  ['FALLOC_FL_ZERO_RANGE', 'FALLOC_FL_ZERO_RANGE', B.FALLOC_FL_ZERO_RANGE],
  ['F_SETPIPE_SZ', 'F_SETPIPE_SZ', B.F_SETPIPE_SZ],
  ['F_GETPIPE_SZ', 'F_GETPIPE_SZ', B.F_GETPIPE_SZ],
];

describeNeeding(cc ? undefined : 'no C compiler on PATH', 'block I/O ABI matches the kernel headers', () => {
  const headers = ['fcntl.h', 'sys/stat.h', 'sys/file.h', 'sys/uio.h', 'sys/syscall.h', 'linux/fs.h', 'linux/falloc.h', 'linux/io_uring.h', 'linux/aio_abi.h'];
  const facts = cc ? probeC(cc, headers, checks, ['#define _GNU_SOURCE']) : new Map<string, number>();
  for (const [name, , value] of checks) it(name, () => expect(facts.get(name)).toBe(value));
});
