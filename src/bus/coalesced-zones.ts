// Which guest-physical (or port) ranges of each device KVM may coalesce.
// A device model declares the windows where a delayed write changes nothing
// the guest can observe before its next exit (every exit drains the ring
// first); the machine file can switch coalescing off per device.
import { TestDevice } from '../devices/test-device.js';
import { Uart16550 } from '../devices/uart16550.js';
import type { DeviceDefinition } from '../machine/machine-definition.js';

export interface CoalescedZone {
  device: string;
  addr: number;
  size: number;
  pio: boolean;
}

export function coalescedZonesFor(d: DeviceDefinition): CoalescedZone[] {
  switch (d.type) {
    case 'uart16550':
      return d.coalesced ? Uart16550.coalescable.map((w) => ({ device: d.name, addr: d.port + w.offset, size: w.size, pio: true })) : [];
    case 'test-device':
      return d.coalesced ? TestDevice.coalescable.map((w) => ({ device: d.name, addr: d.base + w.offset, size: w.size, pio: false })) : [];
    default:
      return [];
  }
}
