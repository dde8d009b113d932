// Catalog entry of the ACPI reset register (src/devices/acpi-reset.ts): one
// port, named by the FADT's RESET_REG (src/vmm/acpi-platform.ts); writing
// RESET_VALUE to it ends the VM as a reset.
import { AcpiResetRegister } from '../acpi-reset.js';
import { onePortKind, type OnePortDefinition } from './one-port-kind.js';

export type AcpiResetDefinition = OnePortDefinition<'acpi-reset'>;

export const acpiResetKind = onePortKind('acpi-reset', (env) => new AcpiResetRegister(() => env.guestReset('guest requested a reset through the ACPI reset register')));
