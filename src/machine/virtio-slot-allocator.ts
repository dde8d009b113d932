// Hands out the machine's virtio-mmio slots (window and IRQ) to virtio
// devices of any kind, in the order asked, and says which slots are taken.
// The slots are those of the machine's `virtio-mmio` entries, in file order;
// slot i of an entry is at base + i * slotSize with IRQ irqs[i].
import type { DeviceConfig } from '../devices/device-kind.js';
import { deviceKind } from '../devices/catalog.js';
import { VIRTIO_MMIO_WINDOW } from '../devices/virtio/virtio-mmio.js';
import type { MachineDefinition } from './machine-definition.js';

export class VirtioSlotError extends Error {
  override name = 'VirtioSlotError';
}

export interface VirtioSlot {
  /** Index among all of the machine's slots. */
  index: number;
  /** Guest-physical base of the transport window (VIRTIO_MMIO_WINDOW bytes). */
  base: number;
  size: number;
  /** The GSI its interrupt goes to. */
  irq: number;
}

export class VirtioSlotAllocator {
  private readonly slots: VirtioSlot[];
  private next = 0;

  constructor(private readonly machine: MachineDefinition) {
    this.slots = machine.devices.flatMap((d: DeviceConfig) => {
      const kind = deviceKind(d.type);
      return kind.family === 'virtio-slots' ? kind.slots(d) : [];
    }).map((s, index) => ({ index, base: s.base, size: VIRTIO_MMIO_WINDOW, irq: s.irq }));
  }

  get capacity(): number {
    return this.slots.length;
  }

  get allocated(): readonly VirtioSlot[] {
    return this.slots.slice(0, this.next);
  }

  /** The next free slot for `device`; throws VirtioSlotError when none is left. */
  allocate(device: DeviceConfig): VirtioSlot {
    if (this.slots.length === 0) throw new VirtioSlotError(`machine ${this.machine.name} has no virtio-mmio slots for ${device.name} (${device.type})`);
    if (this.next >= this.slots.length)
      throw new VirtioSlotError(`machine ${this.machine.name} has ${this.slots.length} virtio-mmio slots; ${device.name} (${device.type}) does not fit`);
    return this.slots[this.next++];
  }
}
