// A NIC given no MAC gets one from its name: locally administered under
// QEMU's 52:54:00 prefix, the same on every run, different between NICs.
import { describe, expect, it } from 'vitest';
import { macFor, netDevice } from '../../src/devices/kinds/virtio-net-kind.js';
import { parseNetSpec } from '../../src/net/net-spec.js';

describe('a NIC without a MAC', () => {
  it('gets a stable one from its name, distinct per NIC', () => {
    const macs = ['net0', 'net1', 'net2', 'uplink'].map(macFor);
    for (const mac of macs) expect(mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(new Set(macs).size).toBe(macs.length);
    expect(macFor('net0')).toBe(macFor('net0'));
    expect(netDevice(parseNetSpec('user'), 1).mac).toBe(macFor('net1'));
    expect(netDevice(parseNetSpec('user,mac=52:54:00:aa:bb:cc'), 1).mac).toBe('52:54:00:aa:bb:cc');
  });
});
