// Guest RAM for the fuzz targets, with two adjacent regions, a hole and a
// region after it (so ranges can cross a region edge or run into nothing),
// helpers to write driver structures anywhere (silently dropping bytes that
// are not RAM, as a guest's stores there would go elsewhere), and a
// snapshot/compare that proves the code under test wrote no guest byte
// outside the ranges it was allowed to write.
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { InvariantViolation } from './harness.js';

export const RAM_LAYOUT: readonly { gpa: number; size: number }[] = [
  { gpa: 0, size: 0x40000 },
  { gpa: 0x40000, size: 0x40000 }, // adjacent to the first
  { gpa: 0x100000, size: 0x10000 }, // after a hole at 0x80000..0xfffff
];

export interface Range {
  gpa: number;
  size: number;
}

export class GuestRam {
  readonly memory: GuestMemory;
  private readonly saved: Uint8Array[];

  constructor(layout: readonly Range[] = RAM_LAYOUT) {
    this.memory = GuestMemory.allocate(layout);
    this.saved = this.memory.regions.map((r) => new Uint8Array(r.size));
  }

  clear(): void {
    for (const r of this.memory.regions) r.bytes.fill(0);
  }

  /** While true, stores are the driver's: they land in the snapshot too (see checkWritesOnlyIn). */
  driverWrites = false;

  setU8(gpa: number, v: number): void {
    if (!Number.isSafeInteger(gpa) || gpa < 0) return;
    const r = this.memory.regionAt(gpa);
    if (!r) return;
    r.bytes[gpa - r.gpa] = v;
    if (this.driverWrites) this.saved[this.memory.regions.indexOf(r)][gpa - r.gpa] = v;
  }
  setU16(gpa: number, v: number): void {
    for (let i = 0; i < 2; i++) this.setU8(gpa + i, (v >>> (8 * i)) & 0xff);
  }
  setU32(gpa: number, v: number): void {
    for (let i = 0; i < 4; i++) this.setU8(gpa + i, (v >>> (8 * i)) & 0xff);
  }
  setU64(gpa: number, v: bigint): void {
    const u = BigInt.asUintN(64, v);
    this.setU32(gpa, Number(u & 0xffffffffn));
    this.setU32(gpa + 4, Number(u >> 32n));
  }
  getU8(gpa: number): number {
    const r = Number.isSafeInteger(gpa) && gpa >= 0 ? this.memory.regionAt(gpa) : undefined;
    return r ? r.bytes[gpa - r.gpa] : 0;
  }
  getU16(gpa: number): number {
    return this.getU8(gpa) | (this.getU8(gpa + 1) << 8);
  }
  getU32(gpa: number): number {
    return (this.getU16(gpa) | (this.getU16(gpa + 2) << 16)) >>> 0;
  }

  /** [gpa, gpa+len) lies in one region. */
  inRam(gpa: number, len: number): boolean {
    return this.memory.view(gpa, len) !== undefined;
  }

  /** [gpa, gpa+len) is all RAM, possibly across adjacent regions. */
  inRamAcross(gpa: number, len: number): boolean {
    if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(len) || gpa < 0 || len < 0) return false;
    let a = gpa;
    let left = len;
    while (left > 0) {
      const r = this.memory.regionAt(a);
      if (!r) return false;
      const n = Math.min(left, r.gpa + r.size - a);
      a += n;
      left -= n;
    }
    return true;
  }

  /** Host address → guest-physical address, if it lies in guest RAM (with len bytes in the same region). */
  gpaOfHost(host: number, len: number): number | undefined {
    for (const r of this.memory.regions) {
      if (host >= r.hostAddress && host < r.hostAddress + r.size) return host + len <= r.hostAddress + r.size ? r.gpa + (host - r.hostAddress) : undefined;
    }
    return undefined;
  }

  /** The bytes of [gpa, gpa+len) inside one region (for the fake backends). */
  view(gpa: number, len: number): Uint8Array | undefined {
    return this.memory.view(gpa, len);
  }

  /** A driver store after snapshot(): lands in RAM and in the snapshot (it is not the device's write). */
  driverSetU16(gpa: number, v: number): void {
    this.driverWrites = true;
    this.setU16(gpa, v);
    this.driverWrites = false;
  }

  /** A driver clearing [gpa, gpa+len) after snapshot(). */
  clearRange(gpa: number, len: number): void {
    for (let i = 0; i < len; i += 2) this.driverSetU16(gpa + i, 0);
  }

  /** Remembers the current contents (what the driver wrote). */
  snapshot(): void {
    this.memory.regions.forEach((r, i) => this.saved[i].set(r.bytes));
  }

  /** Throws unless every byte changed since snapshot() lies in `allowed`. */
  checkWritesOnlyIn(allowed: readonly Range[], who: string): void {
    const sorted = allowed.filter((a) => a.size > 0 && Number.isFinite(a.gpa)).sort((a, b) => a.gpa - b.gpa);
    this.memory.regions.forEach((r, ri) => {
      const now = r.bytes;
      const was = this.saved[ri];
      let pos = 0; // offset in region
      const compareUpTo = (end: number) => {
        if (end <= pos) return;
        if (Buffer.compare(now.subarray(pos, end), was.subarray(pos, end)) !== 0) {
          let i = pos;
          while (now[i] === was[i]) i++;
          throw new InvariantViolation(`${who} wrote guest byte ${hexa(r.gpa + i)} (0x${was[i].toString(16)} -> 0x${now[i].toString(16)}), outside every range it may write (${sorted.map((a) => `${hexa(a.gpa)}+${a.size}`).join(', ') || 'none'})`);
        }
      };
      for (const a of sorted) {
        const lo = Math.max(0, a.gpa - r.gpa);
        const hi = Math.min(r.size, a.gpa + a.size - r.gpa);
        if (hi <= lo) continue;
        compareUpTo(lo);
        pos = Math.max(pos, hi);
      }
      compareUpTo(r.size);
    });
  }

  release(): void {
    this.memory.release();
  }
}

function hexa(n: number): string {
  return `0x${n.toString(16)}`;
}
