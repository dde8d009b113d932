// An Intel MultiProcessor Specification 1.4 table (the "MP table"): how a
// guest without ACPI learns about its local APIC, the IOAPIC and how ISA
// IRQs reach IOAPIC pins. Without one Linux scans the BIOS areas, finds
// nothing and falls back to virtual-wire mode (measured: ~3 s slower boot on
// the project's software-nested KVM hosts, docs/host-kvm.md).
import type { GuestMemory } from '../memory/guest-memory.js';

/** In the reserved area below 1 MiB (the EBDA start, which the e820 map reserves). */
export const MP_TABLE_ADDR = 0x9fc00;
export const IOAPIC_ADDR = 0xfec00000;
export const LAPIC_ADDR = 0xfee00000;
/** Local APIC IDs are 0..cpus-1 (vCPU index = APIC ID); the IOAPIC takes the next, so no ID is shared. */
export function ioapicIdFor(cpus: number): number {
  return cpus;
}
/** Enough for the 8-bit APIC IDs of xAPIC mode, the IOAPIC's included. */
export const MP_MAX_CPUS = 254;
const ISA_IRQS = 16;

const FLOATING_POINTER_SIZE = 16;
const HEADER_SIZE = 44;
const PROCESSOR_SIZE = 20;
const ENTRY_SIZE = 8;

function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return (0x100 - sum) & 0xff;
}

/**
 * Builds the table for `cpus` CPUs (APIC IDs 0..cpus-1, CPU 0 the bootstrap
 * processor) and the in-kernel IOAPIC; ISA IRQ n → IOAPIC pin n (KVM's default routing).
 */
export function buildMpTable(cpus = 1): Uint8Array {
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > MP_MAX_CPUS) throw new RangeError(`MP table: ${cpus} CPUs (1..${MP_MAX_CPUS})`);
  const ioapicId = ioapicIdFor(cpus);
  const entries = cpus + 1 + 1 + ISA_IRQS + 2; // processors, bus, IOAPIC, I/O interrupts, 2 local interrupts
  const tableSize = HEADER_SIZE + cpus * PROCESSOR_SIZE + (entries - cpus) * ENTRY_SIZE;
  const out = new Uint8Array(FLOATING_POINTER_SIZE + tableSize);
  const v = new DataView(out.buffer);
  const tableAddr = MP_TABLE_ADDR + FLOATING_POINTER_SIZE;

  // Floating pointer structure.
  out.set([0x5f, 0x4d, 0x50, 0x5f], 0); // "_MP_"
  v.setUint32(4, tableAddr, true);
  out[8] = 1; // length in 16-byte units
  out[9] = 4; // spec revision 1.4
  // bytes 11..15: feature bytes, 0 = a configuration table follows

  // Configuration table header.
  const t = FLOATING_POINTER_SIZE;
  out.set([0x50, 0x43, 0x4d, 0x50], t); // "PCMP"
  v.setUint16(t + 4, tableSize, true);
  out[t + 6] = 4;
  out.set(new TextEncoder().encode('TSVMM   '), t + 8); // OEM id, 8 bytes
  out.set(new TextEncoder().encode('microvm     '), t + 16); // product id, 12 bytes
  v.setUint16(t + 34, entries, true);
  v.setUint32(t + 36, LAPIC_ADDR, true);

  let at = t + HEADER_SIZE;
  // Processors: APIC id = index, version 0x14, enabled (+ bootstrap for CPU 0).
  for (let cpu = 0; cpu < cpus; cpu++, at += PROCESSOR_SIZE) {
    out[at] = 0;
    out[at + 1] = cpu;
    out[at + 2] = 0x14;
    out[at + 3] = cpu === 0 ? 0x03 : 0x01;
  }
  // Bus 0: ISA.
  out[at] = 1;
  out[at + 1] = 0;
  out.set(new TextEncoder().encode('ISA   '), at + 2);
  at += ENTRY_SIZE;
  // The IOAPIC: enabled, version 0x11.
  out[at] = 2;
  out[at + 1] = ioapicId;
  out[at + 2] = 0x11;
  out[at + 3] = 1;
  v.setUint32(at + 4, IOAPIC_ADDR, true);
  at += ENTRY_SIZE;
  // ISA IRQ n → IOAPIC pin n, conforming polarity and trigger.
  for (let irq = 0; irq < ISA_IRQS; irq++, at += ENTRY_SIZE) {
    out[at] = 3;
    out[at + 1] = 0; // INT
    out[at + 4] = 0; // source bus
    out[at + 5] = irq;
    out[at + 6] = ioapicId;
    out[at + 7] = irq;
  }
  // Local interrupts: ExtINT → LINT0, NMI → LINT1, on every local APIC.
  for (const [type, lint] of [[3, 0], [1, 1]] as const) {
    out[at] = 4;
    out[at + 1] = type;
    out[at + 6] = 0xff;
    out[at + 7] = lint;
    at += ENTRY_SIZE;
  }
  out[t + 7] = checksum(out.subarray(t, t + tableSize));
  out[10] = checksum(out.subarray(0, FLOATING_POINTER_SIZE));
  return out;
}

export function writeMpTable(memory: GuestMemory, cpus = 1): void {
  memory.write(MP_TABLE_ADDR, buildMpTable(cpus));
}
