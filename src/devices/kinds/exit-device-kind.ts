// Catalog entry of the exit device (src/devices/exit-device.ts): one port; a
// byte written to it ends the VM with that status.
import type { PlatformDeviceKind } from '../device-kind.js';
import { ExitDevice } from '../exit-device.js';

export interface ExitDeviceDefinition {
  type: 'exit-device';
  name: string;
  port: number;
}

export const exitDeviceKind: PlatformDeviceKind<ExitDeviceDefinition> = {
  type: 'exit-device',
  family: 'platform',
  hosts: ['vcpu-thread'],
  entry: { fields: ['port'], parse: (d, r, path) => ({ port: r.port(d.port, `${path}.port`) }) },
  host: () => 'vcpu-thread',
  windows: (d) => [{ space: 'pio', base: d.port, size: 1, field: 'port' }],
  coalescable: [],
  coalesced: () => false,
  build: (_d, env) => new ExitDevice((status) => env.guestExited(status)),
};
