// Just enough of the i8042 keyboard controller for a guest to reboot the
// machine: command 0xFE on port 0x64 pulses the CPU reset line.
import type { BusDevice } from '../bus/device.js';

export const I8042_DATA_PORT = 0x60;
export const I8042_COMMAND_PORT = 0x64;
const CMD_READ_CONTROLLER_CONFIG = 0x20;
const CMD_PULSE_RESET = 0xfe;
const STATUS_OUTPUT_FULL = 0x01;

export class I8042 implements BusDevice {
  readonly name = 'i8042';
  private output: number | undefined;

  /** `onReset` ends the VM: tsvmm has no firmware to reboot into. */
  constructor(private readonly onReset: () => void) {}

  /** Offsets are relative to port 0x60; the controller spans 0x60..0x64. */
  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (offset === 0) {
      data[0] = this.output ?? 0;
      this.output = undefined;
    } else if (offset === I8042_COMMAND_PORT - I8042_DATA_PORT) {
      data[0] = this.output === undefined ? 0 : STATUS_OUTPUT_FULL;
    }
  }

  write(offset: number, data: Uint8Array): void {
    if (offset !== I8042_COMMAND_PORT - I8042_DATA_PORT) return;
    if (data[0] === CMD_PULSE_RESET) this.onReset();
    else if (data[0] === CMD_READ_CONTROLLER_CONFIG) this.output = 0;
  }
}
