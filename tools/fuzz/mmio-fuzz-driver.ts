// What the virtio fuzz targets' hostile drivers share: register writes to a
// virtio-mmio transport, Linux's probe sequence with the features an input
// chose, queue set-up at fixed ring addresses, and the device-writable
// ranges a queue's descriptor tables name (what the device may write).
import { VIRTIO_STATUS, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../../src/devices/virtio/virtio-constants.js';
import { VIRTIO_MMIO, type VirtioMmioTransport } from '../../src/devices/virtio/virtio-mmio.js';
import type { GuestRam, Range } from './guest-ram.js';
import type { Prng } from './harness.js';

/** Where a queue's rings sit, and its area of indirect tables (8 tables of 64 descriptors). */
export interface QueueRings {
  desc: number;
  avail: number;
  used: number;
  indirect: number;
}

const reg = new Uint8Array(4);

export function write32(t: VirtioMmioTransport, offset: number, v: number): void {
  reg[0] = v & 0xff;
  reg[1] = (v >>> 8) & 0xff;
  reg[2] = (v >>> 16) & 0xff;
  reg[3] = (v >>> 24) & 0xff;
  t.write(offset, reg);
}

/** Reset, ACKNOWLEDGE, DRIVER, `features`, FEATURES_OK, each queue at `rings[i]` with `sizes[i]` entries, DRIVER_OK. */
export function initDevice(t: VirtioMmioTransport, features: bigint, rings: readonly QueueRings[], sizes: readonly number[]): void {
  const S = VIRTIO_STATUS;
  const R = VIRTIO_MMIO;
  write32(t, R.STATUS, 0);
  write32(t, R.STATUS, S.ACKNOWLEDGE);
  write32(t, R.STATUS, S.ACKNOWLEDGE | S.DRIVER);
  write32(t, R.DRIVER_FEATURES_SEL, 0);
  write32(t, R.DRIVER_FEATURES, Number(features & 0xffffffffn));
  write32(t, R.DRIVER_FEATURES_SEL, 1);
  write32(t, R.DRIVER_FEATURES, Number(features >> 32n));
  write32(t, R.STATUS, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
  rings.forEach((r, i) => setupQueue(t, i, r, sizes[i]));
  write32(t, R.STATUS, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
}

export function setupQueue(t: VirtioMmioTransport, index: number, rings: QueueRings, size: number): void {
  const R = VIRTIO_MMIO;
  write32(t, R.QUEUE_SEL, index);
  write32(t, R.QUEUE_NUM, size);
  write32(t, R.QUEUE_DESC_LOW, rings.desc);
  write32(t, R.QUEUE_DESC_HIGH, 0);
  write32(t, R.QUEUE_DRIVER_LOW, rings.avail);
  write32(t, R.QUEUE_DRIVER_HIGH, 0);
  write32(t, R.QUEUE_DEVICE_LOW, rings.used);
  write32(t, R.QUEUE_DEVICE_HIGH, 0);
  write32(t, R.QUEUE_READY, 1);
}

/** [gpa, gpa+len) lies inside the union of `ranges` (which may overlap). */
export function covered(ranges: readonly Range[], gpa: number, len: number): boolean {
  let at = gpa;
  const end = gpa + len;
  while (at < end) {
    let next = at;
    for (const r of ranges) if (r.gpa <= at && r.gpa + r.size > next) next = r.gpa + r.size;
    if (next === at) return false;
    at = next;
  }
  return true;
}

/**
 * Adds every device-writable buffer in a queue's tables to `into`: the main
 * table (`tableSize` entries), its indirect area, and any table an INDIRECT
 * descriptor points at (a mutated flag can make a data buffer a table).
 */
export function scanWritable(ram: GuestRam, rings: QueueRings, tableSize: number, into: Range[]): void {
  const scan = (base: number, n: number, follow: boolean) => {
    const v = ram.view(base, 16 * n);
    const dv = v ? new DataView(v.buffer, v.byteOffset, v.byteLength) : null;
    for (let i = 0; i < n; i++) {
      const at = base + 16 * i;
      const flags = dv ? dv.getUint16(16 * i + 12, true) : ram.getU16(at + 12);
      const addr = dv ? dv.getUint32(16 * i, true) + dv.getUint32(16 * i + 4, true) * 2 ** 32 : ram.getU32(at) + ram.getU32(at + 4) * 2 ** 32;
      const len = dv ? dv.getUint32(16 * i + 8, true) : ram.getU32(at + 8);
      if (flags & VIRTQ_DESC_F_INDIRECT && follow && ram.inRamAcross(addr, len)) scan(addr, Math.min(Math.floor(len / 16), 1024), false);
      if (flags & VIRTQ_DESC_F_WRITE && len > 0) into.push({ gpa: addr, size: len });
    }
  };
  scan(rings.desc, tableSize, true);
  scan(rings.indirect, 8 * 64, true);
}

/** A descriptor as the driver means it, before it is written: `xor` flips flag bits, `next` overrides the link. */
export interface FuzzDescriptor {
  addr: number | bigint;
  len: number;
  flags: number;
  xor: number;
  next?: number;
}

/** A hostile change to one descriptor of a chain. */
export interface DescriptorMutation {
  /** Which descriptor of the chain (modulo its length). */
  at: number;
  field: 'addr' | 'len' | 'flags' | 'next';
  value: number | bigint;
}

/** Where a hostile descriptor points, in the fuzz targets' RAM layout (guest-ram.ts); `buffers`: the driver's own data area. */
export function hostileAddress(rng: Prng, buffers: number): number | bigint {
  return rng.pick<() => number | bigint>([
    () => 0x80000 - rng.below(1024), // runs from RAM into the hole
    () => 0x80000 + rng.below(0x80000), // the hole
    () => 0x110000 - rng.below(600), // the end of the last region
    () => 0x3fff0 + rng.below(32), // across two adjacent regions (still RAM)
    () => 2 ** 40 + rng.below(1000),
    () => (1n << 64n) - BigInt(rng.range(1, 4096)),
    () => buffers + rng.below(0x20000),
  ])();
}

/** None, or one to three hostile changes to a chain's descriptors; `lengths`: the lengths worth trying on this device. */
export function hostileMutations(rng: Prng, o: { lengths: readonly number[]; queueSize: number; buffers: number }): DescriptorMutation[] {
  const out: DescriptorMutation[] = [];
  for (let n = rng.chance(0.5) ? 0 : rng.range(1, 3); n > 0; n--) {
    const field = rng.pick(['addr', 'len', 'flags', 'next'] as const);
    const value =
      field === 'addr'
        ? hostileAddress(rng, o.buffers)
        : field === 'len'
          ? rng.pick([...o.lengths, 0xffffffff, 0x80000000, rng.below(70000)])
          : field === 'flags'
            ? rng.chance(0.8) ? 1 << rng.below(3) : rng.below(0x10000) // xor
            : rng.chance(0.8) ? rng.below(o.queueSize) : rng.below(0x10000);
    out.push({ at: rng.below(64), field, value });
  }
  return out;
}

export function applyMutations(descs: FuzzDescriptor[], mutations: readonly DescriptorMutation[]): void {
  for (const m of mutations) {
    const d = descs[m.at % descs.length];
    if (m.field === 'addr') d.addr = m.value;
    else if (m.field === 'len') d.len = Number(m.value);
    else if (m.field === 'flags') d.xor ^= Number(m.value);
    else d.next = Number(m.value);
  }
}

/** Writes chains into one queue's descriptor table (or an indirect table) and publishes them in its avail ring. */
export class ChainPoster {
  private nextDesc = 0;
  private availIdx = 0;
  private indirectNext = 0;

  constructor(
    private readonly ram: GuestRam,
    private readonly rings: QueueRings,
    /** The table's capacity in the driver's memory map. */
    private readonly maxSize: number,
    /** Buffers below this address (the driver's own tables and rings) are moved here: the device may write them. */
    private readonly firstBuffer: number,
  ) {}

  /** Starts over (a new queue): the next chain goes to descriptor 0 and avail index 0. */
  reset(): void {
    this.nextDesc = 0;
    this.availIdx = 0;
    this.indirectNext = 0;
  }

  /** A hostile avail index, remembered as the driver's own. */
  setAvailIdx(value: number): void {
    this.ram.driverSetU16(this.rings.avail + 2, value);
    this.availIdx = value;
  }

  /** Posts one chain; returns its head. */
  post(descs: readonly FuzzDescriptor[], indirect: boolean, queueSize: number): number {
    const ram = this.ram;
    const size = Math.min(Math.max(queueSize, 1), this.maxSize);
    const writeDesc = (at: number, d: FuzzDescriptor, next: number, last: boolean) => {
      const addr = typeof d.addr === 'number' && d.addr >= 0 && d.addr < this.firstBuffer ? this.firstBuffer : d.addr;
      ram.setU64(at, BigInt(addr));
      ram.setU32(at + 8, d.len >>> 0);
      ram.setU16(at + 12, ((last ? d.flags & ~VIRTQ_DESC_F_NEXT : d.flags | VIRTQ_DESC_F_NEXT) ^ d.xor) & 0xffff);
      ram.setU16(at + 14, d.next ?? next);
    };
    let head: number;
    if (indirect) {
      const table = this.rings.indirect + 0x400 * (this.indirectNext++ % 8);
      const n = Math.min(descs.length, 64);
      descs.slice(0, n).forEach((d, i) => writeDesc(table + 16 * i, d, i + 1, i === n - 1));
      head = this.nextDesc;
      this.nextDesc = (this.nextDesc + 1) % size;
      const at = this.rings.desc + 16 * head;
      ram.setU64(at, BigInt(table));
      ram.setU32(at + 8, 16 * n);
      ram.setU16(at + 12, VIRTQ_DESC_F_INDIRECT);
      ram.setU16(at + 14, 0);
    } else {
      head = this.nextDesc;
      descs.forEach((d, i) => {
        const at = (head + i) % size;
        writeDesc(this.rings.desc + 16 * at, d, (at + 1) % size, i === descs.length - 1);
      });
      this.nextDesc = (head + descs.length) % size;
    }
    ram.setU16(this.rings.avail + 4 + 2 * (this.availIdx % size), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    ram.setU16(this.rings.avail + 2, this.availIdx);
    return head;
  }
}

/** What a hostile driver does to a device's registers and rings, besides posting chains. */
export type RingStep =
  | { step: 'register'; offset: number; value: number }
  | { step: 'availIdx'; queue: number; value: number }
  | { step: 'queueOff'; queue: number }
  | { step: 'reset' };

/** A driver of several queues, each at its own rings, with a poster per queue. */
export class QueueSet {
  readonly posters: ChainPoster[];

  constructor(
    private readonly ram: GuestRam,
    readonly rings: readonly QueueRings[],
    /** The table entries the driver fills per queue. */
    fillMax: number,
    firstBuffer: number,
    /** A used ring's bytes at the largest size the device accepts: what the driver zeroes before reuse. */
    private readonly usedRingBytes: number,
  ) {
    this.posters = rings.map((r) => new ChainPoster(ram, r, fillMax, firstBuffer));
  }

  init(t: VirtioMmioTransport, features: bigint, sizes: readonly number[]): void {
    initDevice(t, features, this.rings, sizes);
    for (const p of this.posters) p.reset();
  }

  ringStep(t: VirtioMmioTransport, s: RingStep, features: bigint, sizes: readonly number[]): void {
    switch (s.step) {
      case 'register':
        write32(t, s.offset, s.value);
        break;
      case 'availIdx':
        this.posters[s.queue].setAvailIdx(s.value);
        break;
      case 'queueOff':
        write32(t, VIRTIO_MMIO.QUEUE_SEL, s.queue);
        write32(t, VIRTIO_MMIO.QUEUE_READY, 0);
        this.ram.clearRange(this.rings[s.queue].used, this.usedRingBytes); // the driver zeroes its rings before reuse
        setupQueue(t, s.queue, this.rings[s.queue], sizes[s.queue]);
        this.posters[s.queue].reset();
        break;
      case 'reset':
        write32(t, VIRTIO_MMIO.STATUS, 0);
        for (const r of this.rings) {
          this.ram.clearRange(r.avail, 4);
          this.ram.clearRange(r.used, this.usedRingBytes);
        }
        this.init(t, features, sizes);
        break;
    }
  }

  /** Device-writable buffers in every queue's tables, into `into` (tables read up to `sizeMax` entries). */
  scanWritable(sizes: readonly number[], sizeMax: number, into: Range[]): void {
    this.rings.forEach((r, q) => scanWritable(this.ram, r, Math.min(Math.max(sizes[q], 0), sizeMax), into));
  }

  /** Every used element of a queue of a size the device accepts names a head inside it. */
  checkUsedHeads(sizes: readonly number[], sizeMax: number, check: (cond: boolean, what: string) => void): void {
    sizes.forEach((qsize, q) => {
      if (qsize < 1 || qsize > sizeMax || (qsize & (qsize - 1)) !== 0) return;
      for (let i = 0; i < qsize; i++) {
        const head = this.ram.getU32(this.rings[q].used + 4 + 8 * i);
        check(head < qsize, `queue ${q}: used element ${i} names head ${head}`);
      }
    });
  }
}

/** Where a driver puts its buffers: one after another with a gap (never merged into one iovec), from the start again at the end. */
export class BufferArea {
  private next: number;

  constructor(
    private readonly start: number,
    /** Past this the next buffer starts over at `start` (RAM ends at 0x80000: a long buffer may run into the hole). */
    private readonly end = 0x7f000,
  ) {
    this.next = start;
  }

  reset(): void {
    this.next = this.start;
  }

  /** A guest-physical address for `len` bytes. */
  take(len: number): number {
    const at = this.next;
    this.next += len + 64;
    if (this.next > this.end) this.next = this.start;
    return at;
  }
}

/** One of the ring steps for a device of `queues` queues: a random register write (small values half the time), a garbage avail index, a queue disabled, a reset. */
export function randomRingStep(rng: Prng, queues: number): RingStep {
  const queue = rng.below(queues);
  const k = rng.below(100);
  if (k < 50) return { step: 'register', offset: 4 * rng.below(0x44), value: rng.chance(0.5) ? rng.below(8) : rng.u32() };
  if (k < 80) return { step: 'availIdx', queue, value: rng.below(0x10000) };
  return rng.chance(0.5) ? { step: 'queueOff', queue } : { step: 'reset' };
}
