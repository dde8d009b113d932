// The test device: an MMIO register file with plain read/write semantics plus
// a doorbell with a side effect, for tiny test guests and benchmarks.
//
//   0x000..0x7ff  scratch bytes: read back what was written; writes have no
//                 side effect, so this window may be coalesced by KVM
//   0x800         DOORBELL (write): RESULT := 32-bit sum of the scratch bytes
//   0x808         RESULT (read)
//   0x810         WRITES (read): scratch writes applied so far
//   0x818         SCRATCH_SIZE (read)
import type { BusDevice } from '../bus/device.js';

export const TEST_DEVICE_SIZE = 0x1000;
export const TEST_SCRATCH_SIZE = 0x800;
export const TEST_DOORBELL = 0x800;
export const TEST_RESULT = 0x808;
export const TEST_WRITES = 0x810;
export const TEST_SCRATCH_SIZE_REG = 0x818;

export class TestDevice implements BusDevice {
  readonly scratch = new Uint8Array(TEST_SCRATCH_SIZE);
  result = 0;
  writes = 0;
  doorbells = 0;

  constructor(readonly name: string) {}

  /** Register windows whose writes may be delayed without the guest noticing. */
  static readonly coalescable = [{ offset: 0, size: TEST_SCRATCH_SIZE }] as const;

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (offset + data.length <= TEST_SCRATCH_SIZE) {
      data.set(this.scratch.subarray(offset, offset + data.length));
      return;
    }
    const value = offset === TEST_RESULT ? this.result : offset === TEST_WRITES ? this.writes : offset === TEST_SCRATCH_SIZE_REG ? TEST_SCRATCH_SIZE : 0;
    for (let i = 0; i < data.length && i < 4; i++) data[i] = (value >>> (8 * i)) & 0xff;
  }

  write(offset: number, data: Uint8Array): void {
    if (offset + data.length <= TEST_SCRATCH_SIZE) {
      this.scratch.set(data, offset);
      this.writes++;
      return;
    }
    if (offset === TEST_DOORBELL) {
      let sum = 0;
      for (let i = 0; i < TEST_SCRATCH_SIZE; i++) sum = (sum + this.scratch[i]) >>> 0;
      this.result = sum;
      this.doorbells++;
    }
  }
}
