// Writes queued in KVM's coalesced ring reach their device only when the vCPU
// next exits. A guest idling in its kernel may not exit for a long time, so a
// timer on the main thread looks at the ring's two indices and kicks the vCPU
// when entries wait (the vCPU drains the ring on its way out).
//
// Every look costs a main-thread wake-up (~35 µs on the kvm_pvm hosts): at a
// fixed 1 ms that was 3.6 % of a core with an idle guest. So the interval
// backs off while the ring stays empty (1 → 16 ms) and snaps back to 1 ms as
// soon as something is queued.
//
// A kick costs the vCPU an exit, so only a write that has waited a whole
// interval gets one: one that was already queued at the last look. A guest
// that exits often anyway (Linux's serial driver reads the line status
// before every byte) drains the ring by itself and is never kicked; a
// booting Linux guest used to be, ~100 times a second. A burst from a guest
// that does not exit waits at most one long interval and one short one for
// its first bytes, then flows at a kick every other millisecond.
//
// The vCPU also holds console output back for a few milliseconds
// (console-output.ts) and numbers each batch it holds; a batch still held a
// whole hold time later is kicked out like a queued write. While the vCPU
// holds output, or drains the ring by itself, the watch looks once per hold
// time instead of every millisecond: a guest printing its boot log holds a
// batch nearly all the time and writes each out itself, and looks 1 ms apart
// found the same batch twice and kicked the vCPU before its hold was up.
import { COALESCED_RING_ENTRIES, type RingPositions } from '../bus/coalesced-ring.js';

export interface RingWatchTiming {
  /** Interval while writes are flowing. */
  minMs: number;
  /** Longest interval, reached after the ring has stayed empty a while. */
  maxMs: number;
  /** Empty looks at one interval before it doubles. */
  emptyLooksPerStep: number;
}

export const DEFAULT_RING_WATCH: RingWatchTiming = { minMs: 1, maxMs: 16, emptyLooksPerStep: 8 };

export interface RingWatchOptions {
  timing?: RingWatchTiming;
  /**
   * False when `kick` drains the ring on this thread (several vCPUs): then
   * whatever is queued is drained at each look, as nothing waits on it.
   */
  kickCostsAnExit?: boolean;
  /** The console bytes the vCPU holds until an exit (console-output.ts). */
  heldOutput?: HeldOutput;
}

export interface HeldOutput {
  /** The number of the batch held now, 0 for none. */
  batch: () => number;
  /** How long the vCPU holds a batch before it writes it out at an exit. */
  holdMs: number;
}

export class CoalescedRingWatch {
  private timer: NodeJS.Timeout | undefined;
  private intervalMs: number;
  private emptyLooks = 0;
  /** The ring's indices at the last look. */
  private firstAtLastLook = 0;
  private lastAtLastLook = 0;
  /** How many times the ring was looked at (for tests). */
  looks = 0;

  private readonly timing: RingWatchTiming;
  private readonly kickCostsAnExit: boolean;
  private readonly heldOutput: HeldOutput | undefined;
  /** The batch held at the last look, and for how long the looks have seen it. */
  private heldAtLastLook = 0;
  private heldSeenMs = 0;
  /** The last look found writes that had waited a whole interval. */
  private staleAtLastLook = false;
  /** How long before this look the last one was. */
  private lastDelayMs = 0;

  constructor(
    private readonly ring: RingPositions,
    private readonly kick: () => void,
    options: RingWatchOptions = {},
  ) {
    this.timing = options.timing ?? DEFAULT_RING_WATCH;
    this.kickCostsAnExit = options.kickCostsAnExit ?? true;
    this.heldOutput = options.heldOutput;
    this.intervalMs = this.timing.minMs;
  }

  start(): void {
    this.firstAtLastLook = this.lastAtLastLook = this.ring.first;
    if (!this.timer) this.schedule();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  get currentIntervalMs(): number {
    return this.intervalMs;
  }

  private schedule(delayMs = this.intervalMs): void {
    this.lastDelayMs = delayMs;
    this.timer = setTimeout(() => this.look(), delayMs);
  }

  private look(): void {
    this.looks++;
    const { first, last } = this.ring;
    // Entries queued at the last look that are still there (ring arithmetic).
    const queuedThen = ringDistance(this.firstAtLastLook, this.lastAtLastLook);
    const drainedSince = ringDistance(this.firstAtLastLook, first);
    this.firstAtLastLook = first;
    this.lastAtLastLook = last;
    const queued = first !== last;
    const stale = queued && (drainedSince < queuedThen || !this.kickCostsAnExit);
    // A batch held at the last look and still held has been held since then at least.
    const held = this.heldOutput?.batch() ?? 0;
    this.heldSeenMs = held !== 0 && held === this.heldAtLastLook ? this.heldSeenMs + this.lastDelayMs : 0;
    this.heldAtLastLook = held;
    const holdMs = this.heldOutput?.holdMs ?? 0;
    const heldLong = held !== 0 && this.heldSeenMs >= holdMs;
    if (stale || heldLong) this.kick(); // the vCPU writes out what it holds on the way
    // Writes flowing from a guest that does not exit by itself (kicked out at the last look too).
    const flowing = stale || (queued && (!this.heldOutput || this.staleAtLastLook));
    this.staleAtLastLook = stale;
    if (flowing) {
      this.intervalMs = this.timing.minMs;
      this.emptyLooks = 0;
    } else if (queued || (held !== 0 && !heldLong)) {
      // Pending, but the vCPU has been exiting: it writes out by itself what
      // it holds once the hold is up. Look again then, no sooner.
      this.emptyLooks = 0;
      this.schedule(Math.max(this.timing.minMs, holdMs - this.heldSeenMs));
      return;
    } else if (++this.emptyLooks >= this.timing.emptyLooksPerStep && this.intervalMs < this.timing.maxMs) {
      this.intervalMs = Math.min(this.intervalMs * 2, this.timing.maxMs);
      this.emptyLooks = 0;
    }
    this.schedule();
  }
}

/** Slots from `from` forward to `to` in KVM's ring. */
function ringDistance(from: number, to: number): number {
  return (to - from + COALESCED_RING_ENTRIES) % COALESCED_RING_ENTRIES;
}
