// The packet-socket ABI the network benchmark's tap far end uses
// (ffi/packet-socket.ts), checked against the C headers with a compiled probe.
import { expect, it } from 'vitest';
import * as packet from '../../ffi/packet-socket.js';
import { findCCompiler } from '../support/c-compiler.js';
import { probeC, type CCheck } from '../support/c-probe.js';
import { describeNeeding } from '../support/host-requirements.js';

const names = ['AF_PACKET', 'SOCK_RAW', 'ETH_P_ALL', 'SOL_PACKET', 'PACKET_IGNORE_OUTGOING'] as const;
const checks: CCheck[] = [
  ...names.map((name): CCheck => [name, name, packet[name]]),
  ['SOCKADDR_LL_SIZE', 'sizeof(struct sockaddr_ll)', packet.SOCKADDR_LL_SIZE],
  ['SLL_PROTOCOL_OFFSET', 'offsetof(struct sockaddr_ll, sll_protocol)', packet.SLL_PROTOCOL_OFFSET],
  ['SLL_IFINDEX_OFFSET', 'offsetof(struct sockaddr_ll, sll_ifindex)', packet.SLL_IFINDEX_OFFSET],
  ['sll_family at 0', 'offsetof(struct sockaddr_ll, sll_family)', 0],
];

const cc = findCCompiler();
describeNeeding(cc ? undefined : 'no C compiler on PATH', 'the packet-socket ABI matches the kernel headers', () => {
  const values = cc ? probeC(cc, ['sys/socket.h', 'linux/if_packet.h', 'linux/if_ether.h'], checks) : new Map<string, number>();
  for (const [name, , expected] of checks) it(name, () => expect(values.get(name)).toBe(expected));
});
