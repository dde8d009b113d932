// Console input on its way to the guest: the helper's stdin → a bounded
// backlog here → the vCPU thread's InputRing → the UART, which takes bytes
// only as fast as the guest reads them. A guest that stops reading must not
// make the helper buffer without limit (`yes | tsvmm` grew it until OOM).
//
// Bounded by dropping, not by pausing stdin: a paused stdin only moves the
// backlog into the frontend, whose relay does not wait for the pipe to drain,
// and the frontend must keep reading its terminal to see Ctrl-A x, the way out
// of a guest that stopped reading. So the helper always reads, keeps up to
// CONSOLE_INPUT_BACKLOG bytes (a large paste or piped script fits) and drops
// the rest, counted in --stats and logged rate-limited.
import type { GuestLogKind } from '../log-rate-limit.js';

export const CONSOLE_INPUT_BACKLOG = 1024 * 1024;
/** Backlog the ring could not take yet is retried this often, and only then: an idle console costs no wake-ups. */
const RETRY_MS = 5;

export interface ConsoleInputStats {
  /** Bytes handed to the guest's UART ring. */
  deliveredBytes: number;
  /** Bytes dropped because the backlog was full. */
  droppedBytes: number;
}

export class ConsoleInput {
  private readonly chunks: Uint8Array[] = [];
  private backlogBytes = 0;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly retryLater = () => {
    this.retry = undefined;
    this.pump();
  };
  readonly stats: ConsoleInputStats = { deliveredBytes: 0, droppedBytes: 0 };

  /** `deliver` queues bytes for the guest and returns how many it took. */
  constructor(
    private readonly deliver: (bytes: Uint8Array) => number,
    private readonly drops: GuestLogKind,
    private readonly limit = CONSOLE_INPUT_BACKLOG,
  ) {}

  /** Bytes waiting here for room in the ring. */
  get backlog(): number {
    return this.backlogBytes;
  }

  /** Input from stdin: delivered in order, or kept while there is room, or dropped. */
  push(chunk: Uint8Array): void {
    if (this.closed) return; // the guest is gone
    this.pump();
    if (this.backlogBytes === 0) chunk = chunk.subarray(this.take(chunk));
    const lost = chunk.length - (this.limit - this.backlogBytes);
    if (lost > 0) {
      this.stats.droppedBytes += lost;
      this.drops.report(`console input: the guest is not reading; ${lost} bytes dropped (${this.limit} bytes wait)`);
      chunk = chunk.subarray(0, chunk.length - lost);
    }
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.backlogBytes += chunk.length;
    }
    this.scheduleRetry();
  }

  /** Moves as much of the backlog as the ring takes. */
  pump(): void {
    while (this.chunks.length > 0) {
      const chunk = this.chunks[0];
      const n = this.take(chunk);
      this.backlogBytes -= n;
      if (n === chunk.length) this.chunks.shift();
      else {
        this.chunks[0] = chunk.subarray(n);
        break;
      }
    }
    this.scheduleRetry();
  }

  /** The guest ended: no more retries, and the drops not yet logged are. */
  close(): void {
    this.closed = true;
    this.chunks.length = 0;
    this.backlogBytes = 0;
    clearTimeout(this.retry);
    this.retry = undefined;
    this.drops.flush();
  }

  private take(bytes: Uint8Array): number {
    const n = this.deliver(bytes);
    this.stats.deliveredBytes += n;
    return n;
  }

  private scheduleRetry(): void {
    if (this.backlogBytes > 0) this.retry ??= setTimeout(this.retryLater, RETRY_MS).unref();
  }
}
