// The device catalog: every kind once, entries consistent with their models,
// and the default machine's windows apart from each other.
import { describe, expect, it } from 'vitest';
import { DEVICE_KINDS, deviceKind, fixedWindows, machineFileKinds } from '../../src/devices/catalog.js';
import type { DeviceConfig } from '../../src/devices/device-kind.js';
import { PLATFORM_KINDS, platformKind } from '../../src/devices/platform-catalog.js';
import { loadMachine } from '../../src/machine/machine-definition.js';
import { planDevices } from '../../src/machine/device-plan.js';
import { coalescedZonesFor } from '../../src/vmm/coalesced-zones.js';

describe('the device catalog', () => {
  it('registers every kind exactly once, by type', () => {
    const types = DEVICE_KINDS.map((k) => k.type);
    expect(new Set(types).size).toBe(types.length);
    for (const k of DEVICE_KINDS) expect(deviceKind(k.type)).toBe(k);
    expect(() => deviceKind('floppy')).toThrow(/no device kind "floppy"/);
  });

  it('lists the machine-file kinds in the order the parser names them', () => {
    expect(machineFileKinds().map((k) => k.type).slice(0, 7)).toEqual(['uart16550', 'exit-device', 'i8042', 'acpi-sleep', 'acpi-reset', 'test-device', 'virtio-mmio']);
  });

  it("builds a vCPU thread's devices from the platform kinds alone, and nothing else", () => {
    expect(PLATFORM_KINDS.every((k) => k.family === 'platform')).toBe(true);
    expect(DEVICE_KINDS.filter((k) => k.family === 'platform').map((k) => k.type)).toEqual(PLATFORM_KINDS.map((k) => k.type));
    expect(platformKind({ type: 'uart16550', name: 'com1' } as DeviceConfig)).toBe(deviceKind('uart16550'));
    expect(() => platformKind({ type: 'virtio-blk', name: 'disk0' } as DeviceConfig)).toThrow(/disk0: a virtio-blk is not a platform device/);
  });

  it('gives every kind a host it allows, and every virtio kind its queues and VERSION_1', () => {
    for (const k of DEVICE_KINDS) {
      if (k.family === 'virtio-slots') continue;
      expect(k.hosts.length, k.type).toBeGreaterThan(0);
      if (k.family === 'virtio') {
        expect(k.virtio.features & (1n << 32n), k.type).toBe(1n << 32n);
      }
    }
  });

  it('places the default machine (with two disks) without overlapping windows', () => {
    const machine = loadMachine('microvm');
    const plan = planDevices(machine, [
      { type: 'virtio-blk', name: 'vda', spec: { path: '/a.img', readOnly: false, cache: 'writeback', engine: 'sync' } },
      { type: 'virtio-blk', name: 'vdb', spec: { path: '/b.img', readOnly: true, cache: 'writeback', engine: 'sync' } },
    ]);
    const windows = plan.devices.flatMap((d) => d.windows.map((w) => ({ ...w, name: d.name })));
    for (const [i, a] of windows.entries())
      for (const b of windows.slice(0, i)) expect(a.space !== b.space || a.base + a.size <= b.base || b.base + b.size <= a.base, `${a.name} overlaps ${b.name}`).toBe(true);
    // The transport windows of the disks lie inside the virtio-mmio slots' range.
    const slots = machine.devices.filter((d) => d.type === 'virtio-mmio').flatMap(fixedWindows)[0];
    for (const d of plan.devices.filter((x) => x.virtio)) expect(d.windows[0].base >= slots.base && d.windows[0].base + d.windows[0].size <= slots.base + slots.size).toBe(true);
  });

  it('keeps the coalesced zones the devices always had', () => {
    expect(coalescedZonesFor({ type: 'uart16550', name: 'com1', port: 0x3f8, irq: 4, console: true, coalesced: true } as never)).toEqual([{ device: 'com1', addr: 0x3f8, size: 1, pio: true }]);
    expect(coalescedZonesFor({ type: 'uart16550', name: 'com1', port: 0x3f8, irq: 4, console: true, coalesced: false } as never)).toEqual([]);
    expect(coalescedZonesFor({ type: 'test-device', name: 't', base: 0xd0000000, coalesced: true, process: 'inline' } as never)).toEqual([{ device: 't', addr: 0xd0000000, size: 0x800, pio: false }]);
    expect(coalescedZonesFor({ type: 'exit-device', name: 'exit', port: 0x501 } as never)).toEqual([]);
  });
});
