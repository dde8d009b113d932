// Catalog entry of the i8042 reset line (src/devices/i8042.ts): ports 0x60
// (data) to 0x64 (command) from its base; command 0xFE ends the VM.
import type { PlatformDeviceKind } from '../device-kind.js';
import { I8042, I8042_COMMAND_PORT, I8042_DATA_PORT } from '../i8042.js';

export interface I8042Definition {
  type: 'i8042';
  name: string;
  port: number;
}

export const i8042Kind: PlatformDeviceKind<I8042Definition> = {
  type: 'i8042',
  family: 'platform',
  hosts: ['vcpu-thread'],
  entry: { fields: ['port'], parse: (d, r, path) => ({ port: r.port(d.port, `${path}.port`) }) },
  host: () => 'vcpu-thread',
  windows: (d) => [{ space: 'pio', base: d.port, size: I8042_COMMAND_PORT - I8042_DATA_PORT + 1, field: 'port' }],
  coalescable: [],
  coalesced: () => false,
  build: (_d, env) => new I8042(() => env.guestReset('guest requested a reset through the i8042 controller')),
};
