// What each device of a machine definition occupies in the guest's address
// spaces: a range of I/O ports or an MMIO window. The machine parser checks
// these (no overlaps, MMIO only in the gap) so a bad file fails when it is
// read, naming the field, instead of when the buses are built.
import { TEST_DEVICE_SIZE } from '../devices/test-device.js';
import { VIRTIO_MMIO_WINDOW } from '../devices/virtio/virtio-mmio.js';
import type { DeviceDefinition } from './machine-definition.js';

/** Port spans as src/vmm/vcpu-worker.ts registers them on the PIO bus. */
export const PORT_SPAN = { 'uart16550': 8, 'exit-device': 1, 'i8042': 5 } as const; // i8042: 0x60 (data) .. 0x64 (command)

/** A virtio-mmio slot holds one transport window; smaller slots would overlap their neighbours. */
export const MIN_VIRTIO_SLOT = VIRTIO_MMIO_WINDOW;

export interface Footprint {
  space: 'pio' | 'mmio';
  base: number;
  size: number;
  /** The field that placed it, for error messages (relative to the device). */
  field: string;
}

export function deviceFootprint(d: DeviceDefinition): Footprint {
  switch (d.type) {
    case 'uart16550':
    case 'exit-device':
    case 'i8042':
      return { space: 'pio', base: d.port, size: PORT_SPAN[d.type], field: 'port' };
    case 'test-device':
      return { space: 'mmio', base: d.base, size: TEST_DEVICE_SIZE, field: 'base' };
    case 'virtio-mmio':
      return { space: 'mmio', base: d.base, size: d.slotSize * d.irqs.length, field: 'base' };
  }
}
