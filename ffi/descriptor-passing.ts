// Passing open file descriptors over an AF_UNIX socket (SCM_RIGHTS), for
// what Node's IPC cannot carry: regular files, /dev/kvm, memfds, eventfds.
// Layouts are x86_64 glibc's (test/ffi/descriptor-passing-abi.test.ts checks
// them against <sys/socket.h>).
import { close, ECONNRESET, EINVAL, EIO, EPROTO, koffi, libc } from './libc.js';

export const MSGHDR = { size: 56, offsets: { msg_name: 0, msg_namelen: 8, msg_iov: 16, msg_iovlen: 24, msg_control: 32, msg_controllen: 40, msg_flags: 48 } } as const;
export const CMSGHDR = { size: 16, offsets: { cmsg_len: 0, cmsg_level: 8, cmsg_type: 12 } } as const;
export const IOVEC_SIZE = 16;
export const SOL_SOCKET = 1;
export const SCM_RIGHTS = 1;
export const MSG_CMSG_CLOEXEC = 0x40000000;
export const MSG_CTRUNC = 0x8;
/** The kernel's limit on descriptors in one SCM_RIGHTS message (SCM_MAX_FD). */
export const MAX_DESCRIPTORS_PER_MESSAGE = 253;

const sendmsg = libc.func('intptr_t sendmsg(int fd, const uint8_t *msg, int flags)');
const recvmsg = libc.func('intptr_t recvmsg(int fd, _Inout_ uint8_t *msg, int flags)');

const align8 = (n: number) => (n + 7) & ~7;
const controlSpace = (count: number) => CMSGHDR.size + align8(count * 4);

/** A message of `data` carrying `fds` (and the buffers it points into, kept alive by the caller). */
function message(fds: number, control: Buffer, data: Buffer): Buffer {
  const iov = Buffer.alloc(IOVEC_SIZE);
  iov.writeBigUInt64LE(koffi.address(data) as bigint, 0);
  iov.writeBigUInt64LE(BigInt(data.length), 8);
  const msg = Buffer.alloc(MSGHDR.size);
  msg.writeBigUInt64LE(koffi.address(iov) as bigint, MSGHDR.offsets.msg_iov);
  msg.writeBigUInt64LE(1n, MSGHDR.offsets.msg_iovlen);
  msg.writeBigUInt64LE(koffi.address(control) as bigint, MSGHDR.offsets.msg_control);
  msg.writeBigUInt64LE(BigInt(fds === 0 ? 0 : control.length), MSGHDR.offsets.msg_controllen);
  // The iovec and the data it points to must live as long as the message: tie them to it.
  return Object.assign(msg, { iov, data });
}

/** Sends `fds` (their duplicates arrive at the peer) with one byte of data. Returns 0 or -errno. */
export function sendDescriptors(socketFd: number, fds: readonly number[]): number {
  return sendWithDescriptors(socketFd, Buffer.from([0x2a]), fds);
}

/**
 * Sends `data` with `fds` attached to its first byte, in one sendmsg: for a
 * protocol whose messages carry their descriptors (vhost-user). Returns 0 or
 * -errno.
 */
export function sendWithDescriptors(socketFd: number, data: Buffer, fds: readonly number[]): number {
  if (data.length === 0 || fds.length === 0 || fds.length > MAX_DESCRIPTORS_PER_MESSAGE) return -EINVAL;
  const control = Buffer.alloc(controlSpace(fds.length));
  control.writeBigUInt64LE(BigInt(CMSGHDR.size + fds.length * 4), CMSGHDR.offsets.cmsg_len);
  control.writeInt32LE(SOL_SOCKET, CMSGHDR.offsets.cmsg_level);
  control.writeInt32LE(SCM_RIGHTS, CMSGHDR.offsets.cmsg_type);
  fds.forEach((fd, i) => control.writeInt32LE(fd, CMSGHDR.size + i * 4));
  const n = Number(sendmsg(socketFd, message(fds.length, control, data), 0));
  return n === data.length ? 0 : n < 0 ? -koffi.errno() : -EIO; // EIO: a short send
}

/**
 * Receives one message of at most `max` descriptors (close-on-exec).
 * Returns the descriptors, or -errno; a message that carried none, or more
 * than `max` (the kernel drops the rest: MSG_CTRUNC), is -EPROTO after the
 * ones that did arrive are closed.
 */
export function receiveDescriptors(socketFd: number, max: number): number[] | number {
  const control = Buffer.alloc(controlSpace(max));
  const byte = Buffer.alloc(1);
  const msg = message(max, control, byte);
  const n = Number(recvmsg(socketFd, msg, MSG_CMSG_CLOEXEC));
  if (n < 0) return -koffi.errno();
  if (n === 0) return -ECONNRESET; // the peer closed the socket
  const fds: number[] = [];
  const controlLength = Number(msg.readBigUInt64LE(MSGHDR.offsets.msg_controllen));
  // One control message is all a sender here writes; anything else is refused below.
  if (controlLength >= CMSGHDR.size && control.readInt32LE(CMSGHDR.offsets.cmsg_level) === SOL_SOCKET && control.readInt32LE(CMSGHDR.offsets.cmsg_type) === SCM_RIGHTS) {
    const length = Math.min(Number(control.readBigUInt64LE(CMSGHDR.offsets.cmsg_len)), controlLength);
    for (let at = CMSGHDR.size; at + 4 <= length; at += 4) fds.push(control.readInt32LE(at));
  }
  const truncated = (msg.readInt32LE(MSGHDR.offsets.msg_flags) & MSG_CTRUNC) !== 0;
  if (fds.length === 0 || truncated) {
    fds.forEach((fd) => close(fd));
    return -EPROTO;
  }
  return fds;
}
