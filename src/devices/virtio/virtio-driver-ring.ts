// The driver's side of one split virtqueue (virtio 1.x §2.7), for the
// drivers tsvmm runs itself (the data-path warm-up, the data-path
// benchmarks): write descriptors, post chains, publish them and ring the
// doorbell when the device asks to be told (EVENT_IDX: vring_need_event),
// take back what the device used.
import type { QueueLayout } from './virtio-mmio-driver-setup.js';

export class VirtioDriverRing {
  private availIdx = 0;
  private published = 0;
  private lastUsed = 0;
  private readonly view: DataView;
  private readonly index16: Uint16Array;

  /** `ram`: guest RAM from guest-physical 0; `ring`: the queue's doorbell. */
  constructor(
    ram: ArrayBuffer,
    readonly queue: QueueLayout,
    private readonly ring: () => void,
  ) {
    this.view = new DataView(ram);
    this.index16 = new Uint16Array(ram, 0, ram.byteLength >>> 1);
  }

  /** Writes descriptor `i` of the table at `table` (the queue's own, or an indirect one). */
  describe(i: number, addr: number, len: number, flags: number, next = 0, table = this.queue.desc): void {
    const o = table + 16 * i;
    this.view.setUint32(o, addr, true);
    this.view.setUint32(o + 4, 0, true);
    this.view.setUint32(o + 8, len, true);
    this.view.setUint16(o + 12, flags, true);
    this.view.setUint16(o + 14, next, true);
  }

  /** Puts the chain at `head` in the available ring (seen by the device once published). */
  post(head: number): void {
    this.view.setUint16(this.queue.avail + 4 + 2 * (this.availIdx % this.queue.size), head, true);
    this.availIdx = (this.availIdx + 1) & 0xffff;
  }

  /** Publishes what was posted; rings if the device asked to be told (vring_need_event). True when it rang. */
  publish(): boolean {
    if (this.availIdx === this.published) return false;
    const old = this.published;
    this.published = this.availIdx;
    Atomics.store(this.index16, (this.queue.avail + 2) / 2, this.availIdx);
    // The device's avail_event sits after the used ring.
    const event = Atomics.load(this.index16, (this.queue.used + 4 + 8 * this.queue.size) / 2);
    if (((this.availIdx - event - 1) & 0xffff) >= ((this.availIdx - old) & 0xffff)) return false;
    this.ring();
    return true;
  }

  /** Calls `each(id, length)` for every chain the device has returned since the last call; how many. */
  takeUsed(each: (id: number, length: number) => void): number {
    const usedIdx = Atomics.load(this.index16, (this.queue.used + 2) / 2);
    let taken = 0;
    while (this.lastUsed !== usedIdx) {
      const o = this.queue.used + 4 + 8 * (this.lastUsed % this.queue.size);
      each(this.view.getUint32(o, true), this.view.getUint32(o + 4, true));
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
      taken++;
    }
    return taken;
  }
}
