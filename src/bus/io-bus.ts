// An address space (port I/O or MMIO) of non-overlapping device ranges.
// Lookup is a binary search over ranges sorted by base: O(log n) per exit.
import type { BusDevice } from './device.js';

export interface BusRange {
  readonly base: number;
  readonly size: number;
  readonly device: BusDevice;
}

export class BusError extends Error {
  override name = 'BusError';
}

export class IoBus {
  private ranges: BusRange[] = [];
  /** Accesses that hit no device (reads return all ones, writes are dropped). */
  unclaimedAccesses = 0;

  constructor(readonly name: string) {}

  add(base: number, size: number, device: BusDevice): void {
    if (!(size > 0) || base < 0 || !Number.isSafeInteger(base + size))
      throw new BusError(`${this.name}: bad range for ${device.name}: base ${base.toString(16)} size ${size}`);
    for (const r of this.ranges)
      if (base < r.base + r.size && r.base < base + size)
        throw new BusError(`${this.name}: ${device.name} at 0x${base.toString(16)} overlaps ${r.device.name} at 0x${r.base.toString(16)}`);
    this.ranges.push({ base, size, device });
    this.ranges.sort((a, b) => a.base - b.base);
  }

  remove(device: BusDevice): void {
    this.ranges = this.ranges.filter((r) => r.device !== device);
  }

  find(addr: number): BusRange | undefined {
    const ranges = this.ranges;
    let lo = 0;
    let hi = ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = ranges[mid];
      if (addr < r.base) hi = mid - 1;
      else if (addr >= r.base + r.size) lo = mid + 1;
      else return r;
    }
    return undefined;
  }

  /** Dispatches a read; returns the device that served it (for statistics). */
  read(addr: number, data: Uint8Array): BusDevice | undefined {
    const r = this.find(addr);
    if (!r) {
      data.fill(0xff);
      this.unclaimedAccesses++;
      return undefined;
    }
    r.device.read(addr - r.base, data);
    return r.device;
  }

  write(addr: number, data: Uint8Array): BusDevice | undefined {
    const r = this.find(addr);
    if (!r) {
      this.unclaimedAccesses++;
      return undefined;
    }
    r.device.write(addr - r.base, data);
    return r.device;
  }

  get devices(): readonly BusRange[] {
    return this.ranges;
  }
}
