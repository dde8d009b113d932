// Rate-limited logging for messages a guest can trigger at will (ignored
// register writes, failed requests). Logs are synchronous writes: one line
// per bad access let a guest write 1 GB of log a minute and stall the thread
// that serves it. Each kind logs its first `burst` occurrences in full; after
// that one summary line (how many since the last line, and the latest
// message) at most every `intervalMs`. The exact counts are kept for --stats.
import type { Logger } from './log.js';

export const GUEST_LOG_BURST = 10;
export const GUEST_LOG_INTERVAL_MS = 5000;

export interface GuestLogOptions {
  /** Occurrences of each kind logged in full before summaries take over. */
  burst?: number;
  /** Least time between two summary lines of one kind. */
  intervalMs?: number;
  /** Milliseconds, monotonic; tests inject their own. */
  now?: () => number;
}

/** One kind of guest-triggered message, counted exactly and logged sparingly. */
export class GuestLogKind {
  /** Occurrences so far, logged or not. */
  count = 0;
  private unlogged = 0;
  private lastLine = 0;

  constructor(
    readonly name: string,
    private readonly log: Logger,
    private readonly burst: number,
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  report(message: string): void {
    this.count++;
    if (this.count <= this.burst) {
      this.lastLine = this.now();
      this.log.warn({ kind: this.name }, this.count === this.burst ? `${message} (further ${this.name} are summarised)` : message);
      return;
    }
    this.unlogged++;
    const now = this.now();
    if (now - this.lastLine >= this.intervalMs) this.summarise(now, message);
  }

  /** Logs what is still unlogged (at close, so the tail of a burst is not lost). */
  flush(): void {
    if (this.unlogged > 0) this.summarise(this.now(), null);
  }

  private summarise(now: number, latest: string | null): void {
    this.log.warn({ kind: this.name, count: this.unlogged, total: this.count }, `${this.unlogged} more ${this.name} (${this.count} in all)${latest === null ? '' : `; latest: ${latest}`}`);
    this.unlogged = 0;
    this.lastLine = now;
  }
}

/** The kinds one device (or the console) reports, with their counts for --stats. */
export class GuestLog {
  private readonly kinds: GuestLogKind[] = [];
  private readonly burst: number;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly log: Logger,
    options: GuestLogOptions = {},
  ) {
    this.burst = options.burst ?? GUEST_LOG_BURST;
    this.intervalMs = options.intervalMs ?? GUEST_LOG_INTERVAL_MS;
    this.now = options.now ?? (() => performance.now());
  }

  /** A new kind; `name` is plural and names the event ("ignored writes"). */
  kind(name: string): GuestLogKind {
    const k = new GuestLogKind(name, this.log, this.burst, this.intervalMs, this.now);
    this.kinds.push(k);
    return k;
  }

  /** Every kind's exact count, zeros included. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.kinds.map((k) => [k.name, k.count]));
  }

  flush(): void {
    for (const k of this.kinds) k.flush();
  }
}
