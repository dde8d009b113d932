// loadKernel writes the ACPI tables only when given a platform (--no-acpi
// gives none): the RSDP at 0xe0000 and its address in the zero page (64-bit
// entry) or the PVH start info; the MP table is written either way.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { BootError } from '../../src/boot/boot-error.js';
import { ACPI_TABLES_ADDR, PVH_START_INFO_ADDR, ZERO_PAGE_ADDR } from '../../src/boot/boot-layout.js';
import { MP_TABLE_ADDR } from '../../src/boot/mp-table.js';
import { HvmStartInfoField } from '../../src/boot/pvh-start-info.js';
import { BootParamsField } from '../../src/boot/zero-page.js';
import { planDevices } from '../../src/machine/device-plan.js';
import { loadMachine } from '../../src/machine/machine-definition.js';
import type { GuestMemory } from '../../src/memory/guest-memory.js';
import { acpiPlatformFor } from '../../src/vmm/acpi-platform.js';
import { loadKernel } from '../../src/vmm/kernel-loading.js';
import { MiB, withGuestRam } from '../boot/support/guest-ram.js';
import { typicalVmlinux } from '../boot/support/synthetic-kernel.js';

const log = pino({ level: 'silent' });
const text = (memory: GuestMemory, gpa: number, n: number) => Buffer.from(memory.view(gpa, n)!).toString('latin1');
const u64 = (memory: GuestMemory, gpa: number) => Buffer.from(memory.view(gpa, 8)!).readBigUInt64LE(0);

describe('loadKernel and ACPI', () => {
  const platform = acpiPlatformFor(planDevices(loadMachine('microvm'), []), 1)!;

  it('with a platform: the RSDP at 0xe0000, named in the zero page, and the MP table', () => {
    withGuestRam([{ gpa: 0, size: 64 * MiB }], (memory) => {
      loadKernel(memory, { kernel: typicalVmlinux(), cmdline: 'x', cpus: 1, acpi: platform, log });
      expect(text(memory, ACPI_TABLES_ADDR, 8)).toBe('RSD PTR ');
      expect(u64(memory, ZERO_PAGE_ADDR + BootParamsField.acpi_rsdp_addr)).toBe(BigInt(ACPI_TABLES_ADDR));
      expect(text(memory, MP_TABLE_ADDR, 4)).toBe('_MP_');
    });
  });

  it('through the PVH entry: the RSDP address in the start info', () => {
    withGuestRam([{ gpa: 0, size: 64 * MiB }], (memory) => {
      loadKernel(memory, { kernel: typicalVmlinux(), cmdline: 'x', cpus: 1, entry: 'pvh', acpi: platform, log });
      expect(u64(memory, PVH_START_INFO_ADDR + HvmStartInfoField.rsdp_paddr)).toBe(BigInt(ACPI_TABLES_ADDR));
    });
  });

  it('refuses a machine the tables cannot describe with a BootError naming the field', () => {
    withGuestRam([{ gpa: 0, size: 64 * MiB }], (memory) => {
      const bad = { ...platform, serial: { port: 0x3f8, irq: 0 } };
      expect(() => loadKernel(memory, { kernel: typicalVmlinux(), cmdline: 'x', cpus: 1, acpi: bad, log })).toThrow(BootError);
      expect(() => loadKernel(memory, { kernel: typicalVmlinux(), cmdline: 'x', cpus: 1, acpi: bad, log })).toThrow(/serial.*--no-acpi/);
    });
  });

  it('without one (--no-acpi): no tables and no RSDP address, the MP table still', () => {
    withGuestRam([{ gpa: 0, size: 64 * MiB }], (memory) => {
      loadKernel(memory, { kernel: typicalVmlinux(), cmdline: 'x', cpus: 1, log });
      expect(text(memory, ACPI_TABLES_ADDR, 8)).toBe('\0'.repeat(8));
      expect(u64(memory, ZERO_PAGE_ADDR + BootParamsField.acpi_rsdp_addr)).toBe(0n);
      expect(text(memory, MP_TABLE_ADDR, 4)).toBe('_MP_');
    });
  });
});
