// Platforms the ACPI table tests build from.
import type { AcpiPlatform } from '../../../../src/boot/acpi/acpi-tables.js';

/** The default machine's devices (machines/microvm.json), with two CPUs. */
export function microvmPlatform(): AcpiPlatform {
  return {
    cpus: 2,
    ioapic: { id: 1, address: 0xfec00000, gsiBase: 0 },
    serial: { port: 0x3f8, irq: 4 },
    virtioMmio: [
      { base: 0xd0000000, size: 0x1000, irq: 5 },
      { base: 0xd0001000, size: 0x1000, irq: 6 },
    ],
    sleepControlPort: 0x600,
    resetPort: 0x601,
  };
}

/** Where the tests place the tables (any 16-byte aligned address would do). */
export const BASE = 0xe0000;

/** `slots` virtio-mmio transports on GSIs 3.., on an IOAPIC with enough pins. */
export function manySlotsPlatform(slots: number): AcpiPlatform {
  return {
    ...microvmPlatform(),
    serial: undefined,
    ioapic: { id: 1, address: 0xfec00000, gsiBase: 0, pins: 256 },
    virtioMmio: Array.from({ length: slots }, (_, i) => ({ base: 0xd0000000 + i * 0x200, size: 0x200, irq: 3 + i })),
  };
}
