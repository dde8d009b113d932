// The catalog entry shape shared by platform devices that are one I/O port
// served on the vCPU thread (exit device, ACPI sleep and reset registers):
// the machine file gives `port`, nothing is coalesced, and the model is built
// from the vCPU environment alone.
import type { BusDevice } from '../../bus/device.js';
import type { PlatformDeviceKind, VcpuEnvironment } from '../device-kind.js';

export interface OnePortDefinition<T extends string> {
  type: T;
  name: string;
  port: number;
}

export function onePortKind<T extends string>(type: T, build: (env: VcpuEnvironment) => BusDevice): PlatformDeviceKind<OnePortDefinition<T>> {
  return {
    type,
    family: 'platform',
    hosts: ['vcpu-thread'],
    entry: { fields: ['port'], parse: (d, r, path) => ({ port: r.port(d.port, `${path}.port`) }) },
    host: () => 'vcpu-thread',
    windows: (d) => [{ space: 'pio', base: d.port, size: 1, field: 'port' }],
    coalescable: [],
    coalesced: () => false,
    build: (_d, env) => build(env),
  };
}
