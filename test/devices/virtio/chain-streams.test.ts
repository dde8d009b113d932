// ChainReader / ChainWriter: a chain's readable and writable bytes as two
// streams, whatever the driver's buffer boundaries (virtio §2.7.4).
import { afterAll, describe, expect, it } from 'vitest';
import { ChainReader, ChainWriter } from '../../../src/devices/virtio/chain-streams.js';
import { DescriptorChain } from '../../../src/devices/virtio/virtqueue.js';
import { DmaMapper } from '../../../src/memory/dma-mapper.js';
import { DmaSgList } from '../../../src/memory/dma-sg-list.js';
import { DmaStatus } from '../../../src/memory/dma-status.js';
import { DmaAccess, GuestMemoryTranslator } from '../../../src/memory/dma-translator.js';
import { GuestMemory } from '../../../src/memory/guest-memory.js';

const RAM = 1 << 20;
const mem = GuestMemory.allocate([{ gpa: 0, size: RAM }]);
const mapper = new DmaMapper(new GuestMemoryTranslator(mem), { mappings: 1 });
afterAll(() => {
  mapper.release();
  mem.release();
});

/** A chain of readable then writable segments at the given (address, length)s. */
function chainOf(readable: [number, number][], writable: [number, number][]): DescriptorChain {
  const c = new DescriptorChain(64);
  c.reset(0);
  for (const [i, [a, l]] of [...readable, ...writable].entries()) {
    c.addr[i] = a;
    c.len[i] = l;
    c.writable[i] = i >= readable.length ? 1 : 0;
  }
  c.count = readable.length + writable.length;
  c.firstWritable = readable.length;
  c.readableBytes = readable.reduce((n, [, l]) => n + l, 0);
  c.writableBytes = writable.reduce((n, [, l]) => n + l, 0);
  return c;
}

/** Random cuts of `total` bytes into segments (some empty) at scattered addresses. */
function randomSegments(total: number, next: () => number, base: number): [number, number][] {
  const out: [number, number][] = [];
  let at = base;
  while (total > 0 || next() < 0.2) {
    const l = next() < 0.15 ? 0 : Math.min(total, 1 + Math.floor(next() * 40));
    out.push([at, l]);
    at += l + Math.floor(next() * 64);
    total -= l;
    if (total === 0 && out.length > 0 && next() < 0.5) break;
  }
  return out;
}

function seeded(seed: number): () => number {
  let x = seed;
  return () => ((x = (x * 1103515245 + 12345) >>> 0) / 2 ** 32);
}

describe('ChainReader', () => {
  it('reads the readable bytes in order across segment boundaries and empty segments', () => {
    mem.write(0x1000, Uint8Array.from([1, 2, 3]));
    mem.write(0x2000, Uint8Array.from([4, 5, 6, 7, 8]));
    const reader = new ChainReader(mapper).reset(chainOf([[0x1000, 3], [0x5000, 0], [0x2000, 5]], [[0x3000, 4]]));
    expect(reader.remaining).toBe(8);
    const head = new Uint8Array(2);
    expect(reader.read(head)).toBe(DmaStatus.Ok);
    expect([...head]).toEqual([1, 2]);
    const rest = new Uint8Array(6);
    expect(reader.read(rest)).toBe(DmaStatus.Ok);
    expect([...rest]).toEqual([3, 4, 5, 6, 7, 8]);
    expect(reader.remaining).toBe(0);
  });

  it('refuses to read or skip past the readable bytes, and leaves the cursor where it was', () => {
    mem.write(0x1000, Uint8Array.from([9, 8, 7, 6]));
    const reader = new ChainReader(mapper).reset(chainOf([[0x1000, 4]], [[0x3000, 100]]));
    expect(reader.read(new Uint8Array(5))).toBe(DmaStatus.BadLength);
    expect(reader.skip(5)).toBe(false);
    expect(reader.remaining).toBe(4);
    expect(reader.skip(1)).toBe(true);
    const b = new Uint8Array(3);
    expect(reader.read(b)).toBe(DmaStatus.Ok);
    expect([...b]).toEqual([8, 7, 6]);
  });

  it('reports a buffer outside guest memory as the copy status', () => {
    const reader = new ChainReader(mapper).reset(chainOf([[RAM - 2, 4]], []));
    expect(reader.read(new Uint8Array(4))).not.toBe(DmaStatus.Ok);
  });

  it('hands bulk data on as scatter/gather entries, cut where the segments are', () => {
    const reader = new ChainReader(mapper).reset(chainOf([[0x1000, 16], [0x2000, 0], [0x3000, 100]], []));
    reader.skip(10);
    const sg = new DmaSgList(8);
    expect(reader.takeSegments(60, sg, DmaAccess.Read)).toBe(true);
    expect([...sg.addr.subarray(0, sg.count)]).toEqual([0x100a, 0x3000]);
    expect([...sg.len.subarray(0, sg.count)]).toEqual([6, 54]);
    expect(reader.remaining).toBe(46);
    expect(reader.takeSegments(47, sg, DmaAccess.Read)).toBe(false);
  });

  it('fails when the scatter/gather list is full', () => {
    const reader = new ChainReader(mapper).reset(chainOf([[0x1000, 1], [0x2000, 1], [0x3000, 1]], []));
    expect(reader.takeSegments(3, new DmaSgList(2), DmaAccess.Read)).toBe(false);
  });
});

describe('ChainWriter', () => {
  it('writes after the readable bytes, counts what it wrote, and finds the last byte', () => {
    const writer = new ChainWriter(mapper).reset(chainOf([[0x1000, 16]], [[0x4000, 2], [0x5000, 3], [0x6000, 0]]));
    expect(writer.remaining).toBe(5);
    expect(writer.lastByteAddress()).toBe(0x5002);
    expect(writer.write(Uint8Array.from([1, 2, 3]))).toBe(DmaStatus.Ok);
    expect(writer.written).toBe(3);
    expect([...mem.view(0x4000, 2)!, ...mem.view(0x5000, 1)!]).toEqual([1, 2, 3]);
    expect(writer.write(Uint8Array.from([4, 5, 6]))).toBe(DmaStatus.BadLength);
    expect(writer.written).toBe(3);
  });

  it('has no last byte when nothing is writable', () => {
    const writer = new ChainWriter(mapper).reset(chainOf([[0x1000, 16]], [[0x4000, 0]]));
    expect(writer.lastByteAddress()).toBe(-1);
    expect(writer.remaining).toBe(0);
  });

  it('agrees with a flat copy for random segmentations (2000 chains)', () => {
    const next = seeded(7);
    for (let round = 0; round < 2000; round++) {
      const total = 1 + Math.floor(next() * 200);
      const readable = randomSegments(total, next, 0x10000);
      const writable = randomSegments(total, next, 0x80000);
      const chain = chainOf(readable, writable);
      if (chain.count > 64) continue;
      const data = Uint8Array.from({ length: chain.readableBytes }, () => Math.floor(next() * 256));
      let at = 0;
      for (const [a, l] of readable) {
        mem.write(a, data.subarray(at, at + l));
        at += l;
      }
      const reader = new ChainReader(mapper).reset(chain);
      const writer = new ChainWriter(mapper).reset(chain);
      const n = Math.min(chain.readableBytes, chain.writableBytes);
      const cut = Math.floor(next() * (n + 1));
      const got = new Uint8Array(n);
      expect(reader.read(got, cut)).toBe(DmaStatus.Ok);
      expect(reader.read(got, n - cut, cut)).toBe(DmaStatus.Ok);
      expect(got).toEqual(data.subarray(0, n));
      expect(writer.write(got, cut)).toBe(DmaStatus.Ok);
      expect(writer.write(got, n - cut, cut)).toBe(DmaStatus.Ok);
      const back = new Uint8Array(n);
      at = 0;
      for (const [a, l] of writable) {
        const k = Math.min(l, n - at);
        if (k > 0) back.set(mem.view(a, k)!, at);
        at += k;
      }
      expect(back).toEqual(data.subarray(0, n));
    }
  });
});
