// The ACPI tables describe the VM the device plan builds: the same UART, the
// same virtio-mmio windows and GSIs the plan gave the devices, the sleep
// and reset registers' ports; a machine without a sleep register gets no
// tables.
import { describe, expect, it } from 'vitest';
import { buildAcpiTables } from '../../src/boot/acpi/acpi-tables.js';
import type { DiskSpec } from '../../src/block/disk-spec.js';
import { diskDevice } from '../../src/devices/kinds/virtio-blk-kind.js';
import { planDevices } from '../../src/machine/device-plan.js';
import { loadMachine, parseMachine } from '../../src/machine/machine-definition.js';
import { acpiPlatformFor } from '../../src/vmm/acpi-platform.js';

const disk = (path: string): DiskSpec => ({ path, readOnly: false, cache: 'writeback', engine: 'async' });

describe('acpiPlatformFor', () => {
  it('describes the default machine with two disks as the plan places them', () => {
    const plan = planDevices(loadMachine('microvm'), [diskDevice(disk('/a.img'), 0), diskDevice(disk('/b.img'), 1)]);
    const platform = acpiPlatformFor(plan, 1)!;
    expect(platform.serial).toEqual({ port: 0x3f8, irq: 4 });
    expect(platform.sleepControlPort).toBe(0x600);
    expect(platform.resetPort).toBe(0x601);
    expect(platform.virtioMmio).toEqual([
      { base: 0xd0000000, size: 0x1000, irq: 5 },
      { base: 0xd0001000, size: 0x1000, irq: 6 },
      { base: 0xd0002000, size: 0x1000, irq: 7 }, // the entropy device
    ]);
    expect(platform.ioapic).toEqual({ id: 1, address: 0xfec00000, gsiBase: 0 });
    // KVM's default routing: the PIT stays on GSI 0.
    expect(platform.interruptOverrides).toEqual([{ isaIrq: 0, gsi: 0 }]);
    // ...and the tables can express it, below 1 MiB.
    const tables = buildAcpiTables(platform, 0xe0000);
    expect(tables.rsdpGpa).toBe(0xe0000);
    expect(0xe0000 + tables.bytes.length).toBeLessThanOrEqual(0x100000);
  });

  it('gives a machine without an acpi-sleep device no tables', () => {
    const machine = parseMachine(
      {
        name: 'no-acpi',
        memory: { defaultSize: '64M', mmioGap: { start: '0xc0000000', end: '0x100000000' } },
        devices: [{ type: 'uart16550', name: 'com1', port: '0x3f8', irq: 4, console: true }],
      },
      'no-acpi.json',
    );
    expect(acpiPlatformFor(planDevices(machine, []), 1)).toBeUndefined();
  });
});
