import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preadv } from '../../ffi/block-io.js';
import { DmaMapper, type DmaMapping } from '../../src/memory/dma-mapper.js';
import { DmaSgList } from '../../src/memory/dma-sg-list.js';
import { DmaStatus } from '../../src/memory/dma-status.js';
import {
  BounceAllTranslator,
  DmaAccess,
  DmaSpan,
  GuestMemoryTranslator,
  PageRemapTranslator,
  type DmaSlowPath,
  type DmaTranslator,
} from '../../src/memory/dma-translator.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { Prng, hostView } from './dma-test-support.js';

const MiB = 1024 * 1024;
const R0 = { gpa: 0, size: MiB };
const R1 = { gpa: MiB, size: MiB }; // adjacent to R0: a range across 1 MiB is two direct iovecs
const DEV = { gpa: 2 * MiB, size: 64 * 1024 }; // device memory right after R1 (bounced)
const HIGH = { gpa: 0x1_0000_0000, size: 256 * 1024 }; // above 4 GiB

/** Device memory served through the slow path (like an MMIO BAR). */
class FakeDeviceMemory implements DmaSlowPath {
  readonly bytes = new Uint8Array(DEV.size);
  reads = 0;
  writes = 0;
  failAt = -1;
  claims(addr: number, length: number): number {
    if (addr < DEV.gpa || addr >= DEV.gpa + DEV.size) return 0;
    return Math.min(length, DEV.gpa + DEV.size - addr);
  }
  read(addr: number, dst: Uint8Array): boolean {
    this.reads++;
    if (this.failAt >= addr && this.failAt < addr + dst.length) return false;
    dst.set(this.bytes.subarray(addr - DEV.gpa, addr - DEV.gpa + dst.length));
    return true;
  }
  write(addr: number, src: Uint8Array): boolean {
    this.writes++;
    this.bytes.set(src, addr - DEV.gpa);
    return true;
  }
}

let mem: GuestMemory;
let dev: FakeDeviceMemory;
let tr: GuestMemoryTranslator;

beforeAll(() => {
  mem = GuestMemory.allocate([R0, R1, HIGH]);
  dev = new FakeDeviceMemory();
  tr = new GuestMemoryTranslator(mem, dev);
});
afterAll(() => mem.release());

/** Guest address of byte `pos` of the transfer described by `sg`. */
function gpaAt(sg: DmaSgList, pos: number): number {
  for (let i = 0; i < sg.count; i++) {
    if (pos < sg.len[i]) return sg.addr[i] + pos;
    pos -= sg.len[i];
  }
  throw new Error('past end');
}

function regionOfHost(host: number) {
  return mem.regions.find((r) => host >= r.hostAddress && host < r.hostAddress + r.size);
}

/** A random valid segment. */
function randomSegment(rng: Prng, maxLen: number): [number, number] {
  switch (rng.below(6)) {
    case 0: {
      const len = rng.range(0, Math.min(maxLen, R0.size));
      return [rng.range(0, R0.size - len), len];
    }
    case 1: {
      // across the R0/R1 edge
      const before = rng.range(1, Math.min(4096, maxLen));
      const after = rng.range(1, Math.min(4096, maxLen));
      return [R1.gpa - before, before + after];
    }
    case 2: {
      const len = rng.range(1, Math.min(maxLen, DEV.size));
      return [DEV.gpa + rng.range(0, DEV.size - len), len];
    }
    case 3: {
      // RAM → device memory (direct then bounced)
      const before = rng.range(1, Math.min(8192, maxLen));
      const after = rng.range(1, Math.min(8192, maxLen));
      return [DEV.gpa - before, before + after];
    }
    case 4: {
      const len = rng.range(1, Math.min(maxLen, HIGH.size));
      return [HIGH.gpa + rng.range(0, HIGH.size - len), len];
    }
    default:
      return [rng.range(0, 2 * MiB - 1), 0];
  }
}

function overlaps(list: [number, number][], a: number, l: number): boolean {
  return list.some(([b, m]) => a < b + m && b < a + l);
}

interface Options {
  iovecsPerMapping: number;
  bounceBufferSize: number;
  pieceAlignment: number;
}

function randomOptions(rng: Prng): Options {
  const pieceAlignment = rng.pick([1, 512, 512, 4096]);
  return {
    iovecsPerMapping: rng.pick([1, 2, 3, 8, 64, 256]),
    bounceBufferSize: rng.pick([512, 1024, 4096, 65536].filter((b) => b >= pieceAlignment)),
    pieceAlignment,
  };
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(`check failed: ${what}`);
}

/** The bytes the guest sees along `sg` (RAM or device memory), copied region by region. */
function oracleStream(sg: DmaSgList): Uint8Array {
  let total = 0;
  for (let i = 0; i < sg.count; i++) total += sg.len[i];
  const out = new Uint8Array(total);
  let pos = 0;
  for (let i = 0; i < sg.count; i++) {
    let a = sg.addr[i];
    let left = sg.len[i];
    while (left > 0) {
      let src: Uint8Array;
      let off: number;
      let avail: number;
      if (a >= DEV.gpa && a < DEV.gpa + DEV.size) {
        src = dev.bytes;
        off = a - DEV.gpa;
        avail = DEV.gpa + DEV.size - a;
      } else {
        const r = mem.regionAt(a)!;
        src = r.bytes;
        off = a - r.gpa;
        avail = r.size - off;
      }
      const n = Math.min(avail, left);
      out.set(src.subarray(off, off + n), pos);
      pos += n;
      a += n;
      left -= n;
    }
  }
  return out;
}

const mappers = new Map<string, DmaMapper>();
function mapperFor(t: DmaTranslator, opts: Options, tag: string): DmaMapper {
  const key = `${tag}/${opts.iovecsPerMapping}/${opts.bounceBufferSize}/${opts.pieceAlignment}`;
  let m = mappers.get(key);
  if (!m) {
    m = new DmaMapper(t, { mappings: 2, ...opts });
    mappers.set(key, m);
  }
  return m;
}
afterAll(() => {
  for (const m of mappers.values()) m.release();
});

/** Translated spans (one iovec each) that bytes [from, to) of the transfer `sg` cross. */
function spansBetween(t: DmaTranslator, sg: DmaSgList, access: DmaAccess, from: number, to: number): number {
  const span = new DmaSpan();
  let spans = 0;
  let pos = 0;
  for (let i = 0; i < sg.count && pos < to; i++) {
    const end = pos + sg.len[i];
    let at = Math.max(pos, from);
    while (at < Math.min(end, to)) {
      t.translate(sg.addr[i] + (at - pos), end - at, access, span);
      spans++;
      at += span.length;
    }
    pos = end;
  }
  return spans;
}

/**
 * Runs all pieces of `m`, checking iovecs; returns the stream the iovecs saw
 * (Read) or wrote (Write), and how much of it was handed out (less than all
 * only when the next aligned block needs more iovecs than a mapping holds).
 */
function drain(m: DmaMapping, sg: DmaSgList, rng: Prng, opts: Options): { out: Uint8Array; done: number } {
  const out = new Uint8Array(m.totalLength);
  let expectedOffset = 0;
  for (;;) {
    const s = m.nextPiece();
    if (s === DmaStatus.Done) break;
    if (s === DmaStatus.TooFragmented) {
      // the piece had to reach the next boundary, or the end
      const boundary = Math.min(m.totalLength, expectedOffset + opts.pieceAlignment);
      check(spansBetween(m.owner.translator, sg, m.access, expectedOffset, boundary) > opts.iovecsPerMapping, 'refused only when one aligned block needs more iovecs than a mapping holds');
      return { out, done: expectedOffset };
    }
    check(s === DmaStatus.Ok, `nextPiece status ${s}`);
    check(m.pieceOffset === expectedOffset, 'pieces are contiguous');
    check(m.iov.count > 0 && m.iov.count <= opts.iovecsPerMapping, 'iovec count within capacity');
    check(m.pieceBounced <= opts.bounceBufferSize, 'bounced bytes within the bounce buffer');
    if (m.pieceOffset + m.pieceLength < m.totalLength) check(m.pieceLength % opts.pieceAlignment === 0, 'non-final pieces are aligned');
    let pos = m.pieceOffset;
    let iovTotal = 0;
    for (let i = 0; i < m.iov.count; i++) {
      const base = m.iov.base(i);
      const len = m.iov.len(i);
      iovTotal += len;
      const r = regionOfHost(base);
      if (r) {
        // zero copy: the iovec aliases guest RAM exactly where the sg list says
        check(base - r.hostAddress + r.gpa === gpaAt(sg, pos), 'direct iovec aliases the right guest address');
        // It may run on past the region's end only into memory that is no
        // guest RAM: a bounce buffer the allocator happened to place right
        // after the region, whose iovec the mapper merged with this one (the
        // byte comparison below checks what goes through it).
        const end = base - r.hostAddress + len;
        check(end <= r.size || regionOfHost(r.hostAddress + r.size) === undefined, 'direct iovec stays inside its region or runs on into host memory that is not guest RAM');
      }
      const view = hostView(base, len);
      if (m.access === DmaAccess.Write) rng.fill(view);
      out.set(view, pos);
      pos += len;
    }
    check(iovTotal === m.pieceLength && m.iov.length === m.pieceLength, 'iovec lengths add up to the piece');
    check(m.finishPiece(m.pieceLength) === DmaStatus.Ok, 'finishPiece');
    expectedOffset += m.pieceLength;
  }
  check(expectedOffset === m.totalLength, 'pieces cover the transfer');
  return { out, done: expectedOffset };
}

describe('DmaMapper: random valid scatter/gather lists', () => {
  it('device-reads-memory: iovecs alias guest RAM and bounced bytes round-trip (3000 cases)', () => {
    const rng = new Prng(0xd3a);
    rng.fill(mem.regions[0].bytes.subarray(0, 64 * 1024));
    for (const r of mem.regions) rng.fill(r.bytes.subarray(r.size - 65536));
    rng.fill(mem.regions[1].bytes.subarray(0, 65536));
    rng.fill(mem.regions[2].bytes);
    rng.fill(dev.bytes);
    for (let c = 0; c < 3000; c++) {
      const opts = randomOptions(rng);
      const mapper = mapperFor(tr, opts, 'direct');
      const before = mapper.stats.directBytes + mapper.stats.bouncedBytes;
      const sg = new DmaSgList(64);
      const n = rng.range(0, 12);
      for (let i = 0; i < n; i++) {
        const [a, l] = randomSegment(rng, 70000);
        sg.push(a, l, DmaAccess.Read);
      }
      const m = mapper.acquire()!;
      expect(mapper.map(sg, DmaAccess.Read, m)).toBe(DmaStatus.Ok);
      const { out, done } = drain(m, sg, rng, opts);
      const want = oracleStream(sg).subarray(0, done);
      check(Buffer.compare(out.subarray(0, done), want) === 0, `case ${c}: bytes seen through iovecs match guest memory`);
      m.release();
      check(mapper.stats.directBytes + mapper.stats.bouncedBytes - before === done, 'stats count every byte');
    }
  });

  it('device-writes-memory: data written through iovecs lands in guest RAM and device memory (3000 cases)', () => {
    const rng = new Prng(0xbeef);
    for (let c = 0; c < 3000; c++) {
      const opts = randomOptions(rng);
      const mapper = mapperFor(tr, opts, 'direct');
      const sg = new DmaSgList(64);
      const segs: [number, number][] = [];
      const n = rng.range(1, 10);
      for (let tries = 0; segs.length < n && tries < 50; tries++) {
        const [a, l] = randomSegment(rng, 40000);
        if (!overlaps(segs, a, l)) segs.push([a, l]);
      }
      for (const [a, l] of segs) sg.push(a, l, DmaAccess.Write);
      const m = mapper.acquire()!;
      expect(mapper.map(sg, DmaAccess.Write, m)).toBe(DmaStatus.Ok);
      const { out, done } = drain(m, sg, rng, opts);
      check(Buffer.compare(out.subarray(0, done), oracleStream(sg).subarray(0, done)) === 0, `case ${c}: guest memory holds what was written through iovecs`);
      m.release();
    }
  });

  it('forced bouncing gives the same bytes as the direct path', () => {
    const rng = new Prng(7);
    const bounced = new BounceAllTranslator(tr);
    for (let c = 0; c < 500; c++) {
      const sg = new DmaSgList(16);
      for (let i = rng.range(1, 6); i > 0; i--) {
        const [a, l] = randomSegment(rng, 20000);
        sg.push(a, l, DmaAccess.Read);
      }
      const opts = randomOptions(rng);
      const direct = mapperFor(tr, opts, 'direct');
      const bounce = mapperFor(bounced, opts, 'bounced');
      const bouncedBefore = bounce.stats.bouncedBytes;
      const m1 = direct.acquire()!;
      const m2 = bounce.acquire()!;
      expect(direct.map(sg, DmaAccess.Read, m1)).toBe(DmaStatus.Ok);
      expect(bounce.map(sg, DmaAccess.Read, m2)).toBe(DmaStatus.Ok);
      const a = drain(m1, sg, rng, opts);
      const b = drain(m2, sg, rng, opts);
      const both = Math.min(a.done, b.done);
      check(Buffer.compare(a.out.subarray(0, both), b.out.subarray(0, both)) === 0, 'bounced bytes equal direct bytes');
      check(bounce.stats.directBytes === 0, 'nothing direct when forced to bounce');
      check(bounce.stats.bouncedBytes - bouncedBefore === b.done, 'every byte bounced');
      m1.release();
      m2.release();
    }
  });
});

describe('DmaMapper: hostile lists are error values', () => {
  const hostile: [string, number, number, DmaStatus][] = [
    ['NaN address', NaN, 16, DmaStatus.BadAddress],
    ['negative address', -1, 16, DmaStatus.BadAddress],
    ['fractional address', 0.5, 16, DmaStatus.BadAddress],
    ['Infinity address', Infinity, 16, DmaStatus.BadAddress],
    ['address 2^53', 2 ** 53, 1, DmaStatus.BadAddress],
    ['address 2^64-1', 2 ** 64 - 1, 1, DmaStatus.BadAddress],
    ['address 2^64', 2 ** 64, 1, DmaStatus.BadAddress],
    ['wrap past the end', 2 ** 53 - 8, 16, DmaStatus.Wrap],
    ['negative length', 0, -1, DmaStatus.BadLength],
    ['NaN length', 0, NaN, DmaStatus.BadLength],
    ['fractional length', 0, 1.5, DmaStatus.BadLength],
    ['4 GiB length', 0, 2 ** 32, DmaStatus.TooLarge],
    ['4 GiB - 1 length', 4096, 2 ** 32 - 1, DmaStatus.TooLarge],
    ['hole after device memory', DEV.gpa + DEV.size, 1, DmaStatus.Fault],
    ['runs off the end of RAM into the hole', HIGH.gpa + HIGH.size - 4, 8, DmaStatus.Fault],
    ['device memory into the hole', DEV.gpa + DEV.size - 4, 8, DmaStatus.Fault],
    ['just below 4 GiB', 0xffff_f000, 4096, DmaStatus.Fault],
  ];
  for (const [name, addr, len, want] of hostile) {
    it(name, () => {
      const mapper = new DmaMapper(tr, { mappings: 1 });
      const sg = new DmaSgList(4);
      sg.push(4096, 512, DmaAccess.Read);
      sg.push(addr, len, DmaAccess.Read);
      const m = mapper.acquire()!;
      expect(mapper.map(sg, DmaAccess.Read, m)).toBe(want);
      expect(m.nextPiece()).toBe(DmaStatus.InvalidState); // nothing handed out
      expect(mapper.stats.rejected).toBe(1);
      m.release();
      mapper.release();
    });
  }

  it('too many segments, total too large, direction mismatch', () => {
    const mapper = new DmaMapper(tr, { mappings: 1, maxSegments: 4, maxTransfer: 8192 });
    const m = mapper.acquire()!;
    const sg = new DmaSgList(8);
    for (let i = 0; i < 5; i++) sg.push(i * 512, 512, DmaAccess.Read);
    expect(mapper.map(sg, DmaAccess.Read, m)).toBe(DmaStatus.TooManySegments);
    sg.reset();
    sg.push(0, 4096, DmaAccess.Read);
    sg.push(8192, 4097, DmaAccess.Read);
    expect(mapper.map(sg, DmaAccess.Read, m)).toBe(DmaStatus.TooLarge);
    sg.reset();
    sg.push(0, 512, DmaAccess.Read);
    sg.push(512, 512, DmaAccess.Write);
    expect(mapper.map(sg, DmaAccess.Read, m)).toBe(DmaStatus.Direction);
    m.release();
    mapper.release();
  });

  it('random garbage never throws (5000 cases)', () => {
    const rng = new Prng(99);
    const mapper = new DmaMapper(tr, { mappings: 1, iovecsPerMapping: 4, bounceBufferSize: 1024 });
    const values = [0, 1, -1, 2 ** 32, 2 ** 32 - 1, 2 ** 53, 2 ** 53 - 1, 2 ** 64, NaN, Infinity, -Infinity, 0.25, MiB - 1, MiB, DEV.gpa, HIGH.gpa - 1];
    for (let c = 0; c < 5000; c++) {
      const sg = new DmaSgList(8);
      for (let i = rng.range(0, 8); i > 0; i--) {
        const a = rng.chance(0.5) ? rng.pick(values) : rng.below(2 ** 33);
        const l = rng.chance(0.5) ? rng.pick(values) : rng.below(2 ** 20);
        sg.push(a, l, rng.chance(0.9) ? DmaAccess.Read : DmaAccess.Write);
      }
      const m = mapper.acquire()!;
      const s = mapper.map(sg, DmaAccess.Read, m);
      if (s === DmaStatus.Ok) {
        let pieces = 0;
        let total = 0;
        let p = m.nextPiece();
        for (; p === DmaStatus.Ok; p = m.nextPiece()) {
          pieces++;
          total += m.pieceLength;
          m.finishPiece(m.pieceLength);
          if (pieces > 1_000_000) throw new Error('no progress');
        }
        if (p === DmaStatus.Done) expect(total).toBe(m.totalLength);
        else expect(p).toBe(DmaStatus.TooFragmented);
      } else {
        expect(s).toBeGreaterThan(DmaStatus.Done);
      }
      m.release();
    }
    mapper.release();
  });
});

describe('DmaMapper: pieces, bounce buffers, pool', () => {
  it('a large bounced range goes out in bounded, aligned pieces', () => {
    const mapper = new DmaMapper(tr, { mappings: 1, bounceBufferSize: 4096 });
    const sg = new DmaSgList(4);
    sg.push(DEV.gpa, DEV.size, DmaAccess.Write); // 64 KiB of device memory through a 4 KiB buffer
    const m = mapper.acquire()!;
    expect(mapper.map(sg, DmaAccess.Write, m)).toBe(DmaStatus.Ok);
    let pieces = 0;
    while (m.nextPiece() === DmaStatus.Ok) {
      expect(m.pieceLength).toBe(4096);
      hostView(m.iov.base(0), 4096).fill(pieces + 1);
      // a short transfer copies back only what was transferred
      expect(m.finishPiece(pieces === 3 ? 100 : 4096)).toBe(DmaStatus.Ok);
      pieces++;
    }
    expect(pieces).toBe(16);
    expect(dev.bytes[0]).toBe(1);
    expect(dev.bytes[3 * 4096 + 99]).toBe(4);
    expect(dev.bytes[3 * 4096 + 100]).not.toBe(4);
    expect(dev.bytes[15 * 4096]).toBe(16);
    m.release();
    mapper.release();
  });

  it('bounce buffers are bounded: BounceBusy, then onBounceAvailable and retry', () => {
    const mapper = new DmaMapper(tr, { mappings: 2, bounceBuffers: 1, bounceBufferSize: 4096 });
    let woken = 0;
    mapper.onBounceAvailable = () => woken++;
    const sg = new DmaSgList(2);
    sg.push(DEV.gpa, 512, DmaAccess.Read);
    const a = mapper.acquire()!;
    const b = mapper.acquire()!;
    expect(mapper.acquire()).toBeNull();
    expect(mapper.map(sg, DmaAccess.Read, a)).toBe(DmaStatus.Ok);
    expect(mapper.map(sg, DmaAccess.Read, b)).toBe(DmaStatus.Ok);
    expect(a.nextPiece()).toBe(DmaStatus.Ok);
    expect(b.nextPiece()).toBe(DmaStatus.BounceBusy);
    a.finishPiece(512);
    a.release();
    expect(woken).toBe(1);
    expect(b.nextPiece()).toBe(DmaStatus.Ok);
    expect(b.pieceBounced).toBe(512);
    b.finishPiece(512);
    expect(b.nextPiece()).toBe(DmaStatus.Done);
    b.release();
    expect(mapper.available).toBe(2);
    mapper.release();
  });

  it('direct bytes go out before a busy bounce buffer blocks', () => {
    const mapper = new DmaMapper(tr, { mappings: 2, bounceBuffers: 1, bounceBufferSize: 4096 });
    const sg = new DmaSgList(2);
    sg.push(DEV.gpa - 1024, 2048, DmaAccess.Read); // 1 KiB RAM then 1 KiB device memory
    const hog = mapper.acquire()!;
    const m = mapper.acquire()!;
    expect(mapper.map(sg, DmaAccess.Read, hog)).toBe(DmaStatus.Ok);
    expect(hog.nextPiece()).toBe(DmaStatus.Ok);
    expect(mapper.map(sg, DmaAccess.Read, m)).toBe(DmaStatus.Ok);
    expect(m.nextPiece()).toBe(DmaStatus.Ok);
    expect(m.pieceLength).toBe(1024);
    expect(m.pieceBounced).toBe(0);
    m.finishPiece(1024);
    expect(m.nextPiece()).toBe(DmaStatus.BounceBusy);
    hog.finishPiece(2048);
    hog.release();
    expect(m.nextPiece()).toBe(DmaStatus.Ok);
    expect(m.pieceOffset).toBe(1024);
    m.finishPiece(1024);
    m.release();
    mapper.release();
  });

  it('refuses a bounce buffer smaller than the piece alignment (its pieces would end off the boundary)', () => {
    expect(() => new DmaMapper(tr, { mappings: 1, bounceBufferSize: 256, pieceAlignment: 512 })).toThrow(/bounce buffer \(256 bytes\) is smaller than the piece alignment \(512\)/);
    new DmaMapper(tr, { mappings: 1, bounceBufferSize: 512, pieceAlignment: 512 }).release();
  });

  it('a busy bounce buffer does not cut a piece short of the first aligned boundary', () => {
    const mapper = new DmaMapper(tr, { mappings: 2, bounceBuffers: 1, bounceBufferSize: 4096, pieceAlignment: 512 });
    const sg = new DmaSgList(2);
    sg.push(DEV.gpa - 256, 1024, DmaAccess.Read); // 256 bytes of RAM, then 768 of device memory
    const hog = mapper.acquire()!;
    const m = mapper.acquire()!;
    expect(mapper.map(sg, DmaAccess.Read, hog)).toBe(DmaStatus.Ok);
    expect(hog.nextPiece()).toBe(DmaStatus.Ok);
    expect(mapper.map(sg, DmaAccess.Read, m)).toBe(DmaStatus.Ok);
    expect(m.nextPiece()).toBe(DmaStatus.BounceBusy); // was: Ok with a 256-byte middle piece
    hog.finishPiece(1024);
    hog.release();
    expect(m.nextPiece()).toBe(DmaStatus.Ok);
    expect(m.pieceOffset).toBe(0);
    expect(m.pieceLength).toBe(1024);
    m.finishPiece(1024);
    expect(m.nextPiece()).toBe(DmaStatus.Done);
    m.release();
    mapper.release();
  });

  it('an aligned block that needs more iovecs than a mapping holds is an error value, not an unaligned piece', () => {
    const mapper = new DmaMapper(tr, { mappings: 1, iovecsPerMapping: 4, pieceAlignment: 512 });
    const sg = new DmaSgList(16);
    for (let i = 0; i < 16; i++) sg.push(i * 8192, 64, DmaAccess.Read); // 8 fragments per 512 bytes
    const m = mapper.acquire()!;
    expect(mapper.map(sg, DmaAccess.Read, m)).toBe(DmaStatus.Ok);
    expect(m.nextPiece()).toBe(DmaStatus.TooFragmented); // was: Ok with a 256-byte middle piece
    expect(m.nextPiece()).toBe(DmaStatus.TooFragmented);
    m.release();
    // fragments that fill an aligned block within the iovecs still go out
    sg.reset();
    for (let i = 0; i < 8; i++) sg.push(i * 8192, 128, DmaAccess.Read);
    const m2 = mapper.acquire()!;
    expect(mapper.map(sg, DmaAccess.Read, m2)).toBe(DmaStatus.Ok);
    expect(m2.nextPiece()).toBe(DmaStatus.Ok);
    expect(m2.pieceLength).toBe(512);
    m2.finishPiece(512);
    expect(m2.nextPiece()).toBe(DmaStatus.Ok);
    expect(m2.pieceLength).toBe(512);
    m2.finishPiece(512);
    expect(m2.nextPiece()).toBe(DmaStatus.Done);
    m2.release();
    mapper.release();
  });

  it('a transfer all in RAM is one piece, its iovecs made as map() checks it; a failed map leaves none behind', () => {
    const mapper = new DmaMapper(tr, { mappings: 1, iovecsPerMapping: 4 });
    const sg = new DmaSgList(8);
    sg.push(R0.gpa + 4096, 4096, DmaAccess.Write);
    sg.push(R0.gpa + 8192, 100, DmaAccess.Write); // contiguous with the first: one iovec
    sg.push(R1.gpa - 50, 100, DmaAccess.Write); // across R0/R1: two iovecs
    const m = mapper.acquire()!;
    expect(mapper.map(sg, DmaAccess.Write, m)).toBe(DmaStatus.Ok);
    expect(m.nextPiece()).toBe(DmaStatus.Ok);
    expect([m.pieceOffset, m.pieceLength, m.pieceBounced, m.iov.count, m.iov.length]).toEqual([0, 4296, 0, 3, 4296]);
    expect(m.iov.len(0)).toBe(4196);
    expect(m.finishPiece(4296)).toBe(DmaStatus.Ok);
    expect(m.nextPiece()).toBe(DmaStatus.Done);
    expect(mapper.stats.directBytes).toBe(4296);
    // the same mapping, a list whose last element faults: an error, no iovecs left in it
    sg.push(64 * MiB, 10, DmaAccess.Write);
    expect(mapper.map(sg, DmaAccess.Write, m)).toBe(DmaStatus.Fault);
    expect(m.iov.count).toBe(0);
    expect(m.nextPiece()).toBe(DmaStatus.InvalidState);
    m.release();
    mapper.release();
  });

  it('a failing slow path is an error value', () => {
    const mapper = new DmaMapper(tr, { mappings: 1 });
    const sg = new DmaSgList(1);
    sg.push(DEV.gpa, 1024, DmaAccess.Read);
    const m = mapper.acquire()!;
    expect(mapper.map(sg, DmaAccess.Read, m)).toBe(DmaStatus.Ok);
    dev.failAt = DEV.gpa + 10;
    expect(m.nextPiece()).toBe(DmaStatus.SlowPathFailed);
    dev.failAt = -1;
    m.release();
    mapper.release();
  });

  it('copyFromGuest / copyToGuest across a region edge, device memory, and faults', () => {
    const mapper = new DmaMapper(tr, { mappings: 1 });
    const src = new Prng(3).fill(new Uint8Array(300));
    expect(mapper.copyToGuest(R1.gpa - 100, src)).toBe(DmaStatus.Ok);
    const back = new Uint8Array(300);
    expect(mapper.copyFromGuest(R1.gpa - 100, back)).toBe(DmaStatus.Ok);
    expect(back).toEqual(src);
    expect(mapper.copyToGuest(DEV.gpa - 10, src.subarray(0, 20))).toBe(DmaStatus.Ok);
    expect(dev.bytes.subarray(0, 10)).toEqual(src.subarray(10, 20));
    expect(mapper.copyFromGuest(DEV.gpa + DEV.size - 1, new Uint8Array(2))).toBe(DmaStatus.Fault);
    expect(mapper.copyFromGuest(-5, new Uint8Array(2))).toBe(DmaStatus.BadAddress);
    expect(mapper.copyFromGuest(2 ** 53 - 1, new Uint8Array(2))).toBe(DmaStatus.Wrap);
    mapper.release();
  });

  it('mappings are pooled: no allocation of iovec memory per request', () => {
    const mapper = new DmaMapper(tr, { mappings: 4 });
    const seen = new Set<number>();
    for (let i = 0; i < 100; i++) {
      const m = mapper.acquire()!;
      seen.add(m.iov.address);
      m.release();
    }
    expect(seen.size).toBe(1);
    mapper.release();
  });
});

describe('DmaMapper over a stacked IOMMU-like remapper', () => {
  it('remaps I/O virtual pages, splits at discontiguities, enforces permissions', () => {
    const iommu = new PageRemapTranslator(tr);
    iommu.map(0x10_0000_0000, 0x3000, 0x2000, DmaAccess.Read | DmaAccess.Write); // iova pages 0,1 → gpa 0x3000,0x4000
    iommu.map(0x10_0000_2000, 0x9000, 0x1000, DmaAccess.Read); // iova page 2 → gpa 0x9000, read-only
    const mapper = new DmaMapper(iommu, { mappings: 1 });
    const m = mapper.acquire()!;
    const sg = new DmaSgList(2);
    sg.push(0x10_0000_0800, 0x2000, DmaAccess.Read);
    expect(mapper.map(sg, DmaAccess.Read, m)).toBe(DmaStatus.Ok);
    expect(m.nextPiece()).toBe(DmaStatus.Ok);
    expect(m.iov.count).toBe(2);
    expect(m.iov.base(0)).toBe(mem.regions[0].hostAddress + 0x3800);
    expect(m.iov.len(0)).toBe(0x1800);
    expect(m.iov.base(1)).toBe(mem.regions[0].hostAddress + 0x9000);
    expect(m.iov.len(1)).toBe(0x800);
    m.finishPiece(0x2000);
    // the read-only page refuses device writes; unmapped pages fault
    sg.reset();
    sg.push(0x10_0000_1000, 0x2000, DmaAccess.Write);
    expect(mapper.map(sg, DmaAccess.Write, m)).toBe(DmaStatus.Fault);
    sg.reset();
    sg.push(0x10_0000_3000, 1, DmaAccess.Read);
    expect(mapper.map(sg, DmaAccess.Read, m)).toBe(DmaStatus.Fault);
    const t: DmaTranslator = iommu;
    const data = new Uint8Array([1, 2, 3, 4]);
    expect(t.writeSlow(0x10_0000_0ffe, data)).toBe(true);
    expect(mem.read(0x3ffe, 4)).toEqual(data);
    m.release();
    mapper.release();
  });
});

describe('DmaMapper with real vectored I/O', () => {
  it('preadv through mapped iovecs fills guest memory directly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-dma-'));
    try {
      const file = join(dir, 'data');
      const content = new Prng(11).fill(new Uint8Array(64 * 1024));
      writeFileSync(file, content);
      const fd = openSync(file, 'r');
      const mapper = new DmaMapper(tr, { mappings: 1, bounceBufferSize: 4096 });
      const sg = new DmaSgList(4);
      sg.push(R1.gpa - 8192, 16384, DmaAccess.Write); // across the R0/R1 edge
      sg.push(DEV.gpa, 8192, DmaAccess.Write); // bounced, in 2 pieces
      sg.push(HIGH.gpa + 512, 4096, DmaAccess.Write);
      const m = mapper.acquire()!;
      expect(mapper.map(sg, DmaAccess.Write, m)).toBe(DmaStatus.Ok);
      while (m.nextPiece() === DmaStatus.Ok) {
        const n = preadv(fd, m.iov.address, m.iov.count, m.pieceOffset) as number;
        expect(n).toBe(m.pieceLength);
        expect(m.finishPiece(n)).toBe(DmaStatus.Ok);
      }
      closeSync(fd);
      expect(mem.read(R1.gpa - 8192, 8192)).toEqual(content.subarray(0, 8192));
      expect(mem.read(R1.gpa, 8192)).toEqual(content.subarray(8192, 16384));
      expect(dev.bytes.subarray(0, 8192)).toEqual(content.subarray(16384, 24576));
      expect(mem.read(HIGH.gpa + 512, 4096)).toEqual(content.subarray(24576, 28672));
      expect(mapper.stats.directBytes).toBe(20480);
      expect(mapper.stats.bouncedBytes).toBe(8192);
      m.release();
      mapper.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
