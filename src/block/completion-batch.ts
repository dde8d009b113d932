// Collects block completions and delivers them together, then tells each
// completion target once that its batch ended. Arrays grow to the peak number
// of completions per batch and are reused: steady state allocates nothing.
import type { BlockCompletion } from './block-backend.js';
import { runSoon } from '../microtask.js';

export class CompletionBatch {
  private targets: (BlockCompletion | null)[] = [];
  private tags: number[] = [];
  private results: number[] = [];
  private count = 0;
  private scheduled = false;
  private delivering = false;
  private readonly ended: BlockCompletion[] = [];
  private readonly deliverBound = (): void => this.deliver();
  /** Completions delivered over the lifetime (for statistics). */
  delivered = 0;
  /** Batches delivered. */
  batches = 0;

  push(done: BlockCompletion, tag: number, result: number): void {
    const n = this.count++;
    if (n < this.targets.length) {
      this.targets[n] = done;
      this.tags[n] = tag;
      this.results[n] = result;
    } else {
      this.targets.push(done);
      this.tags.push(tag);
      this.results.push(result);
    }
  }

  /** Delivers on a microtask: after the current (submitting) call returns, before any I/O event. */
  schedule(): void {
    if (this.scheduled || this.delivering) return;
    this.scheduled = true;
    runSoon(this.deliverBound);
  }

  get pending(): number {
    return this.count;
  }

  /** Delivers everything queued now (completions queued meanwhile join this batch). */
  deliver(): void {
    this.scheduled = false;
    if (this.delivering || this.count === 0) return;
    this.delivering = true;
    this.batches++;
    try {
      for (let i = 0; i < this.count; i++) {
        const t = this.targets[i]!;
        this.targets[i] = null;
        this.delivered++;
        if (t.blockBatchEnd !== undefined && !this.ended.includes(t)) this.ended.push(t);
        t.blockComplete(this.tags[i], this.results[i]);
      }
    } finally {
      this.count = 0;
      this.delivering = false;
    }
    const ended = this.ended;
    for (let i = 0; i < ended.length; i++) ended[i].blockBatchEnd!();
    ended.length = 0;
    if (this.count > 0) this.schedule();
  }

  /** Drops everything queued (backend closing). */
  clear(): void {
    for (let i = 0; i < this.count; i++) this.targets[i] = null;
    this.count = 0;
  }
}
