// Signal masks, waits and POSIX timers: what a vCPU thread needs to be
// interrupted out of KVM_RUN by a signal that never reaches a handler (and so
// never wakes Node's loop, which runs every handler it knows of on the main
// thread). Layouts and constants are checked against the C headers by
// test/ffi/signals-abi.test.ts.
import { libc } from './libc.js';

/** glibc's sigset_t: 1024 bits. The kernel's own is the first 8 bytes of it. */
export const SIGSET_BYTES = 128;
/** The kernel's sigset_t (what KVM_SET_SIGNAL_MASK and rt_sig* take). */
export const KERNEL_SIGSET_BYTES = 8;

export const SIG_BLOCK = 0;
export const SIG_UNBLOCK = 1;
/** signal(2)'s handler argument for "discard the signal" ((sighandler_t) 1). */
export const SIG_IGN = 1;
/** signal(2)'s failure ((sighandler_t) -1). */
export const SIG_ERR = -1;

export const CLOCK_MONOTONIC = 1;
/** sigevent.sigev_notify: signal the thread whose id is in sigev_notify_thread_id (Linux). */
export const SIGEV_THREAD_ID = 4;

/** struct sigevent (x86-64). */
export const SIGEVENT_SIZE = 64;
export const SIGEVENT_SIGNO_OFFSET = 8;
export const SIGEVENT_NOTIFY_OFFSET = 12;
export const SIGEVENT_THREAD_ID_OFFSET = 16;
/** struct itimerspec: it_interval then it_value, each a struct timespec of two 64-bit fields. */
export const ITIMERSPEC_SIZE = 32;
export const ITIMERSPEC_VALUE_OFFSET = 16;
export const TIMESPEC_SIZE = 16;

export const pthreadSigmask = libc.func('int pthread_sigmask(int how, const uint8_t *set, _Out_ uint8_t *oldset)');
/** With a zero timeout: takes a pending signal of `set` if there is one (its number), else -1/EAGAIN. */
export const sigtimedwait = libc.func('int sigtimedwait(const uint8_t *set, void *info, const uint8_t *timeout)');
/** The handler as an integer: only SIG_IGN / SIG_DFL are ever passed. */
export const signalDisposition = libc.func('intptr_t signal(int signum, intptr_t handler)');
/** timer_t is a pointer-sized handle: read it from the 8 bytes `timerid` receives. */
export const timerCreate = libc.func('int timer_create(int clockid, const uint8_t *sevp, _Out_ uint8_t *timerid)');
export const timerSettime = libc.func('int timer_settime(uintptr_t timerid, int flags, const uint8_t *new_value, void *old_value)');
export const timerDelete = libc.func('int timer_delete(uintptr_t timerid)');

/** A sigset (either size) holding `signals`. */
export function sigset(bytes: number, ...signals: number[]): Uint8Array {
  const set = new Uint8Array(bytes);
  for (const s of signals) set[(s - 1) >> 3] |= 1 << ((s - 1) & 7);
  return set;
}
