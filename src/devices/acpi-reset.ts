// The reset register of an ACPI platform (ACPI 6.5 §4.8.3.6): the FADT's
// RESET_REG names this one I/O port and RESET_VALUE the byte to write
// (src/boot/acpi/fadt.ts). Linux's `reboot` tries it first (reboot=acpi is
// its x86 default) and falls back to the i8042 only when the FADT has none.
// Writing RESET_VALUE ends the VM as any guest reset does; other values do
// nothing, as on hardware whose reset register ignores them. Reads are 0.
import type { BusDevice } from '../bus/device.js';
import { ACPI_RESET_VALUE } from '../boot/acpi/fadt.js';

export class AcpiResetRegister implements BusDevice {
  readonly name = 'acpi-reset';

  /** `onReset` ends the VM: tsvmm has no firmware to reboot into. */
  constructor(private readonly onReset: () => void) {}

  read(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }

  write(_offset: number, data: Uint8Array): void {
    if (data[0] === ACPI_RESET_VALUE) this.onReset();
  }
}
