// SOCK_SEQPACKET pairs for the ioregionfd-protocol tests, closed after each test.
import { afterEach, expect } from 'vitest';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_SEQPACKET, close, socketpair } from '../../ffi/libc.js';

/**
 * Registers the cleanup in the calling test file. `pair()` makes a
 * [VMM end, device end] pair; `closeNow(fd)` closes one end during a test.
 */
export function regionSocketPairs(opts: { nonBlocking?: boolean } = {}): { pair: () => [number, number]; closeNow: (fd: number) => void } {
  const open: number[] = [];
  afterEach(() => open.splice(0).forEach((fd) => close(fd)));
  return {
    pair: () => {
      const sv = new Int32Array(2);
      expect(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | (opts.nonBlocking ? SOCK_NONBLOCK : 0), 0, sv)).toBe(0);
      open.push(sv[0], sv[1]);
      return [sv[0], sv[1]];
    },
    closeNow: (fd) => {
      close(fd);
      open.splice(open.indexOf(fd), 1);
    },
  };
}
