// Readiness of a non-blocking descriptor on this thread's event loop
// (libuv's poll through koffi): what the network backends wait on.
import { koffi } from '../../ffi/libc.js';

type Ready = { readable: boolean; writable: boolean };
type PollHandle = { start(opts: Ready, cb: (ev: Ready) => void): void; stop(): void; close(): void };
type NodePoll = (fd: number, opts: Ready, cb: (ev: Ready) => void) => PollHandle;
const nodePoll = (koffi as unknown as { node: { poll: NodePoll } }).node.poll;

export class FdReadiness {
  private handle: PollHandle | null = null;
  private closed = false;

  constructor(private readonly fd: number) {}

  /** Calls `onReady` whenever the wished-for readiness holds; nothing wished stops watching. */
  watch(wants: Ready, onReady: (ready: Ready) => void): void {
    if (this.closed) return;
    if (!wants.readable && !wants.writable) {
      this.handle?.stop();
      return;
    }
    const opts = { readable: wants.readable, writable: wants.writable };
    if (this.handle === null) this.handle = nodePoll(this.fd, opts, onReady);
    else this.handle.start(opts, onReady);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle?.close();
    this.handle = null;
  }
}
