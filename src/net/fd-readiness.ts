// Readiness of a non-blocking descriptor on this thread's loop, started and
// stopped as a backend's wishes change: what the network backends wait on.
import { watchFd, type FdWatch, type Readiness } from '../bus/fd-watch.js';

type Ready = { readable: boolean; writable: boolean };

export class FdReadiness {
  private handle: FdWatch | null = null;
  private closed = false;

  constructor(private readonly fd: number) {}

  /** Calls `onReady` whenever the wished-for readiness holds; nothing wished stops watching. */
  watch(wants: Ready, onReady: (ready: Readiness) => void): void {
    if (this.closed) return;
    if (!wants.readable && !wants.writable) {
      this.handle?.stop();
      return;
    }
    const opts = { readable: wants.readable, writable: wants.writable };
    if (this.handle === null) this.handle = watchFd(this.fd, opts, onReady);
    else this.handle.start(opts, onReady);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle?.close();
    this.handle = null;
  }
}
