// Catalog entry of the ACPI sleep register (src/devices/acpi-sleep.ts): one
// port, named by the ACPI tables' FADT (src/vmm/acpi-platform.ts); writing S5
// to it powers the VM off with status 0.
import { AcpiSleepRegister } from '../acpi-sleep.js';
import type { PlatformDeviceKind } from '../device-kind.js';

export interface AcpiSleepDefinition {
  type: 'acpi-sleep';
  name: string;
  port: number;
}

export const acpiSleepKind: PlatformDeviceKind<AcpiSleepDefinition> = {
  type: 'acpi-sleep',
  family: 'platform',
  hosts: ['vcpu-thread'],
  entry: { fields: ['port'], parse: (d, r, path) => ({ port: r.port(d.port, `${path}.port`) }) },
  host: () => 'vcpu-thread',
  windows: (d) => [{ space: 'pio', base: d.port, size: 1, field: 'port' }],
  coalescable: [],
  coalesced: () => false,
  build: (_d, env) => new AcpiSleepRegister(() => env.guestPoweredOff()),
};
