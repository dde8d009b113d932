// Catalog entry of the ACPI reset register (src/devices/acpi-reset.ts): one
// port, named by the FADT's RESET_REG (src/vmm/acpi-platform.ts); writing
// RESET_VALUE to it ends the VM as a reset.
import { AcpiResetRegister } from '../acpi-reset.js';
import type { PlatformDeviceKind } from '../device-kind.js';

export interface AcpiResetDefinition {
  type: 'acpi-reset';
  name: string;
  port: number;
}

export const acpiResetKind: PlatformDeviceKind<AcpiResetDefinition> = {
  type: 'acpi-reset',
  family: 'platform',
  hosts: ['vcpu-thread'],
  entry: { fields: ['port'], parse: (d, r, path) => ({ port: r.port(d.port, `${path}.port`) }) },
  host: () => 'vcpu-thread',
  windows: (d) => [{ space: 'pio', base: d.port, size: 1, field: 'port' }],
  coalescable: [],
  coalesced: () => false,
  build: (_d, env) => new AcpiResetRegister(() => env.guestReset('guest requested a reset through the ACPI reset register')),
};
