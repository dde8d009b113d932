// Catalog entry of the MMIO test device (src/devices/test-device.ts): one
// 4 KiB window, its scratch half coalescable; served on the vCPU thread or,
// with `process: separate`, by its own jailed process.
import type { DeviceProcess } from '../../machine/field-reader.js';
import type { PlatformDeviceKind } from '../device-kind.js';
import { TEST_DEVICE_SIZE, TestDevice } from '../test-device.js';

export interface TestDeviceDefinition {
  type: 'test-device';
  name: string;
  base: number;
  /** Let KVM coalesce writes to the scratch window. */
  coalesced: boolean;
  process: DeviceProcess;
}

export const testDeviceKind: PlatformDeviceKind<TestDeviceDefinition> = {
  type: 'test-device',
  family: 'platform',
  hosts: ['vcpu-thread', 'device-process'],
  entry: {
    fields: ['base', 'coalesced', 'process'],
    parse: (d, r, path) => ({
      base: r.address(d.base, `${path}.base`),
      coalesced: d.coalesced === undefined ? true : r.boolean(d.coalesced, `${path}.coalesced`),
      process: r.deviceProcess(d.process, `${path}.process`),
    }),
  },
  host: (d) => (d.process === 'separate' ? 'device-process' : 'vcpu-thread'),
  windows: (d) => [{ space: 'mmio', base: d.base, size: TEST_DEVICE_SIZE, field: 'base' }],
  coalescable: TestDevice.coalescable,
  coalesced: (d) => d.coalesced,
  build: (d) => new TestDevice(d.name),
};
