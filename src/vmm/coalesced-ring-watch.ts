// Writes queued in KVM's coalesced ring reach their device only when the vCPU
// next exits. A guest idling in its kernel may not exit for a long time, so a
// timer on the main thread looks at the ring's two indices and kicks the vCPU
// when entries wait (the vCPU drains the ring on its way out).
//
// Every look costs a main-thread wake-up (~35 µs on the kvm_pvm hosts): at a
// fixed 1 ms that was 3.6 % of a core with an idle guest. So the interval
// backs off while the ring stays empty (1 → 16 ms) and snaps back to 1 ms as
// soon as something is queued: a burst of console output waits at most one
// long interval for its first bytes, then flows at the 1 ms pace.

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
  /** How many times the ring was looked at (for tests). */
  looks = 0;

  /** `indices`: the ring page's first two 32-bit words, first and last. */
  constructor(
    private readonly indices: Int32Array,
    private readonly kick: () => void,
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
    if (Atomics.load(this.indices, 0) !== Atomics.load(this.indices, 1)) {
      this.kick();
      this.intervalMs = this.timing.minMs;
      this.emptyLooks = 0;
    } else if (++this.emptyLooks >= this.timing.emptyLooksPerStep && this.intervalMs < this.timing.maxMs) {
      this.intervalMs = Math.min(this.intervalMs * 2, this.timing.maxMs);
      this.emptyLooks = 0;
    }
    this.schedule();
  }
}
