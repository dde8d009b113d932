// The sleep control and status register of a hardware-reduced ACPI platform
// (ACPI 6.5 §4.8.3.7): the FADT's SLEEP_CONTROL_REG and SLEEP_STATUS_REG both
// name this one I/O port (src/boot/acpi/fadt.ts). It is how such a platform
// powers off: the guest writes SLP_TYP = 5 (the DSDT's \_S5_) with SLP_EN, and
// the VM ends with status 0, as a guest's `poweroff` should. Other sleep
// states do nothing (a VM has nothing to wake it from S1..S4: the guest's
// suspend fails and it carries on). Reads see the status register with
// WAK_STS clear; the guest's write of WAK_STS to clear it is ignored.
import type { BusDevice } from '../bus/device.js';
import { S5_SLEEP_TYPE, SleepControl } from '../boot/acpi/fadt.js';

export class AcpiSleepRegister implements BusDevice {
  readonly name = 'acpi-sleep';

  constructor(private readonly onPowerOff: () => void) {}

  read(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }

  write(_offset: number, data: Uint8Array): void {
    const value = data[0];
    if ((value & SleepControl.enable) === 0) return;
    if ((value & SleepControl.typeMask) >> SleepControl.typeShift === S5_SLEEP_TYPE) this.onPowerOff();
  }
}
