// A device loop the fuzzer turns by hand: what a target's devices watch
// (src/bus/fd-watch.ts) is reported when the input says the loop turns, from
// the descriptors' real readiness (poll(2)), as the helper's loop would
// report it, never in between. Installed for one case at a time.
import { poll } from '../../ffi/libc.js';
import { epollMask, readiness } from '../../src/bus/blocking-loop.js';
import type { FdWatch, FdWatcher, Readiness, Wants } from '../../src/bus/fd-watch.js';

const POLLFD_BYTES = 8;
/** The events poll(2) shares with epoll (epollMask adds EPOLLET, bit 31, for edge-triggered wishes). */
const POLL_EVENTS = 0xffff;

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

  /** What poll(2) says of the descriptor now, reported as the device loop reports epoll's events (blocking-loop.ts). */
  private readiness(w: Watched): Readiness {
    this.view.setInt32(0, w.fd, true);
    this.view.setInt16(4, epollMask(w.wants) & POLL_EVENTS, true);
    this.view.setInt16(6, 0, true);
    const got = (poll(this.pollfd, 1, 0) as number) === 1 ? this.view.getUint16(6, true) : 0;
    return readiness(got, w.wants, { readable: false, writable: false, disconnect: false });
  }
}
