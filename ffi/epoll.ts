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
 * Node's own libuv loop, through the symbols the node binary exports: its
 * epoll descriptor (readable when libuv has work) and how long libuv may
 * sleep before a timer is due (-1: no timer; 0: work is pending now).
 */
export interface LibuvLoop {
  backendFd(): number;
  backendTimeout(): number;
}

let libuv: LibuvLoop | undefined;

export function nodeLibuvLoop(): LibuvLoop {
  if (libuv !== undefined) return libuv;
  const self = koffi.load(null as unknown as string);
  const defaultLoop = self.func('void *uv_default_loop(void)');
  const backendFd = self.func('int uv_backend_fd(void *loop)');
  const backendTimeout = self.func('int uv_backend_timeout(void *loop)');
  const loop = defaultLoop();
  libuv = { backendFd: () => backendFd(loop) as number, backendTimeout: () => backendTimeout(loop) as number };
  return libuv;
}
