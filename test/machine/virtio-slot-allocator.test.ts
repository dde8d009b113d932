import { describe, expect, it } from 'vitest';
import { parseMachine } from '../../src/machine/machine-definition.js';
import { VirtioSlotAllocator, VirtioSlotError } from '../../src/machine/virtio-slot-allocator.js';

const machine = (devices: object[]) =>
  parseMachine({ name: 'm', memory: { defaultSize: '64M', mmioGap: { start: '0xc0000000', end: '0x100000000' } }, devices }, 'm.json');
const dev = (name: string) => ({ type: 'virtio-rng', name });

describe('the virtio-mmio slot allocator', () => {
  it('hands out slots in order: base + i * slotSize, IRQ irqs[i], a 4 KiB window', () => {
    const a = new VirtioSlotAllocator(machine([{ type: 'virtio-mmio', base: '0xd0000000', slotSize: '0x2000', irqs: [5, 6, 7] }]));
    expect(a.capacity).toBe(3);
    expect(a.allocate(dev('a'))).toEqual({ index: 0, base: 0xd0000000, size: 0x1000, irq: 5 });
    expect(a.allocate(dev('b'))).toEqual({ index: 1, base: 0xd0002000, size: 0x1000, irq: 6 });
    expect(a.allocated.map((s) => s.irq)).toEqual([5, 6]);
  });

  it('joins the slots of several virtio-mmio entries in file order', () => {
    const a = new VirtioSlotAllocator(
      machine([
        { type: 'virtio-mmio', name: 'v0', base: '0xd0000000', slotSize: '0x1000', irqs: [5] },
        { type: 'virtio-mmio', name: 'v1', base: '0xd1000000', slotSize: '0x1000', irqs: [9] },
      ]),
    );
    expect([a.allocate(dev('a')), a.allocate(dev('b'))].map((s) => [s.base, s.irq])).toEqual([
      [0xd0000000, 5],
      [0xd1000000, 9],
    ]);
  });

  it('says when the slots run out, and when there are none', () => {
    const a = new VirtioSlotAllocator(machine([{ type: 'virtio-mmio', base: '0xd0000000', slotSize: '0x1000', irqs: [5] }]));
    a.allocate(dev('a'));
    expect(() => a.allocate(dev('b'))).toThrow(VirtioSlotError);
    expect(() => a.allocate(dev('b'))).toThrow(/machine m has 1 virtio-mmio slots; b \(virtio-rng\) does not fit/);
    expect(() => new VirtioSlotAllocator(machine([])).allocate(dev('a'))).toThrow(/machine m has no virtio-mmio slots for a/);
  });
});
