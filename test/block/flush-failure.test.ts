// A failed fdatasync must not be forgotten (audit issue 11). The kernel really
// fails the flush here: the image's descriptor number is pointed at /dev/null
// (dup2), which has no fsync (EINVAL from fdatasync, io_uring FSYNC and AIO
// FDSYNC alike), then back at the image, where the next fdatasync succeeds
// as it does after a lost write-back. The backend must still fail it.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { O_CLOEXEC, O_RDWR, close, libc, open } from '../../ffi/libc.js';
import { Errno, type BlockBackend } from '../../src/block/block-backend.js';
import * as P from '../../src/block/block-promises.js';
import { DiskImage } from '../../src/block/disk-image.js';
import { IoUringBlockBackend } from '../../src/block/io-uring-backend.js';
import { LinuxAioBlockBackend } from '../../src/block/linux-aio-backend.js';
import { SyncBlockBackend } from '../../src/block/sync-backend.js';
import { HostBuffer } from '../../src/memory/dma-host-buffer.js';
import { IoVecArray } from '../../src/memory/dma-iovec.js';
import { diskScratchDir } from '../support/disk-scratch.js';

const dup = libc.func('int dup(int fd)');
const dup2 = libc.func('int dup2(int oldfd, int newfd)');

let dir: string;
let data: HostBuffer;
let iovMem: HostBuffer;
beforeAll(() => {
  dir = diskScratchDir('tsvmm-flush-');
  data = new HostBuffer(4096);
  iovMem = new HostBuffer(16);
});
afterAll(() => {
  data.release();
  iovMem.release();
  rmSync(dir, { recursive: true, force: true });
});

function oneIov(): IoVecArray {
  const a = new IoVecArray(iovMem.bytes, iovMem.address, 1);
  a.push(data.address, 4096);
  return a;
}

type Engine = 'sync' | 'io_uring' | 'aio';
function backendFor(image: DiskImage, engine: Engine): BlockBackend {
  if (engine === 'sync') return new SyncBlockBackend(image);
  const r = engine === 'io_uring' ? IoUringBlockBackend.create(image) : LinuxAioBlockBackend.create(image);
  if (typeof r === 'string') throw new Error(r);
  return r;
}

/** Runs `fn` with the image's descriptor number pointing at /dev/null. */
async function withoutFsync<T>(image: DiskImage, fn: () => Promise<T>): Promise<T> {
  const saved = dup(image.fd) as number;
  const devNull = open('/dev/null', O_RDWR | O_CLOEXEC, 0) as number;
  expect(saved).toBeGreaterThanOrEqual(0);
  expect(devNull).toBeGreaterThanOrEqual(0);
  try {
    expect(dup2(devNull, image.fd)).toBe(image.fd);
    return await fn();
  } finally {
    dup2(saved, image.fd);
    close(saved);
    close(devNull);
  }
}

describe('a failed flush is latched per image', () => {
  for (const engine of ['sync', 'io_uring', 'aio'] as const) {
    it(`${engine}: after fdatasync failed, every later flush fails although the kernel's next fdatasync succeeds`, async () => {
      const path = join(dir, `${engine}.img`);
      writeFileSync(path, new Uint8Array(64 * 1024));
      const image = DiskImage.open(path);
      const b = backendFor(image, engine);
      data.bytes.fill(0x5a);
      expect(await P.writev(b, 0, oneIov())).toBe(4096);
      expect(await P.flush(b)).toBe(0);
      expect(await withoutFsync(image, () => P.flush(b))).toBe(-Errno.EINVAL);
      // the descriptor is the image again: fdatasync(2) itself would succeed now
      expect(await P.writev(b, 4096, oneIov())).toBe(4096);
      expect(await P.flush(b)).toBe(-Errno.EINVAL);
      expect(await P.flush(b)).toBe(-Errno.EINVAL);
      expect(image.flushFailure).toBe(-Errno.EINVAL);
      // writes and reads still work; only durability is in doubt
      expect(await P.readv(b, 0, oneIov())).toBe(4096);
      b.close();
      image.close();
      // the latch belongs to that open image: a new open starts clean
      const again = DiskImage.open(path);
      const b2 = backendFor(again, engine);
      expect(await P.flush(b2)).toBe(0);
      b2.close();
      again.close();
    });
  }

  it('the latch: the first error stays; a flush that succeeds after it (e.g. one in flight beside it) reports it', () => {
    const path = join(dir, 'latch.img');
    writeFileSync(path, new Uint8Array(4096));
    const image = DiskImage.open(path);
    expect(image.flushResult(0)).toBe(0);
    expect(image.flushResult(-Errno.EIO)).toBe(-Errno.EIO);
    expect(image.flushResult(0)).toBe(-Errno.EIO);
    expect(image.flushResult(-Errno.ENOSPC)).toBe(-Errno.EIO); // the first error stays
    image.close();
  });
});
