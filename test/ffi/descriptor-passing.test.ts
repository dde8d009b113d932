// SCM_RIGHTS through ffi/descriptor-passing.ts: layouts against
// <sys/socket.h>, and real descriptors over a real socketpair.
import { fstatSync, writeSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CMSGHDR,
  IOVEC_SIZE,
  MAX_DESCRIPTORS_PER_MESSAGE,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSGHDR,
  SCM_RIGHTS,
  SOL_SOCKET,
  receiveDescriptors,
  sendDescriptors,
} from '../../ffi/descriptor-passing.js';
import { AF_UNIX, ECONNRESET, EINVAL, EPROTO, FD_CLOEXEC, F_GETFD, SOCK_CLOEXEC, SOCK_STREAM, close, fcntl, socketpair } from '../../ffi/libc.js';
import { findCCompiler } from '../support/c-compiler.js';
import { type CCheck, probeC } from '../support/c-probe.js';
import { describeNeeding } from '../support/host-requirements.js';
import { openTempFile } from '../support/open-temp-file.js';

const cc = findCCompiler();

const layout = (type: string, l: { size: number; offsets: Record<string, number> }): CCheck[] => [
  [`${type} sizeof`, `sizeof(${type})`, l.size],
  ...Object.entries(l.offsets).map(([field, offset]): CCheck => [`${type} ${field}`, `offsetof(${type}, ${field})`, offset]),
];
const checks: CCheck[] = [
  ...layout('struct msghdr', MSGHDR),
  ...layout('struct cmsghdr', CMSGHDR),
  ['struct iovec sizeof', 'sizeof(struct iovec)', IOVEC_SIZE],
  ['CMSG_LEN(4)', 'CMSG_LEN(4)', CMSGHDR.size + 4],
  ['SOL_SOCKET', 'SOL_SOCKET', SOL_SOCKET],
  ['SCM_RIGHTS', 'SCM_RIGHTS', SCM_RIGHTS],
  ['MSG_CMSG_CLOEXEC', 'MSG_CMSG_CLOEXEC', MSG_CMSG_CLOEXEC],
  ['MSG_CTRUNC', 'MSG_CTRUNC', MSG_CTRUNC],
];

describeNeeding(cc ? undefined : 'no C compiler on PATH', 'descriptor passing ABI matches <sys/socket.h>', () => {
  it('layouts and constants', () => {
    const facts = probeC(cc!, ['sys/socket.h', 'sys/uio.h'], checks, ['#define _GNU_SOURCE']);
    for (const [name, , value] of checks) expect([name, facts.get(name)]).toEqual([name, value]);
  });
});

describe('sendDescriptors / receiveDescriptors', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => cleanup.splice(0).forEach((f) => f()));

  const pair = (): [number, number] => {
    const sv = [0, 0];
    expect(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)).toBe(0);
    cleanup.push(() => sv.forEach((fd) => close(fd)));
    return [sv[0], sv[1]];
  };
  const tempFile = (content: string): number => openTempFile(content, 'r', cleanup);

  it('hands over open files in order, close-on-exec on arrival', () => {
    const [a, b] = pair();
    const files = [tempFile('one'), tempFile('two'), tempFile('three')];
    expect(sendDescriptors(a, files)).toBe(0);
    const got = receiveDescriptors(b, 8);
    expect(Array.isArray(got)).toBe(true);
    const fds = got as number[];
    cleanup.push(() => fds.forEach((fd) => close(fd)));
    expect(fds).toHaveLength(3);
    expect(fds.map((fd) => fstatSync(fd).ino)).toEqual(files.map((fd) => fstatSync(fd).ino));
    for (const fd of fds) expect(fcntl(fd, F_GETFD, 0) & FD_CLOEXEC).toBe(FD_CLOEXEC);
  });

  it('refuses a message with more descriptors than asked for, and closes what arrived', () => {
    const [a, b] = pair();
    const files = [tempFile('1'), tempFile('2'), tempFile('3')];
    expect(sendDescriptors(a, files)).toBe(0);
    expect(receiveDescriptors(b, 2)).toBe(-EPROTO);
  });

  it('refuses a message without descriptors', () => {
    const [a, b] = pair();
    expect(writeSync(a, Buffer.from([1]))).toBe(1);
    expect(receiveDescriptors(b, 4)).toBe(-EPROTO);
  });

  it('reports the peer closing, and bad counts', () => {
    const sv = [0, 0];
    expect(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)).toBe(0);
    close(sv[0]);
    expect(receiveDescriptors(sv[1], 4)).toBe(-ECONNRESET);
    close(sv[1]);
    const [a] = pair();
    expect(sendDescriptors(a, [])).toBe(-EINVAL);
    expect(sendDescriptors(a, new Array(MAX_DESCRIPTORS_PER_MESSAGE + 1).fill(0))).toBe(-EINVAL);
  });
});
