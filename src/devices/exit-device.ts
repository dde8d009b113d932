// The exit device: one write-only I/O port. A byte written to it ends the VM,
// and the byte becomes the VMM's process exit status. Same port as QEMU's
// `isa-debug-exit,iobase=0x501,iosize=1`, so one guest works under both.
import type { BusDevice } from '../bus/device.js';

export const EXIT_DEVICE_PORT = 0x501;

export class ExitDevice implements BusDevice {
  readonly name = 'exit';

  constructor(private readonly onExit: (status: number) => void) {}

  read(_offset: number, data: Uint8Array): void {
    data.fill(0xff);
  }

  write(_offset: number, data: Uint8Array): void {
    this.onExit(data[0]);
  }
}
