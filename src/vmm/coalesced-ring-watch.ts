// With several vCPUs, the main thread drains the coalesced ring (one ring per
// VM, shared-platform-devices.ts): writes KVM queued there reach their device
// only when it looks. A timer drains what is queued at every look.
//
// Every look costs a main-thread wake-up (~35 µs on the kvm_pvm hosts, ~2 ms
// in the nested L1): at a fixed 1 ms that was 3.6 % of a core with an idle
// guest. So the interval backs off while the ring is empty (up to 16 ms).
// While writes flow it depends on whether anyone waits for them:
//
// * A guest that polls (Linux's boot console reads the line status before
//   every byte, answered from the UART's register mirror) waits for nothing:
//   its bytes only have to come out. The watch looks every 4 ms; a full ring
//   makes KVM exit on the write instead, and that exit drains it. At 1 ms
//   the looks alone took the L1's CPU from the vCPUs: a 2-vCPU boot reached
//   init in ~7.6 s of guest time instead of ~10.8 (BENCHMARKS.md).
// * A guest whose UART raises an interrupt once its transmit register is
//   empty (Linux's interrupt-driven output: 16 bytes, then a wait) waits for
//   the drain, since the UART sees the bytes only then: 1 ms.
//
// A lone vCPU drains the ring itself and sweeps it on its own timer instead
// (ring-sweep.ts).
import type { RingPositions } from '../bus/coalesced-ring.js';

export interface RingWatchTiming {
  /** Interval while writes are flowing and a device waits for them. */
  minMs: number;
  /** Interval while writes are flowing and nothing waits for them. */
  flowingMs: number;
  /** Longest interval, reached after the ring has stayed empty a while. */
  maxMs: number;
  /** Empty looks at one interval before it doubles. */
  emptyLooksPerStep: number;
}

export const DEFAULT_RING_WATCH: RingWatchTiming = { minMs: 1, flowingMs: 4, maxMs: 16, emptyLooksPerStep: 8 };

export class CoalescedRingWatch {
  private timer: NodeJS.Timeout | undefined;
  private intervalMs: number;
  private emptyLooks = 0;
  /** How many times the ring was looked at, and drained (tests). */
  looks = 0;
  drains = 0;

  /** `drainAwaited`: whether a device now waits for what is queued (shared-platform-devices.ts). */
  constructor(
    private readonly ring: RingPositions,
    private readonly drain: () => void,
    private readonly drainAwaited: () => boolean,
    private readonly timing: RingWatchTiming = DEFAULT_RING_WATCH,
  ) {
    this.intervalMs = timing.minMs;
  }

  start(): void {
    if (!this.timer) this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  get currentIntervalMs(): number {
    return this.intervalMs;
  }

  private schedule(): void {
    this.timer = setTimeout(() => this.look(), this.intervalMs);
  }

  private look(): void {
    this.looks++;
    if (this.ring.first !== this.ring.last) {
      this.drains++;
      this.drain();
      this.intervalMs = this.drainAwaited() ? this.timing.minMs : this.timing.flowingMs;
      this.emptyLooks = 0;
    } else if (++this.emptyLooks >= this.timing.emptyLooksPerStep && this.intervalMs < this.timing.maxMs) {
      this.intervalMs = Math.min(this.intervalMs * 2, this.timing.maxMs);
      this.emptyLooks = 0;
    }
    this.schedule();
  }
}
