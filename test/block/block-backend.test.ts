import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlignedBlockBackend } from '../../src/block/aligned-backend.js';
import { Errno, type BlockBackend, type BlockCompletion } from '../../src/block/block-backend.js';
import * as P from '../../src/block/block-promises.js';
import { DiskImage, DiskImageError } from '../../src/block/disk-image.js';
import { IoUringBlockBackend } from '../../src/block/io-uring-backend.js';
import { KernelQueueBackend } from '../../src/block/kernel-queue-backend.js';
import { LinuxAioBlockBackend } from '../../src/block/linux-aio-backend.js';
import { createBlockBackend } from '../../src/block/open-block-backend.js';
import { SyncBlockBackend } from '../../src/block/sync-backend.js';
import { HostBuffer } from '../../src/memory/dma-host-buffer.js';
import { IoVecArray } from '../../src/memory/dma-iovec.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { Prng } from '../memory/dma-test-support.js';
import { itNeeding } from '../support/host-requirements.js';
import { diskScratchDir } from '../support/disk-scratch.js';

const MiB = 1024 * 1024;
const IMAGE_SIZE = 4 * MiB;
let dir: string;
let mem: GuestMemory;
let ram: Uint8Array;
let iovMem: HostBuffer;

beforeAll(() => {
  dir = diskScratchDir('tsvmm-block-');
  mem = GuestMemory.allocate([{ gpa: 0, size: 16 * MiB }]);
  ram = mem.regions[0].bytes;
  iovMem = new HostBuffer(64 * 1024);
});
afterAll(() => {
  mem.release();
  iovMem.release();
  rmSync(dir, { recursive: true, force: true });
});

let iovSlot = 0;
/** An iovec array (its own slice of iovMem) over guest RAM ranges [gpa, len]. */
function iovOf(parts: [number, number][]): IoVecArray {
  const slot = iovSlot++ % 256;
  const a = new IoVecArray(iovMem.bytes.subarray(slot * 256, slot * 256 + 256), iovMem.address + slot * 256, 16);
  for (const [gpa, len] of parts) if (!a.push(mem.regions[0].hostAddress + gpa, len)) throw new Error('too many iovecs');
  return a;
}

function makeImage(name: string, size = IMAGE_SIZE, fill?: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, fill ?? new Uint8Array(size));
  return p;
}

type EngineName = 'sync' | 'io_uring' | 'aio';
function backendFor(image: DiskImage, engine: EngineName): BlockBackend {
  let b: BlockBackend;
  if (engine === 'sync') b = new SyncBlockBackend(image);
  else if (engine === 'io_uring') {
    const r = IoUringBlockBackend.create(image);
    if (typeof r === 'string') throw new Error(r);
    b = r;
  } else {
    const r = LinuxAioBlockBackend.create(image);
    if (typeof r === 'string') throw new Error(r);
    b = r;
  }
  if (image.direct) b = new AlignedBlockBackend(b, { memoryAlignment: image.memoryAlignment, blockSize: image.logicalBlockSize });
  return b;
}

/** Random iovec layout for `len` bytes: buffers scattered in guest RAM. */
function randomLayout(rng: Prng, len: number, aligned: boolean, bufferArea: number): [number, number][] {
  const parts: [number, number][] = [];
  let left = len;
  let at = bufferArea;
  while (left > 0) {
    let n = parts.length === 15 ? left : Math.min(left, aligned ? 512 * rng.range(1, 16) : rng.range(1, 9000));
    if (n > left) n = left;
    if (aligned) at = Math.ceil(at / 512) * 512;
    else at += rng.range(0, 7);
    parts.push([at, n]);
    at += n + (aligned ? 512 * rng.range(0, 2) : rng.range(0, 100));
    left -= n;
  }
  return parts;
}

function gather(parts: [number, number][]): Uint8Array {
  const total = parts.reduce((s, [, l]) => s + l, 0);
  const out = new Uint8Array(total);
  let p = 0;
  for (const [a, l] of parts) {
    out.set(ram.subarray(a, a + l), p);
    p += l;
  }
  return out;
}

const engines: EngineName[] = ['sync', 'io_uring', 'aio'];
const caches = ['writeback', 'none'] as const;

for (const engine of engines) {
  for (const cache of caches) {
    describe(`${engine} engine, cache=${cache}`, () => {
      it('random concurrent vectored reads and writes match a model of the file (300 batches)', async () => {
        const rng = new Prng(engine.length * 31 + cache.length);
        const initial = rng.fill(new Uint8Array(IMAGE_SIZE));
        const path = makeImage(`rw-${engine}-${cache}.img`, IMAGE_SIZE, initial);
        const model = initial.slice();
        const image = DiskImage.open(path, { cache });
        const b = backendFor(image, engine);
        expect(b.size).toBe(IMAGE_SIZE);
        try {
          for (let batch = 0; batch < 300; batch++) {
            // a batch of non-overlapping requests in flight at once
            const ops: Promise<void>[] = [];
            const used: [number, number][] = [];
            const n = rng.range(1, 12);
            for (let k = 0; k < n; k++) {
              const aligned = cache === 'none' ? rng.chance(0.7) : rng.chance(0.5);
              const len = aligned ? 512 * rng.range(1, 64) : rng.range(1, 40000);
              const offset = aligned ? 512 * rng.below((IMAGE_SIZE - len) / 512) : rng.below(IMAGE_SIZE - len);
              if (used.some(([o, l]) => offset < o + l && o < offset + len)) continue;
              used.push([offset, len]);
              const area = 64 * 1024 + k * 1024 * 1024 + 16 * 1024 * (batch % 4);
              const parts = randomLayout(rng, len, aligned, area);
              const iov = iovOf(parts);
              if (rng.chance(0.5)) {
                const data = rng.fill(new Uint8Array(len));
                let p = 0;
                for (const [a, l] of parts) {
                  ram.set(data.subarray(p, p + l), a);
                  p += l;
                }
                model.set(data, offset);
                ops.push(P.writev(b, offset, iov).then((r) => expect(r).toBe(len)));
              } else {
                const want = model.slice(offset, offset + len);
                ops.push(
                  P.readv(b, offset, iov).then((r) => {
                    expect(r).toBe(len);
                    expect(Buffer.compare(gather(parts), want)).toBe(0);
                  }),
                );
              }
            }
            await Promise.all(ops);
          }
          expect(await P.flush(b)).toBe(0);
        } finally {
          b.close();
          image.close();
        }
        expect(Buffer.compare(readFileSync(path), model)).toBe(0);
        if (cache === 'none') expect((b as AlignedBlockBackend).bounced).toBeGreaterThan(0);
      });

      it('flush, discard, write-zeroes, bounds and errors', async () => {
        const rng = new Prng(5);
        const path = makeImage(`misc-${engine}-${cache}.img`, IMAGE_SIZE, rng.fill(new Uint8Array(IMAGE_SIZE)));
        const image = DiskImage.open(path, { cache });
        const b = backendFor(image, engine);
        try {
          expect(await P.writeZeroes(b, 8192, 65536)).toBe(0);
          ram.fill(0xee, 0, 65536);
          expect(await P.readv(b, 8192, iovOf([[0, 65536]]))).toBe(65536);
          expect(ram.subarray(0, 65536).every((x) => x === 0)).toBe(true);
          expect(await P.discard(b, 0, 4096)).toBe(0);
          expect(await P.flush(b)).toBe(0);
          expect(await P.readv(b, IMAGE_SIZE - 512, iovOf([[0, 1024]]))).toBe(-Errno.EINVAL);
          expect(await P.writev(b, -512, iovOf([[0, 512]]))).toBe(-Errno.EINVAL);
          expect(await P.readv(b, 0, iovOf([]))).toBe(0);
          expect(await P.writeZeroes(b, IMAGE_SIZE, 512)).toBe(-Errno.EINVAL);
        } finally {
          b.close();
          image.close();
        }
      });

      it('a read-only image refuses writes with EROFS', async () => {
        const path = makeImage(`ro-${engine}-${cache}.img`);
        const image = DiskImage.open(path, { cache, readOnly: true });
        const b = backendFor(image, engine);
        try {
          expect(b.readOnly).toBe(true);
          expect(await P.writev(b, 0, iovOf([[0, 512]]))).toBe(-Errno.EROFS);
          expect(await P.writeZeroes(b, 0, 512)).toBe(-Errno.EROFS);
          expect(await P.readv(b, 0, iovOf([[0, 4096]]))).toBe(4096);
          expect(await P.flush(b)).toBe(0);
        } finally {
          b.close();
          image.close();
        }
      });
    });
  }
}

describe('completion contract', () => {
  for (const engine of engines) {
    it(`${engine}: completions never arrive inside the submitting call, and come in batches`, async () => {
      const image = DiskImage.open(makeImage(`contract-${engine}.img`));
      const b = backendFor(image, engine);
      let inside = false;
      let completions = 0;
      let batchEnds = 0;
      let resolve!: () => void;
      const all = new Promise<void>((r) => (resolve = r));
      const target: BlockCompletion = {
        blockComplete(_tag, result) {
          expect(inside).toBe(false);
          expect(result).toBe(4096);
          if (++completions === 64) resolve();
        },
        blockBatchEnd() {
          batchEnds++;
        },
      };
      inside = true;
      for (let i = 0; i < 64; i++) b.readv(i * 4096, iovOf([[i * 4096, 4096]]), target, i);
      inside = false;
      await all;
      expect(batchEnds).toBeGreaterThanOrEqual(1);
      expect(batchEnds).toBeLessThan(64);
      b.close();
      image.close();
    });
  }

  it('io_uring: more requests than the ring holds wait their turn; one io_uring_enter per batch', async () => {
    const image = DiskImage.open(makeImage('deep.img'));
    const r = IoUringBlockBackend.create(image, { entries: 8 });
    if (typeof r === 'string') throw new Error(r);
    const b: IoUringBlockBackend = r;
    const ops: Promise<number>[] = [];
    for (let i = 0; i < 100; i++) ops.push(P.readv(b, (i % 512) * 4096, iovOf([[(i % 64) * 4096, 4096]])));
    expect(b.inFlight).toBe(100);
    const res = await Promise.all(ops);
    expect(res.every((x) => x === 4096)).toBe(true);
    expect(b.stats.reapedInUserSpace).toBe(100);
    expect(b.enterCalls).toBeLessThan(100);
    b.close();
    image.close();
  });

  it('io_uring and AIO: close() waits for requests in flight', () => {
    for (const engine of ['io_uring', 'aio'] as const) {
      const image = DiskImage.open(makeImage(`close-${engine}.img`), { cache: 'none' });
      const b = backendFor(image, engine) as AlignedBlockBackend;
      const inner = b.inner as KernelQueueBackend;
      const sink: BlockCompletion = { blockComplete() {} };
      for (let i = 0; i < 16; i++) b.readv(i * 4096, iovOf([[i * 4096, 4096]]), sink, i);
      b.close();
      expect(inner.inFlight).toBe(0);
      image.close();
    }
  });
});

describe('engine selection', () => {
  it('async picks io_uring here, and the promised fallbacks exist', () => {
    const image = DiskImage.open(makeImage('choice.img'));
    const { backend, fallbacks } = createBlockBackend(image, 'async');
    expect(backend.kind).toBe('io_uring');
    expect(fallbacks).toEqual([]);
    backend.close();
    const aio = createBlockBackend(image, 'aio').backend;
    expect(aio.kind).toBe('aio');
    expect((aio as LinuxAioBlockBackend).userSpaceReaping).toBe(true);
    aio.close();
    const direct = DiskImage.open(makeImage('choice2.img'), { cache: 'none' });
    const wrapped = createBlockBackend(direct, 'sync').backend;
    expect(wrapped).toBeInstanceOf(AlignedBlockBackend);
    expect(wrapped.direct).toBe(true);
    wrapped.close();
    direct.close();
    image.close();
  });
});

describe('opening images', () => {
  it('missing, directory, not a file: clear errors', () => {
    expect(() => DiskImage.open(join(dir, 'nope.img'))).toThrow(/does not exist/);
    expect(() => DiskImage.open(dir, { readOnly: true })).toThrow(DiskImageError);
    expect(() => DiskImage.open(dir)).toThrow(/is a directory/);
    expect(() => DiskImage.open('/dev/null')).toThrow(/not a regular file or a block device/);
    expect(() => DiskImage.open('')).toThrow(/empty/);
  });

  it('no write permission suggests ,ro', () => {
    let err: unknown;
    try {
      DiskImage.open('/sys/kernel/notes');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DiskImageError);
    expect((err as Error).message).toMatch(/no permission to open disk image \/sys\/kernel\/notes for writing \(add ,ro/);
  });

  it('sizes and direct-I/O alignment are probed', () => {
    const p = makeImage('probe.img', 3 * 512 + 100);
    const image = DiskImage.open(p, { cache: 'none' });
    expect(image.size).toBe(3 * 512 + 100);
    expect(image.sectors).toBe(3);
    expect(image.direct).toBe(true);
    expect(image.logicalBlockSize % 512).toBe(0);
    expect(image.memoryAlignment).toBeGreaterThan(0);
    image.close();
  });

  it('an image open read-write is locked against a second writer and any reader', () => {
    const p = makeImage('locked.img');
    const a = DiskImage.open(p);
    expect(() => DiskImage.open(p)).toThrow(/in use by another VM/);
    try {
      DiskImage.open(p);
    } catch (e) {
      expect((e as DiskImageError).code).toBe('ELOCKED');
    }
    expect(() => DiskImage.open(p, { readOnly: true })).toThrow(/in use read-write by another VM/);
    a.close();
    const b = DiskImage.open(p);
    b.close();
  });

  it('read-only opens share the image; a writer is refused while they hold it', () => {
    const p = makeImage('shared.img');
    const r1 = DiskImage.open(p, { readOnly: true });
    const r2 = DiskImage.open(p, { readOnly: true });
    expect(() => DiskImage.open(p)).toThrow(/in use by another VM/);
    r1.close();
    expect(() => DiskImage.open(p)).toThrow(/in use by another VM/);
    r2.close();
    DiskImage.open(p).close();
  });

  itNeeding(existsSync('/usr/bin/flock') ? undefined : 'no /usr/bin/flock (util-linux)', 'another process holding the lock keeps us out', async () => {
    const p = makeImage('other.img');
    const child = spawn('/usr/bin/flock', ['-x', p, 'sleep', '30'], { stdio: 'ignore' });
    try {
      // wait until the child holds the lock
      for (let i = 0; i < 100; i++) {
        try {
          execFileSync('/usr/bin/flock', ['-n', '-x', p, 'true']);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(() => DiskImage.open(p)).toThrow(/in use by another VM/);
    } finally {
      child.kill();
    }
  });

  it('fromFd wraps a descriptor opened (and locked) by someone else', () => {
    const p = makeImage('fd.img', 8192);
    const owner = DiskImage.open(p);
    const borrowed = DiskImage.fromFd(owner.fd, p, { readOnly: false, direct: false });
    expect(borrowed.size).toBe(8192);
    borrowed.close(); // does not close the fd
    const b = new SyncBlockBackend(owner);
    b.close();
    owner.close();
  });
});
