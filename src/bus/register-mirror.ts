// Registers a device served on another thread publishes for the vCPU threads
// to read without a round trip (with several vCPUs the platform devices live
// on the main thread: src/vmm/shared-platform-devices.ts). One word per byte
// offset of the window, in shared memory: the value a one-byte read of that
// register returns *now*, when that read would change nothing in the device,
// or NOT_MIRRORED when the read must go to the device. The device publishes
// after every access it serves, before the answer goes back, so a vCPU
// whose own accesses have all been answered (writes to these windows wait)
// reads what the device would have said. Another vCPU's access being served
// at the same time is a race the guest has anyway: the read then simply
// happened first.
//
// Why: Linux's 8250 console driver reads the UART's line status before every
// byte it prints. Forwarded to the main thread that read cost 210-350 µs more
// than one answered in the vCPU thread in the nested L1 (BENCHMARKS.md, "A
// device exit with several vCPUs"); answered from the mirror it costs the same.

import type { BusDevice } from './device.js';

export const NOT_MIRRORED = -1;

/** A device model that can keep a RegisterMirror of its window up to date. */
export interface MirrorsRegisters extends BusDevice {
  mirrorRegisters(mirror: RegisterMirror): void;
}

export function mirrorsRegisters(device: BusDevice): device is MirrorsRegisters {
  return typeof (device as Partial<MirrorsRegisters>).mirrorRegisters === 'function';
}

export class RegisterMirror {
  private readonly words: Int32Array;

  /** The owner's side: a mirror of a `size`-byte window with nothing mirrored yet. */
  static create(size: number): RegisterMirror {
    const mirror = new RegisterMirror(new SharedArrayBuffer(size * Int32Array.BYTES_PER_ELEMENT));
    mirror.words.fill(NOT_MIRRORED);
    return mirror;
  }

  /** `shared`: a mirror's memory (`create(size).shared`), seen from another thread. */
  constructor(readonly shared: SharedArrayBuffer) {
    this.words = new Int32Array(shared);
  }

  get size(): number {
    return this.words.length;
  }

  /** The device: a one-byte read at `offset` now returns `value` and changes nothing (or NOT_MIRRORED: it must be asked). */
  publish(offset: number, value: number): void {
    Atomics.store(this.words, offset, value < 0 ? NOT_MIRRORED : value & 0xff);
  }

  /** A vCPU thread: the byte a one-byte read at `offset` returns, or NOT_MIRRORED. */
  lookup(offset: number): number {
    return offset >= 0 && offset < this.size ? Atomics.load(this.words, offset) : NOT_MIRRORED;
  }
}
