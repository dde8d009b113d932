// A device loop the fuzzer turns by hand: what a target's devices watch
// (src/bus/fd-watch.ts) is reported when the input says the loop turns, from
// the descriptors' real readiness (poll(2)), as the helper's loop would
// report it, never in between. Installed for one case at a time.
import { POLLHUP, POLLIN, poll } from '../../ffi/libc.js';
import type { FdWatch, FdWatcher, Readiness, Wants } from '../../src/bus/fd-watch.js';

const POLLOUT = 0x4;
const POLLERR = 0x8;
const POLLRDHUP = 0x2000;
const POLLFD_BYTES = 8;

interface Watched {
  fd: number;
  wants: Wants;
  onReady: (ready: Readiness) => void;
  active: boolean;
}

export class SteppedLoop implements FdWatcher {
  private readonly watched: Watched[] = [];
  private readonly pollfd = new Uint8Array(POLLFD_BYTES);
  private readonly view = new DataView(this.pollfd.buffer);

  watch(fd: number, wants: Wants, onReady: (ready: Readiness) => void): FdWatch {
    const w: Watched = { fd, wants, onReady, active: true };
    this.watched.push(w);
    return {
      edgeTriggered: false,
      start: (next, cb) => Object.assign(w, { wants: next, onReady: cb, active: true }),
      stop: () => void (w.active = false),
      close: () => {
        w.active = false;
        this.watched.splice(this.watched.indexOf(w), 1);
      },
      ref: () => {},
      unref: () => {},
    };
  }

  /** One turn: each active watch whose descriptor is ready for what it wants is called back once. */
  turn(): void {
    for (const w of [...this.watched]) {
      if (!w.active) continue;
      const ready = this.readiness(w);
      if (ready.readable || ready.writable || ready.disconnect) w.onReady(ready);
    }
  }

  private readiness(w: Watched): Readiness {
    const events = (w.wants.readable ? POLLIN : 0) | (w.wants.writable ? POLLOUT : 0) | (w.wants.disconnect ? POLLRDHUP : 0);
    this.view.setInt32(0, w.fd, true);
    this.view.setInt16(4, events, true);
    this.view.setInt16(6, 0, true);
    const got = (poll(this.pollfd, 1, 0) as number) === 1 ? this.view.getInt16(6, true) : 0;
    // As the loops report it (blocking-loop.ts): an error or hang-up wakes whatever the watch wanted.
    const failed = (got & (POLLERR | POLLHUP)) !== 0;
    return {
      readable: (got & POLLIN) !== 0 || (failed && w.wants.readable),
      writable: (got & POLLOUT) !== 0 || (failed && w.wants.writable === true),
      disconnect: (got & POLLRDHUP) !== 0 || ((got & POLLHUP) !== 0 && w.wants.disconnect === true),
    };
  }
}
