// epoll(7) and the libuv entry points a loop of our own needs to live beside
// Node's: what src/bus/blocking-loop.ts waits in. Layouts and constants are
// checked against <sys/epoll.h> by test/ffi/epoll-abi.test.ts.
import { koffi, libc } from './libc.js';

export const epollCreate1 = libc.func('int epoll_create1(int flags)');
export const epollCtl = libc.func('int epoll_ctl(int epfd, int op, int fd, const uint8_t *event)');
/** epoll_pwait with a null sigmask: the system call the sandbox already allows for libuv. */
export const epollPwait = libc.func('int epoll_pwait(int epfd, _Out_ uint8_t *events, int maxevents, int timeout, void *sigmask)');

export const EPOLL_CLOEXEC = 0o2000000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLLIN = 0x001;
export const EPOLLOUT = 0x004;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
export const EPOLLRDHUP = 0x2000;
/** Edge-triggered: each new event is reported once (for an eventfd: every write). */
export const EPOLLET = 0x80000000;

/** struct epoll_event is packed on x86-64: a u32 event mask, then a u64 of user data at offset 4. */
export const EPOLL_EVENT_SIZE = 12;
export const EPOLL_EVENT_DATA_OFFSET = 4;

/**
 * offsetof(uv_loop_t, watcher_queue) on x86-64 (libuv 1.x keeps uv_loop_t's
 * layout, which <uv.h> makes public): the watchers libuv has started but not
 * yet added to its epoll set. Checked against Node's own headers by
 * test/ffi/epoll-abi.test.ts.
 */
export const UV_LOOP_WATCHER_QUEUE_OFFSET = 88;

/**
 * Node's own libuv loop, through the symbols the node binary exports: its
 * epoll descriptor (readable when libuv has work) and how long libuv may
 * sleep before a timer is due (-1: no timer; 0: work is pending now).
 */
export interface LibuvLoop {
  backendFd(): number;
  backendTimeout(): number;
  /**
   * libuv has watchers it will add to its epoll set only when it next polls
   * (uv__io_start queues them: a socket just opened, a pipe write that
   * would block). Until it does, their events cannot make backendFd readable.
   */
  hasQueuedWatchers(): boolean;
}

let libuv: LibuvLoop | undefined;

export function nodeLibuvLoop(): LibuvLoop {
  if (libuv !== undefined) return libuv;
  const self = koffi.load(null as unknown as string);
  const defaultLoop = self.func('void *uv_default_loop(void)');
  const backendFd = self.func('int uv_backend_fd(void *loop)');
  const backendTimeout = self.func('int uv_backend_timeout(void *loop)');
  const loop = defaultLoop();
  // The queue's head is read in place (the default loop is static): an empty
  // queue's `next` points at the head itself. Two 32-bit halves, no BigInt.
  const at = UV_LOOP_WATCHER_QUEUE_OFFSET / 4;
  const words = new Uint32Array(koffi.view(loop, UV_LOOP_WATCHER_QUEUE_OFFSET + 8));
  const head = koffi.address(loop) + BigInt(UV_LOOP_WATCHER_QUEUE_OFFSET);
  const headLow = Number(head & 0xffffffffn);
  const headHigh = Number(head >> 32n);
  libuv = {
    backendFd: () => backendFd(loop) as number,
    backendTimeout: () => backendTimeout(loop) as number,
    hasQueuedWatchers: () => words[at] !== headLow || words[at + 1] !== headHigh,
  };
  return libuv;
}
