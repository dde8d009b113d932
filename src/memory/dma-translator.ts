// Pluggable DMA address translation: (bus address, length, access) → the
// longest prefix that is one contiguous run of host memory (zero-copy), or a
// run that must be bounced through the slow path (device memory, emulated
// ranges), or a fault. Translators stack: an IOMMU-like remapper turns I/O
// virtual addresses into guest-physical ones and hands them to the translator
// below it, GuestMemory at the bottom.
//
// The hot path allocates nothing: results go into a caller-owned DmaSpan.
import type { GuestMemory, RamRegion } from './guest-memory.js';

/** Which way the data flows, seen from guest memory. */
export enum DmaAccess {
  /** The device reads guest memory (e.g. a disk write). */
  Read = 1,
  /** The device writes guest memory (e.g. a disk read). */
  Write = 2,
}

export enum SpanKind {
  /** `host`/`bytes` address `length` bytes of host memory aliasing the guest range. */
  Direct = 0,
  /** `length` bytes must go through `readSlow`/`writeSlow`. */
  Bounce = 1,
  /** Not accessible (not mapped, permission denied, out of range). */
  Fault = 2,
}

/** A caller-owned result slot, reused across calls. */
export class DmaSpan {
  kind: SpanKind = SpanKind.Fault;
  /** Host virtual address (Direct). */
  host = 0;
  /** Number of bytes of the request this span covers (> 0 unless Fault). */
  length = 0;
  /** A zero-copy view holding the span at `offset` (Direct), or null when only the address is known. */
  bytes: Uint8Array | null = null;
  offset = 0;
}

export interface DmaTranslator {
  /**
   * Translates the longest prefix of [addr, addr+length) that is one run of
   * one kind. `addr`/`length` are integers ≥ 0 with addr+length ≤ 2^53 (the
   * mapper checks that before calling). Never throws.
   */
  translate(addr: number, length: number, access: DmaAccess, out: DmaSpan): SpanKind;
  /** Copies guest data at `addr` into `dst` through the slow path; false on fault. */
  readSlow(addr: number, dst: Uint8Array): boolean;
  /** Copies `src` into guest memory at `addr` through the slow path; false on fault. */
  writeSlow(addr: number, src: Uint8Array): boolean;
}

/** Something that serves guest-physical ranges that are not RAM (an MMIO bus, a ROM). */
export interface DmaSlowPath {
  /** Bytes at `addr` (up to `length`) this path can serve in one run, 0 if none. */
  claims(addr: number, length: number, access: DmaAccess): number;
  read(addr: number, dst: Uint8Array): boolean;
  write(addr: number, src: Uint8Array): boolean;
}

/**
 * The base translator: RAM regions of a GuestMemory are Direct, anything a
 * slow path claims is Bounce, the rest faults. A range that crosses from one
 * RAM region into an adjacent one is returned as two Direct spans (two iovecs,
 * still zero copy), not bounced.
 */
export class GuestMemoryTranslator implements DmaTranslator {
  constructor(
    readonly memory: GuestMemory,
    private readonly slowPath: DmaSlowPath | null = null,
  ) {}

  translate(addr: number, length: number, access: DmaAccess, out: DmaSpan): SpanKind {
    const r: RamRegion | undefined = this.memory.regionAt(addr);
    if (r !== undefined) {
      const off = addr - r.gpa;
      const avail = r.size - off;
      out.kind = SpanKind.Direct;
      out.host = r.hostAddress + off;
      out.length = length < avail ? length : avail;
      out.bytes = r.bytes;
      out.offset = off;
      r.firstTouch?.prepare(off, out.length);
      return SpanKind.Direct;
    }
    out.bytes = null;
    out.host = 0;
    if (this.slowPath !== null) {
      let n = this.slowPath.claims(addr, length, access);
      if (n > 0) {
        // Never let a slow-path run swallow RAM that starts inside it.
        const next = this.nextRegionStart(addr);
        if (next !== undefined && next - addr < n) n = next - addr;
        out.kind = SpanKind.Bounce;
        out.length = n < length ? n : length;
        return SpanKind.Bounce;
      }
    }
    out.kind = SpanKind.Fault;
    out.length = 0;
    return SpanKind.Fault;
  }

  readSlow(addr: number, dst: Uint8Array): boolean {
    const v = this.memory.view(addr, dst.length);
    if (v !== undefined) {
      dst.set(v);
      return true;
    }
    if (this.slowPath === null || this.slowPath.claims(addr, dst.length, DmaAccess.Read) < dst.length) return false;
    return this.slowPath.read(addr, dst);
  }

  writeSlow(addr: number, src: Uint8Array): boolean {
    const v = this.memory.view(addr, src.length);
    if (v !== undefined) {
      v.set(src);
      return true;
    }
    if (this.slowPath === null || this.slowPath.claims(addr, src.length, DmaAccess.Write) < src.length) return false;
    return this.slowPath.write(addr, src);
  }

  private nextRegionStart(addr: number): number | undefined {
    for (const r of this.memory.regions) if (r.gpa > addr) return r.gpa;
    return undefined;
  }
}

/**
 * Forces every Direct span of the translator below to be bounced. For tests
 * (the bounce path must give the same bytes as the direct one) and for
 * debugging a device suspected of keeping pointers into guest RAM.
 */
export class BounceAllTranslator implements DmaTranslator {
  constructor(private readonly below: DmaTranslator) {}

  translate(addr: number, length: number, access: DmaAccess, out: DmaSpan): SpanKind {
    const k = this.below.translate(addr, length, access, out);
    if (k === SpanKind.Direct) {
      out.kind = SpanKind.Bounce;
      out.bytes = null;
      out.host = 0;
      return SpanKind.Bounce;
    }
    return k;
  }
  readSlow(addr: number, dst: Uint8Array): boolean {
    return this.below.readSlow(addr, dst);
  }
  writeSlow(addr: number, src: Uint8Array): boolean {
    return this.below.writeSlow(addr, src);
  }
}

const PAGE_SHIFT = 12;
const PAGE_SIZE = 1 << PAGE_SHIFT;

/**
 * An IOMMU-like remapper: I/O virtual pages map to guest-physical pages with
 * read/write permission. Unmapped pages and permission violations fault.
 * Contiguous runs of pages that map to contiguous guest pages are one span.
 */
export class PageRemapTranslator implements DmaTranslator {
  /** iova page number → (gpa page number, permission bits) */
  private readonly pages = new Map<number, { gpaPage: number; perm: number }>();

  constructor(private readonly below: DmaTranslator) {}

  /** Maps [iova, iova+size) to [gpa, gpa+size); page aligned. perm: DmaAccess bits. */
  map(iova: number, gpa: number, size: number, perm: number): void {
    if (iova % PAGE_SIZE || gpa % PAGE_SIZE || size % PAGE_SIZE || size <= 0) throw new RangeError('remap ranges must be page aligned');
    for (let i = 0; i < size / PAGE_SIZE; i++) this.pages.set(iova / PAGE_SIZE + i, { gpaPage: gpa / PAGE_SIZE + i, perm });
  }

  unmap(iova: number, size: number): void {
    for (let i = 0; i < size / PAGE_SIZE; i++) this.pages.delete(iova / PAGE_SIZE + i);
  }

  /** Guest-physical address and contiguous length for `iova`, or -1 when unmapped/forbidden. */
  private resolve(iova: number, length: number, access: DmaAccess, outLen: { n: number }): number {
    let page = Math.floor(iova / PAGE_SIZE);
    const first = this.pages.get(page);
    if (first === undefined || (first.perm & access) !== access) return -1;
    const inPage = iova - page * PAGE_SIZE;
    const gpa = first.gpaPage * PAGE_SIZE + inPage;
    let n = PAGE_SIZE - inPage;
    let expect = first.gpaPage + 1;
    while (n < length) {
      page++;
      const e = this.pages.get(page);
      if (e === undefined || e.gpaPage !== expect || (e.perm & access) !== access) break;
      n += PAGE_SIZE;
      expect++;
    }
    outLen.n = n < length ? n : length;
    return gpa;
  }

  private readonly tmp = { n: 0 };

  translate(addr: number, length: number, access: DmaAccess, out: DmaSpan): SpanKind {
    const gpa = this.resolve(addr, length, access, this.tmp);
    if (gpa < 0) {
      out.kind = SpanKind.Fault;
      out.length = 0;
      out.bytes = null;
      return SpanKind.Fault;
    }
    return this.below.translate(gpa, this.tmp.n, access, out);
  }

  readSlow(addr: number, dst: Uint8Array): boolean {
    return this.copySlow(addr, dst, DmaAccess.Read);
  }

  writeSlow(addr: number, src: Uint8Array): boolean {
    return this.copySlow(addr, src, DmaAccess.Write);
  }

  private copySlow(addr: number, buf: Uint8Array, access: DmaAccess): boolean {
    let done = 0;
    while (done < buf.length) {
      const gpa = this.resolve(addr + done, buf.length - done, access, this.tmp);
      if (gpa < 0) return false;
      const part = buf.subarray(done, done + this.tmp.n);
      const ok = access === DmaAccess.Read ? this.below.readSlow(gpa, part) : this.below.writeSlow(gpa, part);
      if (!ok) return false;
      done += part.length;
    }
    return true;
  }
}
