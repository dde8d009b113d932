// With several vCPUs, the main thread drains the coalesced ring (one ring per
// VM, shared-platform-devices.ts): writes KVM queued there reach their device
// only when it looks. A timer drains what is queued at every look.
//
// Every look costs a main-thread wake-up (~35 µs on the kvm_pvm hosts, ~2 ms
// in the nested L1): at a fixed 1 ms that was 3.6 % of a core with an idle
// guest. So the interval backs off while the ring stays empty (1 → 16 ms) and
// snaps back to 1 ms as soon as something is queued.
//
// A lone vCPU drains the ring itself and sweeps it on its own timer instead
// (ring-sweep.ts).
import type { RingPositions } from '../bus/coalesced-ring.js';

export interface RingWatchTiming {
  /** Interval while writes are flowing. */
  minMs: number;
  /** Longest interval, reached after the ring has stayed empty a while. */
  maxMs: number;
  /** Empty looks at one interval before it doubles. */
  emptyLooksPerStep: number;
}

export const DEFAULT_RING_WATCH: RingWatchTiming = { minMs: 1, maxMs: 16, emptyLooksPerStep: 8 };

export class CoalescedRingWatch {
  private timer: NodeJS.Timeout | undefined;
  private intervalMs: number;
  private emptyLooks = 0;
  /** How many times the ring was looked at, and drained (tests). */
  looks = 0;
  drains = 0;

  constructor(
    private readonly ring: RingPositions,
    private readonly drain: () => void,
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
      this.intervalMs = this.timing.minMs;
      this.emptyLooks = 0;
    } else if (++this.emptyLooks >= this.timing.emptyLooksPerStep && this.intervalMs < this.timing.maxMs) {
      this.intervalMs = Math.min(this.intervalMs * 2, this.timing.maxMs);
      this.emptyLooks = 0;
    }
    this.schedule();
  }
}
