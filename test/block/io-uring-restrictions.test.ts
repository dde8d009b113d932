// The io_uring block engine's ring is locked down before the jail: made with
// IORING_SETUP_R_DISABLED, restricted with IORING_REGISTER_RESTRICTIONS to the
// opcodes the backend issues, then enabled. Requests in a ring are not seen by
// seccomp, so this restriction is what stops a compromised process from
// opening files or sockets through the ring (docs/security.md).
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IORING_FSYNC_DATASYNC,
  IORING_OP_FSYNC,
  IORING_OP_NOP,
  IORING_OP_OPENAT,
  IORING_OP_READV,
  IORING_OP_WRITEV,
} from '../../ffi/block-io.js';
import { close as closeFd } from '../../ffi/libc.js';
import { DiskImage } from '../../src/block/disk-image.js';
import { IoUring, type CqeHandler } from '../../src/block/io-uring.js';
import { IoUringBlockBackend } from '../../src/block/io-uring-backend.js';
import { HostBuffer } from '../../src/memory/dma-host-buffer.js';
import { diskScratchDir } from '../support/disk-scratch.js';

const { EACCES } = os.constants.errno as Record<string, number>;
const EBADFD = 77; // not in Node's errno table
const AT_FDCWD = -100;
const O_CLOEXEC = (os.constants as { O_CLOEXEC?: number }).O_CLOEXEC ?? 0o2000000;

let dir: string;
let file: string;
let fd: number;
let mem: HostBuffer;
beforeAll(() => {
  dir = diskScratchDir('tsvmm-uring-restrict-');
  file = join(dir, 'image');
  writeFileSync(file, new Uint8Array(64 * 1024));
  fd = openSync(file, 'r+');
  mem = new HostBuffer(3 * 4096);
});
afterAll(() => {
  closeSync(fd);
  mem.release();
  rmSync(dir, { recursive: true, force: true });
});

/** Offsets in `mem`: an iovec at 0, the path at 64, data from 4096. */
const IOV = 0;
const PATH = 64;
const DATA = 4096;

function setIovec(len: number): void {
  const v = new DataView(mem.bytes.buffer, mem.bytes.byteOffset);
  v.setBigUint64(IOV, BigInt(mem.address + DATA), true);
  v.setBigUint64(IOV + 8, BigInt(len), true);
}

/** Submits one SQE and waits for its completion; returns the CQE's res. */
function runOne(ring: IoUring, opcode: number, sqeFd: number, off: number, addr: number, len: number, opFlags: number): number {
  expect(ring.prep(opcode, sqeFd, off, addr, len, opFlags, 7)).toBe(true);
  const entered = ring.enter(1);
  if (entered < 0) return entered;
  const got: number[] = [];
  const handler: CqeHandler = { cqe: (userData, res) => (expect(userData).toBe(7), got.push(res)) };
  ring.reap(handler);
  expect(got).toHaveLength(1);
  return got[0];
}

/** An IORING_OP_OPENAT of the scratch image, read-only (fd: AT_FDCWD, addr: path, len: mode, op flags: open flags). */
function openat(ring: IoUring): number {
  const path = new TextEncoder().encode(file + '\0');
  mem.bytes.set(path, PATH);
  return runOne(ring, IORING_OP_OPENAT, AT_FDCWD, 0, mem.address + PATH, 0, O_CLOEXEC);
}

function created(disabled: boolean): IoUring {
  const ring = IoUring.create(8, { disabled });
  if (typeof ring === 'number') throw new Error(`io_uring_setup failed: errno ${-ring}`);
  return ring;
}

describe('a restricted io_uring (IORING_REGISTER_RESTRICTIONS)', () => {
  it('an unrestricted ring would open a file: the SQE below is a valid OPENAT', () => {
    const ring = created(false);
    try {
      const opened = openat(ring);
      expect(opened).toBeGreaterThanOrEqual(0);
      closeFd(opened);
    } finally {
      ring.close();
    }
  });

  it('refuses OPENAT and NOP with -EACCES in the CQE, while READV, WRITEV and FSYNC work', () => {
    const ring = created(true);
    try {
      // Disabled until restricted: nothing is submitted.
      expect(ring.prep(IORING_OP_NOP, -1, 0, 0, 0, 0, 1)).toBe(true);
      expect(ring.enter(0)).toBe(-EBADFD);
      ring.cancelUnsubmitted(() => {});
      expect(ring.restrict([IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC])).toBe(0);
      expect(ring.isRestricted).toBe(true);

      expect(openat(ring)).toBe(-EACCES);
      expect(runOne(ring, IORING_OP_NOP, -1, 0, 0, 0, 0)).toBe(-EACCES);

      mem.bytes.fill(0x5a, DATA, DATA + 4096);
      setIovec(4096);
      expect(runOne(ring, IORING_OP_WRITEV, fd, 8192, mem.address + IOV, 1, 0)).toBe(4096);
      expect(runOne(ring, IORING_OP_FSYNC, fd, 0, 0, 0, IORING_FSYNC_DATASYNC)).toBe(0);
      mem.bytes.fill(0, DATA, DATA + 4096);
      expect(runOne(ring, IORING_OP_READV, fd, 8192, mem.address + IOV, 1, 0)).toBe(4096);
      expect(mem.bytes.subarray(DATA, DATA + 4096).every((b) => b === 0x5a)).toBe(true);
      expect(readFileSync(file).subarray(8192, 8192 + 4096).every((b) => b === 0x5a)).toBe(true);
    } finally {
      ring.close();
    }
  });

  it('refuses every io_uring_register operation once enabled, and a second set of restrictions', () => {
    const ring = created(true);
    try {
      expect(ring.restrict([IORING_OP_READV])).toBe(0);
      expect(ring.supportedOps()).toBeNull(); // IORING_REGISTER_PROBE: EACCES
      expect(ring.registerEventfd(0, false)).toBe(-EACCES);
      expect(ring.restrict([IORING_OP_OPENAT])).toBeLessThan(0);
      expect(openat(ring)).toBe(-EACCES);
    } finally {
      ring.close();
    }
  });

  it('the io_uring block engine restricts its ring to READV, WRITEV and FSYNC before anyone uses it', () => {
    const image = DiskImage.open(file, { readOnly: false, cache: 'writeback' });
    const backend = IoUringBlockBackend.create(image, { eventLoop: true });
    if (typeof backend === 'string') throw new Error(backend);
    try {
      const ring = (backend as unknown as { ring: IoUring }).ring;
      expect(ring.isRestricted).toBe(true);
      expect(openat(ring)).toBe(-EACCES);
    } finally {
      backend.close();
      image.close();
    }
  });
});
