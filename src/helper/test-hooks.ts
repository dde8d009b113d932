// Test-only probes the sandbox tests run from inside a real, jailed helper
// (TSVMM_TEST_HOOK=...). They show what a guest that took over a device model
// would meet. Each reports through the log stream, one JSON line per probe.
import { openSync } from 'node:fs';
import { koffi } from '../../ffi/koffi.js';
import { ioctlValue, libc } from '../../ffi/libc.js';
import type { Logger } from '../log.js';

const TIOCSTI = 0x5412; // a terminal ioctl the policy does not list

export function runTestHook(hook: string | undefined, kvmFd: number, hostPid: number, log: Logger): void {
  if (!hook) return;
  switch (hook) {
    case 'probe': {
      let openHostFile: string;
      try {
        openSync('/etc/passwd', 'r');
        openHostFile = 'opened';
      } catch (e) {
        openHostFile = (e as NodeJS.ErrnoException).code ?? 'failed';
      }
      // Listing network interfaces needs a netlink socket, which the filter
      // (rightly) kills: the test reads /proc/<hostPid>/net/dev from outside
      // while the helper waits here.
      log.warn({ probe: 'jail', openHostFile, hostPid }, 'test hook: jail probe');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
      return;
    }
    case 'forbidden-syscall': {
      const socket = libc.func('int socket(int domain, int type, int protocol)');
      socket(2, 1, 0); // AF_INET stream socket: not in the policy, the filter kills us
      return;
    }
    case 'forbidden-ioctl':
      ioctlValue(kvmFd, TIOCSTI, 0); // an ioctl number outside the list
      log.warn({ probe: 'ioctl', errno: koffi.errno() }, 'test hook: forbidden ioctl returned');
      return;
    default:
      log.warn({ hook }, 'unknown test hook');
  }
}
