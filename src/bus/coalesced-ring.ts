// The coalesced MMIO/PIO ring KVM shares with userspace in the vCPU mapping
// (page KVM_CHECK_EXTENSION(KVM_CAP_COALESCED_MMIO)). KVM appends writes to
// registered zones at `last`; userspace replays them, in order, from `first`.
import { KvmCoalescedMmio, KvmCoalescedMmioRing } from '../../ffi/kvm-abi.js';
import { viewAt } from '../../ffi/libc.js';
import type { IoBus } from './io-bus.js';

const PAGE_SIZE = 4096;
export const COALESCED_RING_ENTRIES = Math.floor((PAGE_SIZE - KvmCoalescedMmioRing.size) / KvmCoalescedMmio.size);

/** Counts replayed writes per device (the exit statistics). */
export interface CoalescedDrainCounter {
  countCoalesced(device: string): void;
}

export class CoalescedRing {
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  /** data windows of 1..8 bytes for each slot, built once. */
  private readonly windows: Uint8Array[][] = [];

  constructor(
    ringAddress: number,
    private readonly pio: IoBus,
    private readonly mmio: IoBus,
    private readonly stats: CoalescedDrainCounter,
  ) {
    const buffer = viewAt(ringAddress, PAGE_SIZE);
    this.words = new Int32Array(buffer, 0, 2);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    for (let i = 0; i < COALESCED_RING_ENTRIES; i++) {
      const data = KvmCoalescedMmioRing.offsets.coalesced_mmio + i * KvmCoalescedMmio.size + KvmCoalescedMmio.offsets.data;
      const sizes: Uint8Array[] = [];
      for (let len = 0; len <= 8; len++) sizes.push(this.bytes.subarray(data, data + len));
      this.windows.push(sizes);
    }
  }

  /** True when KVM has queued writes not yet replayed. */
  get pending(): boolean {
    return Atomics.load(this.words, 0) !== Atomics.load(this.words, 1);
  }

  /** Replays every queued write in order; returns how many. */
  drain(): number {
    let first = Atomics.load(this.words, 0);
    const last = Atomics.load(this.words, 1);
    if (first === last) return 0;
    let n = 0;
    // `last` is untrusted in principle (the ring page is writable by us and
    // filled by KVM): bound the walk to one lap.
    while (first !== last && n < COALESCED_RING_ENTRIES) {
      if (first < 0 || first >= COALESCED_RING_ENTRIES) break;
      const entry = KvmCoalescedMmioRing.offsets.coalesced_mmio + first * KvmCoalescedMmio.size;
      const at = entry + KvmCoalescedMmio.offsets.phys_addr;
      const addr = this.view.getUint32(at + 4, true) * 0x1_0000_0000 + this.view.getUint32(at, true); // no BigInt per entry
      const len = Math.min(this.view.getUint32(entry + KvmCoalescedMmio.offsets.len, true), 8);
      const isPio = this.view.getUint32(entry + KvmCoalescedMmio.offsets.pio, true) !== 0;
      const device = (isPio ? this.pio : this.mmio).write(addr, this.windows[first][len]);
      this.stats.countCoalesced(device?.name ?? 'unclaimed');
      first = (first + 1) % COALESCED_RING_ENTRIES;
      // Publish progress per entry so KVM can reuse the slot at once.
      Atomics.store(this.words, 0, first);
      n++;
    }
    return n;
  }
}
