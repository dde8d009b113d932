// How often a lone vCPU's own timer (src/kvm/vcpu-timer.ts) takes it out of
// the guest, so that writes KVM queued in the coalesced ring reach their
// device even while the guest does not exit by itself, and the console bytes
// the vCPU holds (console-output.ts: they wait for this) reach tsvmm's
// output. Each sweep is one exit, drained and flushed on the way, like any
// other.
//
// A guest that exits often drains the ring itself, and one that writes
// nothing has nothing to drain: the period doubles up to `maxMs`, the longest
// a write waits. Linux's serial console exits before every byte (it reads
// the line status), so it leaves one write at most in the ring, the line's
// last. A guest that queued more than one write since it last exited, or
// wrote and has not exited since the last sweep, writes without exiting: it
// is swept every `minMs`. That is Linux's interrupt-driven output too: 16
// bytes into the transmit FIFO, then a wait for the transmit interrupt,
// which the UART raises only once the ring is drained. Console input brings
// the period down to `minMs` as well: the guest's echo is coming.
//
// This used to be a timer on the helper's main thread that looked at the
// ring's indices and kicked the vCPU. In the nested L1 each of those looks
// cost the main thread ~2 ms of CPU, ~140 a second while Linux booted, and
// the guest's boot ran 1.5-2.5 s longer for it (docs/host-kvm.md).

export interface SweepTiming {
  minMs: number;
  maxMs: number;
}

export const DEFAULT_SWEEP: SweepTiming = { minMs: 2, maxMs: 16 };

/** What the vCPU sees at a sweep. */
export interface SweepCounts {
  /** Exits the guest has made itself so far (not the signal's). */
  guestExits: number;
  /** Writes this sweep found in the ring: queued since the guest last exited. */
  waiting: number;
  /** Console input waits for the guest. */
  inputWaiting: boolean;
}

export class RingSweep {
  /** The period from now on. */
  periodMs: number;
  private guestExitsBefore = 0;

  constructor(private readonly timing: SweepTiming = DEFAULT_SWEEP) {
    this.periodMs = timing.maxMs;
  }

  /** At an interruption of KVM_RUN (a sweep, or a kick): the period to sweep at from now. */
  next(counts: SweepCounts): number {
    const exited = counts.guestExits !== this.guestExitsBefore;
    this.guestExitsBefore = counts.guestExits;
    const wroteWithoutExiting = counts.waiting > 1 || (counts.waiting === 1 && !exited);
    this.periodMs = wroteWithoutExiting || counts.inputWaiting ? this.timing.minMs : Math.min(this.periodMs * 2, this.timing.maxMs);
    return this.periodMs;
  }
}
