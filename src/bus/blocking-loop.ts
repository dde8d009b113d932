// A loop of our own for a device process's data path. On Node's loop every
// doorbell costs a libuv turn: two epoll_pwait calls (libuv polls once with a
// zero timeout to measure idle time), a napi call into JS, and the turn's
// phases. This loop blocks in epoll_pwait itself and calls the device straight
// back, turn after turn, without returning to libuv while only its own
// descriptors are busy.
//
// It lives inside Node's loop rather than replacing it: libuv calls it (a poll
// on an eventfd the loop signals itself), and it hands control back whenever
// libuv has work: libuv's own epoll descriptor is in this loop's set (IPC,
// signals), a timer is due, an immediate is queued, or libuv has a watcher
// to add to its set (it adds them only when it polls, so until then their
// events would wake nobody). Microtasks are drained after every turn, as
// Node does after each callback.
//
// In the helper, a VM's lone vCPU runs where this loop would wait
// (GuestSlices, src/vmm/main-thread-vcpu.ts): KVM_RUN in place of
// epoll_pwait, ended when this loop's epoll descriptor becomes readable or
// libuv's timeout passes; then the loop serves what is ready as it would
// have after its wait.
import { EAGAIN, EBADF, EFD_CLOEXEC, EFD_NONBLOCK, EINTR, ENOENT, close, eventfd, koffi, read, setNonBlocking, write } from '../../ffi/libc.js';
import {
  EPOLLERR,
  EPOLLET,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  EPOLLRDHUP,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  EPOLL_EVENT_DATA_OFFSET,
  EPOLL_EVENT_SIZE,
  epollCreate1,
  epollCtl,
  epollPwait,
  nodeLibuvLoop,
  type LibuvLoop,
} from '../../ffi/epoll.js';
import { isMainThread } from 'node:worker_threads';
import { libuvWatcher, type FdWatch, type FdWatcher, type Readiness, type Wants } from './fd-watch.js';

const MAX_EVENTS = 32;
/** The token of libuv's own epoll descriptor in this loop's set. */
const LIBUV_TOKEN = 0;

interface Watch {
  fd: number;
  wants: Wants;
  onReady: (ready: Readiness) => void;
  /** Registered with epoll (started and not stopped), and with which mask. */
  active: boolean;
  mask: number;
  referenced: boolean;
}

/**
 * A guest run on this thread where the loop would wait
 * (src/vmm/main-thread-vcpu.ts): its KVM_RUN ends when this loop's epoll
 * descriptor (`BlockingLoop.descriptor`) becomes readable.
 */
export interface GuestSlices {
  /** It can run now (started, not paused, not ended). */
  readonly runnable: boolean;
  /** Runs the guest until a descriptor here is ready, `timeoutMs` has passed (-1: no limit), or it cannot run on. */
  runUntilWoken(timeoutMs: number): void;
}

export interface BlockingLoopStats {
  /** Times libuv handed control to this loop. */
  sessions: number;
  /** epoll_pwait calls that returned events. */
  turns: number;
  /** Readiness callbacks made. */
  callbacks: number;
  /** Times the guest ran in place of a wait. */
  guestSlices: number;
}

/** Node's microtask and nextTick queues, drained now (what Node does after each callback it makes). */
const drainTaskQueues = (process as unknown as { _tickCallback(): void })._tickCallback;

export class BlockingLoop implements FdWatcher {
  readonly stats: BlockingLoopStats = { sessions: 0, turns: 0, callbacks: 0, guestSlices: 0 };
  private readonly epfd: number;
  private readonly events = new Uint8Array(MAX_EVENTS * EPOLL_EVENT_SIZE);
  private readonly eventsView = new DataView(this.events.buffer);
  private readonly control = new Uint8Array(EPOLL_EVENT_SIZE);
  private readonly controlView = new DataView(this.control.buffer);
  private readonly watches = new Map<number, Watch>();
  private nextToken = LIBUV_TOKEN + 1;
  /** Readable when this loop wants libuv to call it. */
  private readonly wake: number;
  private readonly wakeWatch: FdWatch;
  private readonly one = new Uint8Array(new BigUint64Array([1n]).buffer);
  private readonly counter = new Uint8Array(8);
  /** Handed to every callback, refilled each time: the data path allocates nothing per event. */
  private readonly ready: Readiness = { readable: false, writable: false, disconnect: false };
  private referenced = 0;
  private closed = false;
  private guest: GuestSlices | undefined;
  private readonly closeOnExit = (): void => this.close();

  constructor(private readonly libuv: LibuvLoop = nodeLibuvLoop()) {
    // uv_default_loop is the main thread's: a worker's loop is another.
    if (!isMainThread) throw new Error("the device loop runs only on a process's main thread");
    if (typeof drainTaskQueues !== 'function') throw new Error("this Node has no process._tickCallback: the device loop cannot drain microtasks");
    this.epfd = epollCreate1(EPOLL_CLOEXEC) as number;
    if (this.epfd < 0) throw new Error(`epoll_create1 failed (errno ${koffi.errno()})`);
    this.epollControl(EPOLL_CTL_ADD, libuv.backendFd(), EPOLLIN, LIBUV_TOKEN);
    this.wake = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC) as number;
    if (this.wake < 0) throw new Error(`eventfd failed (errno ${koffi.errno()})`);
    this.wakeWatch = libuvWatcher.watch(this.wake, { readable: true }, () => this.session());
    this.wakeWatch.unref();
    // Node runs libuv once more while it tears down, when no JS may run: be gone by then.
    process.once('exit', this.closeOnExit);
  }

  watch(fd: number, wants: Wants, onReady: (ready: Readiness) => void): FdWatch {
    if (this.closed) throw new Error('the device loop is closed');
    // As uv_poll_init does: a callback's read must never block the loop.
    setNonBlocking(fd);
    const token = this.nextToken++;
    const w: Watch = { fd, wants, onReady, active: false, mask: 0, referenced: true };
    this.watches.set(token, w);
    const start = (next: Wants, cb: (ready: Readiness) => void) => {
      if (this.closed || !this.watches.has(token)) return;
      w.wants = next;
      w.onReady = cb;
      const mask = epollMask(next);
      // A backend asks again after every turn it serves; as libuv does, only
      // a change reaches the kernel (edge-triggered ones re-arm by asking).
      if (w.active && mask === w.mask && !next.edgeTriggered) return;
      this.epollControl(w.active ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, mask, token);
      w.mask = mask;
      this.setActive(w, true);
    };
    const stop = () => {
      if (!w.active || this.closed) return;
      // A descriptor its owner already closed has left the set by itself.
      this.epollControl(EPOLL_CTL_DEL, fd, 0, token, [EBADF, ENOENT]);
      this.setActive(w, false);
    };
    start(wants, onReady);
    return {
      // As first asked for: every caller that wishes it asks from the start.
      edgeTriggered: wants.edgeTriggered === true,
      start,
      stop,
      close: () => {
        stop();
        this.watches.delete(token);
      },
      ref: () => this.setReferenced(w, true),
      unref: () => this.setReferenced(w, false),
    };
  }

  /** The epoll descriptor every watch (and libuv's own) is in: readable when something here is ready. */
  get descriptor(): number {
    return this.epfd;
  }

  /** Runs `guest` where the loop would wait, while it is runnable; undefined: none. */
  setGuest(guest: GuestSlices | undefined): void {
    this.guest = guest;
  }

  /** Stops serving: every watch is dropped, libuv no longer calls this loop. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    process.removeListener('exit', this.closeOnExit);
    this.watches.clear();
    this.wakeWatch.close();
    close(this.wake);
    close(this.epfd);
  }

  /** Called by libuv: serves this loop's descriptors until libuv has work of its own. */
  private session(): void {
    if (this.closed) return;
    read(this.wake, this.counter, 8);
    this.stats.sessions++;
    try {
      this.serveUntilLibuvHasWork();
    } finally {
      // libuv calls back after its turn (the eventfd stays readable until then).
      if (!this.closed) write(this.wake, this.one, 8);
    }
  }

  private serveUntilLibuvHasWork(): void {
    // libuv's clock stands still while we run, so its timeout counts from the
    // session's start; asked again each turn, it sees timers a callback set.
    const since = performance.now();
    while (!this.closed) {
      // A watcher libuv has yet to register (a callback opened a socket, a
      // write would block) can wake nobody until libuv polls again.
      if (this.libuv.hasQueuedWatchers()) return;
      // With an immediate queued or a timer due, libuv has work now: what is
      // ready here is served first, without waiting, then libuv has its turn
      // (else a chain of immediates would starve these descriptors).
      const timeout = this.libuv.backendTimeout();
      const left = timeout < 0 ? -1 : Math.max(0, Math.ceil(since + timeout - performance.now()));
      const guest = this.guest;
      const guestRuns = guest !== undefined && guest.runnable && left !== 0;
      if (guestRuns) {
        this.stats.guestSlices++;
        guest.runUntilWoken(left);
        // The guest's end resolves promises: their reactions run now, as after a callback.
        drainTaskQueues();
      }
      const n = epollPwait(this.epfd, this.events, MAX_EVENTS, guestRuns ? 0 : left, null) as number;
      if (n < 0) {
        const errno = koffi.errno();
        if (errno === EINTR || errno === EAGAIN) return; // a signal: libuv's handler has news
        throw new Error(`epoll_pwait failed (errno ${errno})`);
      }
      // After a slice with nothing ready (a timer, a pause, the end): look again.
      if (n === 0 && guestRuns) continue;
      if (n === 0) return;
      this.stats.turns++;
      let libuvReady = false;
      for (let i = 0; i < n; i++) {
        const at = i * EPOLL_EVENT_SIZE;
        const mask = this.eventsView.getUint32(at, true);
        const token = this.eventsView.getUint32(at + EPOLL_EVENT_DATA_OFFSET, true);
        if (token === LIBUV_TOKEN) {
          libuvReady = true;
          continue;
        }
        const w = this.watches.get(token);
        // An earlier callback in this turn may have stopped or closed it.
        if (w === undefined || !w.active) continue;
        this.stats.callbacks++;
        w.onReady(readiness(mask, w.wants, this.ready));
      }
      drainTaskQueues();
      if (libuvReady || left === 0) return;
    }
  }

  private epollControl(op: number, fd: number, mask: number, token: number, tolerated: readonly number[] = []): void {
    this.controlView.setUint32(0, mask, true);
    this.controlView.setUint32(EPOLL_EVENT_DATA_OFFSET, token, true);
    this.controlView.setUint32(EPOLL_EVENT_DATA_OFFSET + 4, 0, true);
    if ((epollCtl(this.epfd, op, fd, this.control) as number) >= 0) return;
    const errno = koffi.errno();
    if (!tolerated.includes(errno)) throw new Error(`epoll_ctl(${op}) on fd ${fd} failed (errno ${errno})`);
  }

  /** Like a libuv handle, a watch keeps the process alive while it is started and referenced. */
  private setActive(w: Watch, active: boolean): void {
    if (w.active === active) return;
    w.active = active;
    if (w.referenced) this.countReference(active ? 1 : -1);
  }

  private setReferenced(w: Watch, referenced: boolean): void {
    if (w.referenced === referenced) return;
    w.referenced = referenced;
    if (w.active) this.countReference(referenced ? 1 : -1);
  }

  private countReference(delta: number): void {
    const before = this.referenced;
    this.referenced += delta;
    if (before === 0 && this.referenced > 0) this.wakeWatch.ref();
    else if (before > 0 && this.referenced === 0) this.wakeWatch.unref();
  }
}

/** epoll's events for `wants` (poll(2) takes the same bits for the level-triggered ones: Linux defines them alike). */
export function epollMask(wants: Wants): number {
  return (wants.readable ? EPOLLIN : 0) | (wants.writable ? EPOLLOUT : 0) | (wants.disconnect ? EPOLLRDHUP : 0) | (wants.edgeTriggered ? EPOLLET : 0);
}

/** As libuv reports it: an error or hang-up wakes whatever the watch wanted. */
export function readiness(mask: number, wants: Wants, into: Readiness): Readiness {
  const failed = (mask & (EPOLLERR | EPOLLHUP)) !== 0;
  into.readable = (mask & EPOLLIN) !== 0 || (failed && wants.readable);
  into.writable = (mask & EPOLLOUT) !== 0 || (failed && wants.writable === true);
  into.disconnect = (mask & EPOLLRDHUP) !== 0 || ((mask & EPOLLHUP) !== 0 && wants.disconnect === true);
  return into;
}
