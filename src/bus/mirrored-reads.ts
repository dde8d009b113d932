// The vCPU thread's view of a forwarded window whose device publishes some
// registers in a RegisterMirror (register-mirror.ts): a one-byte read of a
// mirrored register is answered here, everything else goes to the device.
import type { BusDevice } from './device.js';
import { NOT_MIRRORED, RegisterMirror } from './register-mirror.js';

export class MirroredReads implements BusDevice {
  readonly name: string;
  private readonly mirror: RegisterMirror;
  /** Reads answered here, without the device (`run --stats`). */
  readsAnswered = 0;

  constructor(
    private readonly device: BusDevice,
    shared: SharedArrayBuffer,
  ) {
    this.name = device.name;
    this.mirror = new RegisterMirror(shared);
  }

  read(offset: number, data: Uint8Array): void {
    const value = data.length === 1 ? this.mirror.lookup(offset) : NOT_MIRRORED;
    if (value === NOT_MIRRORED) return this.device.read(offset, data);
    data[0] = value;
    this.readsAnswered++;
  }

  write(offset: number, data: Uint8Array): void {
    this.device.write(offset, data);
  }
}
