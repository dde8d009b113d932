// Catalog entry of the machine's virtio-mmio slots: a row of transport
// windows, one IRQ each. It serves nothing itself; the slot allocator
// (src/machine/virtio-slot-allocator.ts) gives its slots to virtio devices.
import type { VirtioSlotsKind } from '../device-kind.js';
import { VIRTIO_MMIO_WINDOW } from '../virtio/virtio-mmio.js';

export interface VirtioMmioDefinition {
  type: 'virtio-mmio';
  name: string;
  /** Guest-physical base of the first slot; slot i is at base + i * slotSize. */
  base: number;
  slotSize: number;
  /** One IRQ per slot. */
  irqs: number[];
  coalesced: boolean;
}

/** A slot holds one transport window; smaller slots would overlap their neighbours. */
export const MIN_VIRTIO_SLOT = VIRTIO_MMIO_WINDOW;

export const virtioMmioSlotsKind: VirtioSlotsKind<VirtioMmioDefinition> = {
  type: 'virtio-mmio',
  family: 'virtio-slots',
  hosts: [],
  entry: {
    fields: ['base', 'slotSize', 'irqs', 'coalesced'],
    parse(d, r, path) {
      const irqs = r.array(d.irqs, `${path}.irqs`).map((x, i) => r.irq(x, `${path}.irqs[${i}]`));
      if (irqs.length === 0) r.fail(`${path}.irqs`, 'needs at least one IRQ (one per slot)');
      const slotSize = r.size(d.slotSize, `${path}.slotSize`);
      if (slotSize < MIN_VIRTIO_SLOT) r.fail(`${path}.slotSize`, `${slotSize} bytes is smaller than a virtio-mmio window (${MIN_VIRTIO_SLOT} bytes)`);
      return {
        base: r.address(d.base, `${path}.base`),
        slotSize,
        irqs,
        coalesced: d.coalesced === undefined ? false : r.boolean(d.coalesced, `${path}.coalesced`),
      };
    },
  },
  windows: (d) => [{ space: 'mmio', base: d.base, size: d.slotSize * d.irqs.length, field: 'base' }],
  slots: (d) => d.irqs.map((irq, i) => ({ base: d.base + i * d.slotSize, irq })),
};
