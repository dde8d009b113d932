// Fuzz target: the DMA mapper (src/memory/dma-mapper.ts). Random and hostile
// scatter/gather lists (NaN, negative, fractional, past 2^53 and 2^64,
// across region edges, into holes and slow-path device memory) under random
// mapper options, several mappings in flight, short transfers and early
// releases; plus copyToGuest/copyFromGuest at random addresses.
// Invariants: nothing throws; every status is a DmaStatus; a list map()
// accepts is entirely translatable; pieces are contiguous, within the iovec
// and bounce limits, aligned except the last; a direct iovec aliases exactly
// the guest bytes the list names, the device-reads-memory data seen through
// the iovecs equals guest memory, and data written through the iovecs lands
// where the list says; the piece loop terminates; and no guest byte outside
// the list's ranges changes.
import { DmaMapper, type DmaMapping } from '../../src/memory/dma-mapper.js';
import { DmaSgList } from '../../src/memory/dma-sg-list.js';
import { DmaStatus } from '../../src/memory/dma-status.js';
import { DmaAccess, GuestMemoryTranslator, type DmaSlowPath } from '../../src/memory/dma-translator.js';
import { hostView } from '../../test/memory/dma-test-support.js';
import { check, show, type FuzzTarget, type Prng } from './harness.js';
import { GuestRam, RAM_LAYOUT, type Range } from './guest-ram.js';

/** Device memory served through the slow path, right after the second region's hole starts. */
const DEV = { gpa: 0x80000, size: 0x8000 };

class FakeDeviceMemory implements DmaSlowPath {
  readonly bytes = new Uint8Array(DEV.size);
  failAt = -1;
  claims(addr: number, length: number): number {
    if (addr < DEV.gpa || addr >= DEV.gpa + DEV.size) return 0;
    return Math.min(length, DEV.gpa + DEV.size - addr);
  }
  read(addr: number, dst: Uint8Array): boolean {
    if (this.failAt >= addr && this.failAt < addr + dst.length) return false;
    dst.set(this.bytes.subarray(addr - DEV.gpa, addr - DEV.gpa + dst.length));
    return true;
  }
  write(addr: number, src: Uint8Array): boolean {
    if (this.failAt >= addr && this.failAt < addr + src.length) return false;
    this.bytes.set(src, addr - DEV.gpa);
    return true;
  }
}

interface Options {
  iovecsPerMapping: number;
  bounceBufferSize: number;
  pieceAlignment: number;
  bounceBuffers: number;
  maxSegments: number;
  maxTransfer: number;
}

interface Transfer {
  access: DmaAccess;
  segs: { addr: number; len: number; access: DmaAccess }[];
  /** Fraction of each piece the "I/O" transfers (1 = all). */
  shortAt: number;
  /** Release after this many pieces (-1: run to the end). */
  releaseAfter: number;
}

interface DmaInput {
  options: Options;
  transfers: Transfer[];
  copies: { to: boolean; addr: number; len: number }[];
  failAt: number;
  fill: number;
}

const HOSTILE = [NaN, -1, -0.5, 0.5, Infinity, -Infinity, 2 ** 53, 2 ** 53 - 1, 2 ** 53 - 8, 2 ** 64, 2 ** 64 - 1, 2 ** 32, 2 ** 32 - 1, 2 ** 63];

function randomAddr(rng: Prng): number {
  switch (rng.below(10)) {
    case 0:
      return rng.pick(HOSTILE);
    case 1:
      return DEV.gpa + rng.below(DEV.size + 64) - 32;
    case 2: {
      const r = rng.pick(RAM_LAYOUT);
      return r.gpa + r.size - rng.below(4096);
    }
    case 3:
      return rng.below(2 ** 33);
    default: {
      const r = rng.pick(RAM_LAYOUT);
      return r.gpa + rng.below(r.size);
    }
  }
}

function randomLen(rng: Prng): number {
  switch (rng.below(8)) {
    case 0:
      return rng.pick(HOSTILE);
    case 1:
      return 0;
    case 2:
      return 512 * rng.range(1, 16);
    case 3:
      return rng.range(1, 64);
    default:
      return rng.below(40000);
  }
}

export class DmaMapperTarget implements FuzzTarget<DmaInput> {
  readonly name = 'dma-mapper';
  readonly description = 'DMA mapper: hostile scatter/gather lists, pieces, bounce buffers, guest copies';
  private readonly ram = new GuestRam();
  private readonly dev = new FakeDeviceMemory();
  private readonly translator = new GuestMemoryTranslator(this.ram.memory, this.dev);

  generate(rng: Prng): DmaInput {
    const pieceAlignment = rng.pick([1, 512, 512, 4096]);
    const options: Options = {
      iovecsPerMapping: rng.pick([1, 2, 3, 8, 64, 256]),
      bounceBufferSize: rng.pick([512, 1024, 4096, 65536].filter((b) => b >= pieceAlignment)),
      pieceAlignment,
      bounceBuffers: rng.pick([1, 2, 4]),
      maxSegments: rng.pick([4, 16, 1024]),
      maxTransfer: rng.pick([8192, 1 << 20, 64 << 20]),
    };
    const transfers: Transfer[] = [];
    for (let t = rng.range(1, 3); t > 0; t--) {
      const access = rng.chance(0.5) ? DmaAccess.Read : DmaAccess.Write;
      const segs = Array.from({ length: rng.range(0, 10) }, () => ({ addr: randomAddr(rng), len: randomLen(rng), access: rng.chance(0.97) ? access : (3 - access) as DmaAccess }));
      transfers.push({ access, segs, shortAt: rng.chance(0.8) ? 1 : rng.below(1000) / 1000, releaseAfter: rng.chance(0.85) ? -1 : rng.below(4) });
    }
    const copies = Array.from({ length: rng.range(0, 4) }, () => ({ to: rng.chance(0.5), addr: randomAddr(rng), len: rng.chance(0.9) ? rng.below(9000) : rng.below(1 << 20) }));
    return { options, transfers, copies, failAt: rng.chance(0.1) ? DEV.gpa + rng.below(DEV.size) : -1, fill: rng.u32() };
  }

  describe(input: DmaInput): string {
    return show(input);
  }

  execute(input: DmaInput): void {
    const mapper = new DmaMapper(this.translator, { mappings: 4, ...input.options });
    try {
      this.run(input, mapper);
    } finally {
      mapper.release();
    }
  }

  private run(input: DmaInput, mapper: DmaMapper): void {
    const ram = this.ram;
    // guest memory and device memory get a recognisable pattern
    let x = input.fill | 1;
    for (const r of ram.memory.regions) for (let i = 0; i < r.size; i += 4096) r.bytes[i] = x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    this.dev.bytes.fill(x & 0xff);
    this.dev.failAt = input.failAt;
    ram.snapshot();
    const allowed: Range[] = [];
    // Start every transfer (several in flight share the bounce buffers), then run them in turn.
    const live: { m: DmaMapping; t: Transfer; sg: DmaSgList }[] = [];
    for (const t of input.transfers) {
      const m = mapper.acquire();
      check(m !== null, 'the pool ran dry with at most 3 mappings in use');
      const sg = new DmaSgList(16);
      for (const s of t.segs) sg.push(s.addr, s.len, s.access);
      const s = mapper.map(sg, t.access, m);
      check(s in DmaStatus, `map() returned ${s}`);
      if (s !== DmaStatus.Ok) {
        check(s > DmaStatus.Done, `map() refused with ${DmaStatus[s]}`);
        check(m.nextPiece() === DmaStatus.InvalidState, 'a refused list hands out a piece');
        m.release();
        continue;
      }
      // the whole list is valid guest memory: integers, in RAM or device memory, one direction
      for (const seg of t.segs) {
        // an empty element touches nothing, wherever it points (documented in validate())
        check(Number.isSafeInteger(seg.len) && seg.len >= 0 && (seg.len === 0 || (Number.isSafeInteger(seg.addr) && seg.addr >= 0)), `map() accepted segment ${seg.addr}+${seg.len}`);
        check(seg.access === t.access, 'map() accepted a segment of the other direction');
        check(seg.len === 0 || this.translatable(seg.addr, seg.len), `map() accepted ${seg.addr}+${seg.len}, which is not all RAM or device memory`);
        if (t.access === DmaAccess.Write) allowed.push({ gpa: seg.addr, size: seg.len });
      }
      live.push({ m, t, sg });
    }
    // Run them interleaved: one piece of each in turn.
    const state = live.map(() => ({ offset: 0, pieces: 0, done: false }));
    for (let round = 0; state.some((s) => !s.done); round++) {
      check(round < 100_000, 'the piece loop does not terminate');
      live.forEach(({ m, t, sg }, i) => {
        const st = state[i];
        if (st.done) return;
        if (t.releaseAfter >= 0 && st.pieces >= t.releaseAfter) {
          m.release();
          st.done = true;
          return;
        }
        const s = m.nextPiece();
        if (s === DmaStatus.BounceBusy) {
          // only while another live transfer may hold a bounce buffer
          check(state.some((o, j) => j !== i && !o.done), 'BounceBusy with no other transfer in flight');
          return;
        }
        if (s !== DmaStatus.Ok) {
          check(s === DmaStatus.Done || s === DmaStatus.TooFragmented || s === DmaStatus.SlowPathFailed, `nextPiece() returned ${DmaStatus[s] ?? s}`);
          if (s === DmaStatus.Done) check(st.offset === m.totalLength, `Done after ${st.offset} of ${m.totalLength} bytes`);
          if (s === DmaStatus.SlowPathFailed) check(this.dev.failAt >= 0, 'SlowPathFailed without a failing slow path');
          m.release();
          st.done = true;
          return;
        }
        this.checkPiece(m, sg, input.options, st.offset);
        const n = t.shortAt === 1 ? m.pieceLength : Math.floor(m.pieceLength * t.shortAt);
        if (t.access === DmaAccess.Write) this.writeThrough(m, n, input.fill + st.pieces);
        const f = m.finishPiece(n);
        check(f === DmaStatus.Ok || (f === DmaStatus.SlowPathFailed && this.dev.failAt >= 0), `finishPiece() returned ${DmaStatus[f] ?? f}`);
        st.offset += m.pieceLength;
        st.pieces++;
        if (n < m.pieceLength || f !== DmaStatus.Ok) {
          m.release(); // a short transfer ends the request
          st.done = true;
        }
      });
    }
    for (const c of input.copies) {
      const buf = new Uint8Array(Math.max(0, Math.min(c.len, 1 << 20))).fill(0xa5);
      const s = c.to ? mapper.copyToGuest(c.addr, buf) : mapper.copyFromGuest(c.addr, buf);
      check(s in DmaStatus, `copy returned ${s}`);
      if (s === DmaStatus.Ok) check(buf.length === 0 || this.translatable(c.addr, buf.length), `copy accepted ${c.addr}+${buf.length}`);
      if (c.to && s !== DmaStatus.BadAddress) allowed.push({ gpa: c.addr, size: buf.length });
    }
    check(mapper.available === 4, `${4 - mapper.available} mappings not returned to the pool`);
    ram.checkWritesOnlyIn(allowed, 'the DMA mapper');
  }

  /** Every byte of [addr, addr+len) is RAM or device memory. */
  private translatable(addr: number, len: number): boolean {
    let a = addr;
    let left = len;
    while (left > 0) {
      if (a >= DEV.gpa && a < DEV.gpa + DEV.size) {
        const n = Math.min(left, DEV.gpa + DEV.size - a);
        a += n;
        left -= n;
        continue;
      }
      const r = this.ram.memory.regionAt(a);
      if (!r) return false;
      const n = Math.min(left, r.gpa + r.size - a);
      a += n;
      left -= n;
    }
    return true;
  }

  private checkPiece(m: DmaMapping, sg: DmaSgList, o: Options, expectedOffset: number): void {
    check(m.pieceOffset === expectedOffset, `piece at ${m.pieceOffset}, expected ${expectedOffset}`);
    check(m.pieceLength > 0, 'an empty piece');
    check(m.iov.count > 0 && m.iov.count <= o.iovecsPerMapping, `${m.iov.count} iovecs, capacity ${o.iovecsPerMapping}`);
    check(m.pieceBounced <= o.bounceBufferSize, 'more bounced bytes than a bounce buffer holds');
    if (m.pieceOffset + m.pieceLength < m.totalLength) check(m.pieceLength % o.pieceAlignment === 0, `non-final piece of ${m.pieceLength} bytes, alignment ${o.pieceAlignment}`);
    let pos = m.pieceOffset;
    let total = 0;
    let outside = 0;
    for (let i = 0; i < m.iov.count; i++) {
      const base = m.iov.base(i);
      const len = m.iov.len(i);
      total += len;
      const gpa = this.ram.gpaOfHost(base, len);
      if (gpa !== undefined) {
        check(gpa === gpaAt(sg, pos), `direct iovec ${i} aliases guest ${gpa}, the list says ${gpaAt(sg, pos)}`);
        if (m.access === DmaAccess.Read) {
          const want = this.ram.view(gpa, len)!;
          check(Buffer.compare(hostView(base, len), want) === 0, 'iovec bytes differ from guest memory');
        }
      } else {
        check(!this.overlapsRam(base, len), `iovec ${i} straddles guest RAM and other host memory`);
        outside += len;
      }
      pos += len;
    }
    check(total === m.pieceLength && m.iov.length === m.pieceLength, 'iovec lengths do not add up to the piece');
    check(outside <= m.pieceBounced, `${outside} bytes of iovecs outside guest RAM, only ${m.pieceBounced} bounced`);
  }

  private overlapsRam(host: number, len: number): boolean {
    return this.ram.memory.regions.some((r) => host < r.hostAddress + r.size && r.hostAddress < host + len);
  }

  private writeThrough(m: DmaMapping, n: number, seed: number): void {
    let left = n;
    for (let i = 0; i < m.iov.count && left > 0; i++) {
      const len = Math.min(m.iov.len(i), left);
      hostView(m.iov.base(i), len).fill((seed + i) & 0xff);
      left -= len;
    }
  }

  close(): void {
    this.ram.release();
  }
}

/** Guest address of byte `pos` of the transfer `sg`. */
function gpaAt(sg: DmaSgList, pos: number): number {
  for (let i = 0; i < sg.count; i++) {
    if (pos < sg.len[i]) return sg.addr[i] + pos;
    pos -= sg.len[i];
  }
  return NaN;
}
