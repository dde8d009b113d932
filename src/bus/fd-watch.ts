// Watching a non-blocking descriptor for readiness on this thread's loop:
// what doorbells, completion eventfds, region sockets and network backends
// wait on. By default that loop is Node's (libuv, through koffi.node.poll); a
// device process serves its data path from a loop of its own instead
// (blocking-loop.ts), installed here before any device model is built.
import { koffi } from '../../ffi/koffi.js';

export interface Readiness {
  readable: boolean;
  writable: boolean;
  disconnect: boolean;
}

/** What to wait for; `disconnect` also reports the peer hanging up. */
export interface Wants {
  readable: boolean;
  writable?: boolean;
  disconnect?: boolean;
  /** Report each new event once, so the caller need not drain the fd; a wish (FdWatch.edgeTriggered says if granted). */
  edgeTriggered?: boolean;
}

export interface FdWatch {
  /** Whether readiness is reported per event (see Wants.edgeTriggered) rather than while it lasts. */
  readonly edgeTriggered: boolean;
  /** Watches (again) for `wants`, replacing the callback. */
  start(wants: Wants, onReady: (ready: Readiness) => void): void;
  /** Stops watching until the next start(). */
  stop(): void;
  close(): void;
  /** Whether this watch alone keeps the thread's loop (and so the process) alive. */
  ref(): void;
  unref(): void;
}

export interface FdWatcher {
  /** Watches `fd`, which it makes non-blocking (libuv's poll handles do). */
  watch(fd: number, wants: Wants, onReady: (ready: Readiness) => void): FdWatch;
}

// koffi calls back with (status, events), whatever its typings say.
type NodePollHandle = Omit<FdWatch, 'start'> & { start(wants: Wants, cb: NodePollCallback): void };
type NodePollCallback = (status: number, ready: Readiness) => void;
const nodePoll = (koffi as unknown as { node: { poll(fd: number, wants: Wants, cb: NodePollCallback): NodePollHandle } }).node.poll;
const fromNodePoll = (onReady: (ready: Readiness) => void): NodePollCallback => (_status, ready) => onReady(ready);

/** Node's event loop: libuv's poll handles, as koffi exposes them. */
export const libuvWatcher: FdWatcher = {
  watch(fd, wants, onReady) {
    const handle = nodePoll(fd, wants, fromNodePoll(onReady));
    return {
      edgeTriggered: false,
      start: (w, cb) => handle.start(w, fromNodePoll(cb)),
      stop: () => handle.stop(),
      close: () => handle.close(),
      ref: () => handle.ref(),
      unref: () => handle.unref(),
    };
  },
};

let current: FdWatcher = libuvWatcher;

/** Watches `fd` on this thread's loop. */
export function watchFd(fd: number, wants: Wants, onReady: (ready: Readiness) => void): FdWatch {
  return current.watch(fd, wants, onReady);
}

/** Makes `watcher` this thread's loop for every watch started from now on. */
export function useFdWatcher(watcher: FdWatcher): void {
  current = watcher;
}
