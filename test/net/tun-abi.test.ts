// The tun/tap ABI tsvmm uses (ffi/tun.ts), checked against <linux/if_tun.h>
// and <net/if.h> with a compiled probe.
import { expect, it } from 'vitest';
import * as tun from '../../ffi/tun.js';
import { findCCompiler } from '../support/c-compiler.js';
import { probeC, type CCheck } from '../support/c-probe.js';
import { describeNeeding } from '../support/host-requirements.js';

const names = ['TUNSETIFF', 'TUNSETOFFLOAD', 'TUNSETVNETHDRSZ', 'TUN_F_CSUM', 'TUN_F_TSO4', 'TUN_F_TSO6', 'TUN_F_TSO_ECN', 'IFF_TAP', 'IFF_NO_PI', 'IFF_VNET_HDR', 'IFNAMSIZ'] as const;
const checks: CCheck[] = [
  ...names.map((name): CCheck => [name, name, tun[name]]),
  ['IFREQ_SIZE', 'sizeof(struct ifreq)', tun.IFREQ_SIZE],
  ['IFREQ_FLAGS_OFFSET', 'offsetof(struct ifreq, ifr_flags)', tun.IFREQ_FLAGS_OFFSET],
];

const cc = findCCompiler();
describeNeeding(cc ? undefined : 'no C compiler on PATH', 'the tun ABI matches the kernel headers', () => {
  const values = cc ? probeC(cc, ['sys/ioctl.h', 'net/if.h', 'linux/if_tun.h', 'stddef.h'], checks) : new Map<string, number>();
  for (const [name, , expected] of checks) it(name, () => expect(values.get(name)).toBe(expected));
});
