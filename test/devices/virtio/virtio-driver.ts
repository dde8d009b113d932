// A guest-side virtio driver for tests: lays out a split virtqueue in
// GuestMemory the way Linux's virtio_ring does, adds buffers (direct chains
// or indirect tables), publishes them, and collects used buffers. Little-
// endian, zeroed rings, free-list of descriptors.
import type { GuestMemory } from '../../../src/memory/guest-memory.js';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../../../src/devices/virtio/virtio-constants.js';
import type { QueueLayout } from '../../../src/devices/virtio/virtio-mmio-driver-setup.js';

export interface Buf {
  gpa: number;
  len: number;
  writable: boolean;
}

// The benchmarks' drivers lay their queues out alike.
export { ringLayout as layoutAt, type QueueLayout } from '../../../src/devices/virtio/virtio-mmio-driver-setup.js';

export class DriverQueue {
  readonly dv: DataView;
  private free: number[] = [];
  private lastUsed = 0;
  availIdx = 0;
  /** Descriptor count of each outstanding head. */
  private chainLen = new Map<number, number>();
  private indirectNext: number;

  constructor(
    readonly mem: GuestMemory,
    readonly size: number,
    readonly layout: QueueLayout,
    /** Where this driver puts indirect tables (a scratch area). */
    readonly indirectArea = layout.used + 8192,
  ) {
    const r = mem.regions[0];
    this.dv = new DataView(r.bytes.buffer, r.bytes.byteOffset, r.size);
    this.reset();
    this.indirectNext = indirectArea;
  }

  reset(): void {
    const { desc, avail, used } = this.layout;
    new Uint8Array(this.dv.buffer, this.dv.byteOffset + desc, 16 * this.size).fill(0);
    new Uint8Array(this.dv.buffer, this.dv.byteOffset + avail, 6 + 2 * this.size).fill(0);
    new Uint8Array(this.dv.buffer, this.dv.byteOffset + used, 6 + 8 * this.size).fill(0);
    this.free = Array.from({ length: this.size }, (_, i) => i);
    this.lastUsed = 0;
    this.availIdx = 0;
    this.chainLen.clear();
  }

  get freeCount(): number {
    return this.free.length;
  }

  /** `addr` as a bigint for values a double cannot hold exactly (near 2^64). */
  writeDesc(i: number, addr: number | bigint, len: number, flags: number, next: number, table = this.layout.desc): void {
    const o = table + 16 * i;
    this.dv.setBigUint64(o, BigInt.asUintN(64, BigInt(addr)), true);
    this.dv.setUint32(o + 8, len, true);
    this.dv.setUint16(o + 12, flags, true);
    this.dv.setUint16(o + 14, next, true);
  }

  /** Adds a chain (readable buffers first); returns its head, or -1 when the ring is full. */
  add(bufs: Buf[], opts: { indirect?: boolean; publish?: boolean } = {}): number {
    let head: number;
    if (opts.indirect) {
      if (this.free.length < 1) return -1;
      head = this.free.shift()!;
      const table = this.indirectNext;
      this.indirectNext += Math.ceil((bufs.length * 16) / 64) * 64;
      if (this.indirectNext > this.indirectArea + 256 * 1024) this.indirectNext = this.indirectArea;
      bufs.forEach((b, i) =>
        this.writeDesc(i, b.gpa, b.len, (b.writable ? VIRTQ_DESC_F_WRITE : 0) | (i < bufs.length - 1 ? VIRTQ_DESC_F_NEXT : 0), i + 1, table),
      );
      this.writeDesc(head, table, bufs.length * 16, VIRTQ_DESC_F_INDIRECT, 0);
      this.chainLen.set(head, 1);
    } else {
      if (this.free.length < bufs.length || bufs.length === 0) return -1;
      const ids = this.free.splice(0, bufs.length);
      head = ids[0];
      bufs.forEach((b, i) =>
        this.writeDesc(ids[i], b.gpa, b.len, (b.writable ? VIRTQ_DESC_F_WRITE : 0) | (i < bufs.length - 1 ? VIRTQ_DESC_F_NEXT : 0), ids[i + 1] ?? 0),
      );
      this.chainLen.set(head, bufs.length);
      this.chainIds.set(head, ids);
    }
    this.putAvail(head, opts.publish ?? true);
    return head;
  }

  private chainIds = new Map<number, number[]>();

  /** Puts a raw head index into the available ring. */
  putAvail(head: number, publish = true): void {
    const { avail } = this.layout;
    this.dv.setUint16(avail + 4 + 2 * (this.availIdx % this.size), head, true);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    if (publish) this.publish();
  }

  publish(): void {
    this.dv.setUint16(this.layout.avail + 2, this.availIdx, true);
  }

  setAvailIdx(v: number): void {
    this.availIdx = v & 0xffff;
    this.publish();
  }

  set availFlags(v: number) {
    this.dv.setUint16(this.layout.avail, v, true);
  }
  set usedEvent(v: number) {
    this.dv.setUint16(this.layout.avail + 4 + 2 * this.size, v, true);
  }
  get usedFlags(): number {
    return this.dv.getUint16(this.layout.used, true);
  }
  get availEvent(): number {
    return this.dv.getUint16(this.layout.used + 4 + 8 * this.size, true);
  }
  get usedIdx(): number {
    return this.dv.getUint16(this.layout.used + 2, true);
  }

  /** Collects used elements and frees their descriptors. */
  takeUsed(): { id: number; len: number }[] {
    const out: { id: number; len: number }[] = [];
    const idx = this.usedIdx;
    while (this.lastUsed !== idx) {
      const o = this.layout.used + 4 + 8 * (this.lastUsed % this.size);
      const id = this.dv.getUint32(o, true);
      const len = this.dv.getUint32(o + 4, true);
      out.push({ id, len });
      const ids = this.chainIds.get(id);
      if (ids) {
        this.free.push(...ids);
        this.chainIds.delete(id);
      } else if (this.chainLen.has(id)) this.free.push(id);
      this.chainLen.delete(id);
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    return out;
  }
}
