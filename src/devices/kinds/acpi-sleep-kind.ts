// Catalog entry of the ACPI sleep register (src/devices/acpi-sleep.ts): one
// port, named by the ACPI tables' FADT (src/vmm/acpi-platform.ts); writing S5
// to it powers the VM off with status 0.
import { AcpiSleepRegister } from '../acpi-sleep.js';
import { onePortKind, type OnePortDefinition } from './one-port-kind.js';

export type AcpiSleepDefinition = OnePortDefinition<'acpi-sleep'>;

export const acpiSleepKind = onePortKind('acpi-sleep', (env) => new AcpiSleepRegister(() => env.guestPoweredOff()));
