// The device plan is a pure function from the machine and the attached
// devices to placement data: test it directly, no processes involved.
import { describe, expect, it } from 'vitest';
import type { DiskSpec } from '../../src/block/disk-spec.js';
import { diskDevice } from '../../src/devices/kinds/virtio-blk-kind.js';
import { DevicePlanError, planDevices, plannedDescriptor } from '../../src/machine/device-plan.js';
import { loadMachine, parseMachine } from '../../src/machine/machine-definition.js';
import { VirtioSlotError } from '../../src/machine/virtio-slot-allocator.js';

const disk = (path: string, extra: Partial<DiskSpec> = {}): DiskSpec => ({ path, readOnly: false, cache: 'writeback', engine: 'async', ...extra });
const testMachine = (process: 'inline' | 'separate') =>
  parseMachine(
    {
      name: 't',
      memory: { defaultSize: '64M', mmioGap: { start: '0xc0000000', end: '0x100000000' } },
      devices: [
        { type: 'uart16550', name: 'com1', port: '0x3f8', irq: 4, console: true },
        { type: 'test-device', name: 'testdev', base: '0xd1000000', process },
        { type: 'virtio-mmio', name: 'virtio', base: '0xd0000000', slotSize: '0x1000', irqs: [5, 6] },
      ],
    },
    't.json',
  );

/** The default machine plus a virtio-rng of its own. */

describe('the device plan', () => {
  it('puts the default machine\'s platform devices on the vCPU thread and its entropy device on the main thread, with their windows, and needs no descriptors', () => {
    const plan = planDevices(loadMachine('microvm'), []);
    expect(plan.devices.map((d) => [d.name, d.host, d.windows])).toEqual([
      ['com1', 'vcpu-thread', [{ space: 'pio', base: 0x3f8, size: 8 }]],
      ['exit', 'vcpu-thread', [{ space: 'pio', base: 0x501, size: 1 }]],
      ['i8042', 'vcpu-thread', [{ space: 'pio', base: 0x60, size: 5 }]],
      ['acpi', 'vcpu-thread', [{ space: 'pio', base: 0x600, size: 1 }]],
      ['acpi-reset', 'vcpu-thread', [{ space: 'pio', base: 0x601, size: 1 }]],
      ['rng', 'main-thread', [{ space: 'mmio', base: 0xd0000000, size: 0x1000 }]],
    ]);
    expect(plan.devices.every((d) => d.descriptors.length === 0)).toBe(true);
    expect(plan.kernelWords).toBe('virtio_mmio.device=4K@0xd0000000:5');
    expect(plan.sharedRam).toBeUndefined();
  });

  it('gives disks the first slots, in order, the machine\'s own virtio devices the next, and announces them on the command line', () => {
    const plan = planDevices(loadMachine('microvm'), [diskDevice(disk('/a.img'), 0), diskDevice(disk('/b.img', { readOnly: true }), 1)]);
    const disks = plan.devices.filter((d) => d.type === 'virtio-blk');
    expect(disks.map((d) => [d.name, d.host, d.windows[0].base, d.virtio])).toEqual([
      ['vda', 'main-thread', 0xd0000000, { slot: 0, irq: 5 }],
      ['vdb', 'main-thread', 0xd0001000, { slot: 1, irq: 6 }],
    ]);
    expect(plan.devices.find((d) => d.name === 'rng')?.virtio).toEqual({ slot: 2, irq: 7 });
    expect(plan.kernelWords).toBe('virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6 virtio_mmio.device=4K@0xd0002000:7');
    // A disk served by the helper: only its image, for the helper.
    expect(disks[1].descriptors).toEqual([
      { name: 'image.vdb', role: 'image', source: { kind: 'file', file: { kind: 'disk-image', path: '/b.img', readOnly: true, cache: 'writeback' } }, helper: true, deviceProcess: false },
    ]);
  });

  it('gives a device-process disk its socket, eventfds, interrupt status page, shared RAM and image, each named once', () => {
    const plan = planDevices(loadMachine('microvm'), [diskDevice(disk('/a.img', { separateProcess: true }), 0)]);
    const [vda] = plan.devices.filter((d) => d.type === 'virtio-blk');
    expect(vda.host).toBe('device-process');
    expect(vda.descriptors.map((x) => [x.name, x.source.kind, x.helper, x.deviceProcess])).toEqual([
      ['region.vda', 'region-socket', true, true],
      ['notify0.vda', 'eventfd', true, true],
      ['irq.vda', 'eventfd', true, true],
      ['interrupt-status.vda', 'interrupt-status', true, true],
      ['ram.vm', 'shared-ram', true, true],
      ['image.vda', 'file', false, true],
    ]);
    expect(plan.sharedRam?.name).toBe('ram.vm');
    expect(plannedDescriptor(vda, 'irq').name).toBe('irq.vda');
    expect(() => plannedDescriptor(vda, 'console')).toThrow(DevicePlanError);
  });

  it('hosts a `process: separate` test device in its own process, with its region socket', () => {
    const inline = planDevices(testMachine('inline'), []).devices.find((d) => d.name === 'testdev')!;
    expect([inline.host, inline.descriptors]).toEqual(['vcpu-thread', []]);
    const separate = planDevices(testMachine('separate'), []).devices.find((d) => d.name === 'testdev')!;
    expect(separate.host).toBe('device-process');
    expect(separate.windows).toEqual([{ space: 'mmio', base: 0xd1000000, size: 0x1000 }]);
    expect(separate.descriptors.map((x) => x.name)).toEqual(['region.testdev']);
  });

  it('names each device process after its device, or one process for devices served together', () => {
    const disks = [diskDevice(disk('/a.img', { separateProcess: true }), 0), diskDevice(disk('/b.img', { separateProcess: true }), 1)];
    const processes = (plan: ReturnType<typeof planDevices>) => plan.devices.map((d) => [d.name, d.process]);
    expect(processes(planDevices(testMachine('separate'), disks))).toEqual([
      ['com1', undefined],
      ['testdev', 'testdev'],
      ['vda', 'vda'],
      ['vdb', 'vdb'],
    ]);
    expect(processes(planDevices(testMachine('separate'), disks, { sharedProcesses: [['vda', 'testdev']] }))).toEqual([
      ['com1', undefined],
      ['testdev', 'vda+testdev'],
      ['vda', 'vda+testdev'],
      ['vdb', 'vdb'],
    ]);
  });

  it('refuses to share a process with a device that is not there, not in a device process, or already in another', () => {
    const disks = [diskDevice(disk('/a.img', { separateProcess: true }), 0), diskDevice(disk('/b.img'), 1)];
    const plan = (shared: string[][]) => () => planDevices(testMachine('separate'), disks, { sharedProcesses: shared });
    expect(plan([['vda', 'vdx']])).toThrow(/no device vdx to serve in process vda\+vdx/);
    expect(plan([['vda', 'vdb']])).toThrow(/vdb: served on the main-thread, not in a device process/);
    expect(plan([['vda', 'testdev'], ['testdev']])).toThrow(/testdev: named for two device processes/);
  });

  it('refuses more virtio devices than slots, and a name the machine already uses', () => {
    const m = testMachine('inline');
    expect(() => planDevices(m, [0, 1, 2].map((i) => diskDevice(disk(`/${i}.img`), i)))).toThrow(VirtioSlotError);
    expect(() => planDevices(m, [{ ...diskDevice(disk('/a.img'), 0), name: 'com1' }])).toThrow(/com1: the machine already has a device of that name/);
  });

  it('is plain data: it survives a JSON round trip (it crosses processes)', () => {
    const plan = planDevices(testMachine('separate'), [diskDevice(disk('/a.img', { separateProcess: true }), 0)]);
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });
});
