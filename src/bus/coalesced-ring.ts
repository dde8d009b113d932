// The coalesced MMIO/PIO ring KVM shares with userspace in the vCPU mapping
// (page KVM_CHECK_EXTENSION(KVM_CAP_COALESCED_MMIO)). KVM appends writes to
// registered zones at `last`; userspace replays them, in order, from `first`.
//
// Linux before 6.11 (Debian 12's 6.1 among them) tests for room with
// `(first - last - 1) % 170` in unsigned 32-bit arithmetic. While
// `first <= last` that is wrong: "full" at 85 entries, and, once more than 85
// are queued with `first` at 0, never full at all: the 170th write makes
// `last` equal `first` and the whole ring reads as empty. A consumer that
// drains while vCPUs keep writing (several vCPUs: the main thread drains)
// can leave `first` at 0 with the ring that full, so it never publishes 0:
// after replaying the last slot it keeps `first` there until it has replayed
// slot 0 too (docs/host-kvm.md, "Coalesced ring").
import { KvmCoalescedMmio, KvmCoalescedMmioRing } from '../../ffi/kvm-abi.js';
import { viewAt } from '../../ffi/libc.js';
import type { IoBus } from './io-bus.js';

const PAGE_SIZE = 4096;
export const COALESCED_RING_ENTRIES = Math.floor((PAGE_SIZE - KvmCoalescedMmioRing.size) / KvmCoalescedMmio.size);

/** Counts replayed writes per device (the exit statistics). */
export interface CoalescedDrainCounter {
  countCoalesced(device: string): void;
}

/** Where the ring's consumer is (`first`: the next entry to replay) and where KVM writes next (`last`). */
/**
 * A device whose guest may wait for writes still queued in the ring: the
 * device learns of them only when they are replayed (coalesced-ring-watch.ts).
 */
export interface AwaitsQueuedWrites {
  readonly awaitsQueuedWrites: boolean;
}

export function awaitsQueuedWrites(device: object): device is AwaitsQueuedWrites {
  return 'awaitsQueuedWrites' in device;
}

export interface RingPositions {
  readonly first: number;
  readonly last: number;
}

export interface CoalescedRingOptions {
  /**
   * vCPUs keep writing while this thread drains (several vCPUs). With one,
   * the vCPU thread drains between two KVM_RUNs and always empties the ring,
   * so publishing `first` = 0 is safe.
   */
  producerRunsConcurrently?: boolean;
}

export class CoalescedRing implements RingPositions {
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  /** data windows of 1..8 bytes for each slot, built once. */
  private readonly windows: Uint8Array[][] = [];
  private readonly producerRunsConcurrently: boolean;
  /** The next entry to replay: the published `first`, except while it is parked on the last slot. */
  private next: number;
  /** How many writes the last drain() replayed. */
  lastDrained = 0;

  constructor(
    ringAddress: number,
    private readonly pio: IoBus,
    private readonly mmio: IoBus,
    private readonly stats: CoalescedDrainCounter,
    options: CoalescedRingOptions = {},
  ) {
    const buffer = viewAt(ringAddress, PAGE_SIZE);
    this.words = new Int32Array(buffer, 0, 2);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.producerRunsConcurrently = options.producerRunsConcurrently === true;
    const first = Atomics.load(this.words, 0);
    this.next = first >= 0 && first < COALESCED_RING_ENTRIES ? first : 0;
    for (let i = 0; i < COALESCED_RING_ENTRIES; i++) {
      const data = KvmCoalescedMmioRing.offsets.coalesced_mmio + i * KvmCoalescedMmio.size + KvmCoalescedMmio.offsets.data;
      const sizes: Uint8Array[] = [];
      for (let len = 0; len <= 8; len++) sizes.push(this.bytes.subarray(data, data + len));
      this.windows.push(sizes);
    }
  }

  get first(): number {
    return this.next;
  }

  get last(): number {
    return Atomics.load(this.words, 1);
  }

  /** True when KVM has queued writes not yet replayed. */
  get pending(): boolean {
    return this.next !== this.last;
  }

  /** Replays queued writes in order, at most `limit` of them; returns how many. */
  drain(limit = COALESCED_RING_ENTRIES): number {
    let next = this.next;
    const last = Atomics.load(this.words, 1);
    // `last` is untrusted in principle (the ring page is writable by us and
    // filled by KVM): an index off the ring ends the walk, which is bounded to one lap.
    if (last < 0 || last >= COALESCED_RING_ENTRIES) return (this.lastDrained = 0);
    let n = 0;
    while (next !== last && n < limit && n < COALESCED_RING_ENTRIES) {
      const entry = KvmCoalescedMmioRing.offsets.coalesced_mmio + next * KvmCoalescedMmio.size;
      const at = entry + KvmCoalescedMmio.offsets.phys_addr;
      const addr = this.view.getUint32(at + 4, true) * 0x1_0000_0000 + this.view.getUint32(at, true); // no BigInt per entry
      const len = Math.min(this.view.getUint32(entry + KvmCoalescedMmio.offsets.len, true), 8);
      const isPio = this.view.getUint32(entry + KvmCoalescedMmio.offsets.pio, true) !== 0;
      const device = (isPio ? this.pio : this.mmio).write(addr, this.windows[next][len]);
      this.stats.countCoalesced(device?.name ?? 'unclaimed');
      next = (next + 1) % COALESCED_RING_ENTRIES;
      this.next = next;
      // Publish progress per entry so KVM can reuse the slot at once (but never 0 under a concurrent producer: above).
      if (next !== 0 || !this.producerRunsConcurrently) Atomics.store(this.words, 0, next);
      n++;
    }
    return (this.lastDrained = n);
  }
}
