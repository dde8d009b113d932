// The MMIO window a device definition occupies (for devices that can be
// served from elsewhere: a device process, the kernel's ioregionfd).
import type { DeviceDefinition } from '../machine/machine-definition.js';
import { TEST_DEVICE_SIZE } from './test-device.js';

export function deviceRegion(d: DeviceDefinition): { base: number; size: number } | undefined {
  switch (d.type) {
    case 'test-device':
      return { base: d.base, size: TEST_DEVICE_SIZE };
    default:
      return undefined;
  }
}
