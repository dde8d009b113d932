// The io_uring engine reaps right after it submits, so a completion the
// kernel posts during the submission (a read served from the page cache) must
// not also signal the ring's eventfd: that would wake the event loop once more
// for nothing, per request. submitQuietly() keeps the eventfd quiet during the
// call only: a completion that comes later still signals it.
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IORING_OP_READV } from '../../ffi/block-io.js';
import { EFD_CLOEXEC, EFD_NONBLOCK, check, close, eventfd, read, write } from '../../ffi/libc.js';
import { openPipe } from '../support/pipe.js';
import { IoUring, type CqeHandler } from '../../src/block/io-uring.js';
import { HostBuffer } from '../../src/memory/dma-host-buffer.js';

let dir: string;
let file: number;
let mem: HostBuffer;
const results: number[] = [];
const handler: CqeHandler = { cqe: (_userData, res) => results.push(res) };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsvmm-uring-eventfd-'));
  const path = join(dir, 'file');
  writeFileSync(path, Buffer.alloc(4096, 0x5a));
  readFileSync(path); // in the page cache: io_uring completes a read of it inline
  file = openSync(path, 'r');
  mem = new HostBuffer(2 * 4096);
  const v = new DataView(mem.bytes.buffer, mem.bytes.byteOffset);
  v.setBigUint64(0, BigInt(mem.address + 4096), true);
  v.setBigUint64(8, 4096n, true);
});
afterAll(() => {
  closeSync(file);
  mem.release();
  rmSync(dir, { recursive: true, force: true });
});

/** A ring whose completions signal a fresh non-blocking eventfd. */
function ringWithEventfd(): { ring: IoUring; efd: number; signalled(): boolean; close(): void } {
  const ring = IoUring.create(8);
  if (typeof ring === 'number') throw new Error(`io_uring_setup failed (errno ${-ring})`);
  const efd = check(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) as number, 'eventfd');
  expect(ring.registerEventfd(efd, false)).toBe(0);
  const counter = new Uint8Array(8);
  return {
    ring,
    efd,
    signalled: () => (read(efd, counter, 8) as number) === 8,
    close: () => {
      ring.close();
      close(efd);
    },
  };
}

it('a read completed during submitQuietly() is reaped without an eventfd signal; during enter(), with one', () => {
  const r = ringWithEventfd();
  try {
    expect(r.ring.prep(IORING_OP_READV, file, 0, mem.address, 1, 0, 1)).toBe(true);
    expect(r.ring.enter(0)).toBe(1);
    expect(r.ring.ready).toBe(1);
    expect(r.signalled()).toBe(true); // the wake-up submitQuietly avoids

    expect(r.ring.prep(IORING_OP_READV, file, 0, mem.address, 1, 0, 2)).toBe(true);
    expect(r.ring.submitQuietly()).toBe(1);
    expect(r.ring.ready).toBe(2);
    expect(r.signalled()).toBe(false);
    results.length = 0;
    expect(r.ring.reap(handler)).toBe(2);
    expect(results).toEqual([4096, 4096]);
  } finally {
    r.close();
  }
});

it('a request that completes after submitQuietly() returned still signals the eventfd', () => {
  const r = ringWithEventfd();
  const fds = openPipe();
  try {
    // A read of an empty pipe cannot complete during the submission.
    expect(r.ring.prep(IORING_OP_READV, fds[0], 0, mem.address, 1, 0, 3)).toBe(true);
    expect(r.ring.submitQuietly()).toBe(1);
    expect(r.ring.ready).toBe(0);
    expect(write(fds[1], Uint8Array.of(1, 2, 3), 3)).toBe(3);
    const deadline = Date.now() + 5000;
    while (r.ring.ready === 0 && Date.now() < deadline);
    expect(r.ring.ready).toBe(1);
    expect(r.signalled()).toBe(true);
    results.length = 0;
    r.ring.reap(handler);
    expect(results).toEqual([3]);
  } finally {
    close(fds[0]);
    close(fds[1]);
    r.close();
  }
});
