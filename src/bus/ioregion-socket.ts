// The socket an ioregionfd-protocol region travels over: a SOCK_SEQPACKET
// pair, so that every command and response is one message.
import { AF_UNIX, SOCK_CLOEXEC, SOCK_SEQPACKET, check, socketpair } from '../../ffi/libc.js';

/** `vmmEnd` goes to the vCPU thread's IoregionClient, `deviceEnd` to the IoregionServer. */
export function createRegionSockets(): { vmmEnd: number; deviceEnd: number } {
  const sv = new Int32Array(2);
  check(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) as number, 'socketpair');
  return { vmmEnd: sv[0], deviceEnd: sv[1] };
}
