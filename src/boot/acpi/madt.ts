// The Multiple APIC Description Table, signature "APIC" (ACPI 6.5 §5.2.12):
// how the guest finds its interrupt controllers. It lists one Processor
// Local APIC per vCPU (which is also how Linux counts CPUs on an ACPI
// machine), KVM's in-kernel IOAPIC, the ISA IRQs that do not arrive on the
// IOAPIC input of the same number (Interrupt Source Overrides), and that
// every CPU's LINT1 is the NMI line.
//
// PCAT_COMPAT says the machine also has the PC-AT dual 8259s: true of KVM's
// in-kernel irqchip. Linux only uses it to skip probing for the 8259s; in
// hardware-reduced mode (our FADT) it drops the legacy PIC altogether.
import type { ResolvedAcpiPlatform } from './platform.js';
import { LAPIC_ADDRESS } from './platform.js';
import { finishSdt, newSdt, SDT_HEADER_BYTES } from './sdt-header.js';

/** ACPI 6.3 MADT layout (unchanged through 6.5). */
export const MADT_REVISION = 5;

/** Fields after the common header (ACPI 6.5 Table 5.19). */
export const MadtField = {
  localApicAddress: SDT_HEADER_BYTES, // u32
  flags: SDT_HEADER_BYTES + 4, // u32
} as const;
export const MADT_ENTRIES_OFFSET = SDT_HEADER_BYTES + 8;
export const MADT_PCAT_COMPAT = 1 << 0;

/** Interrupt controller structure types (ACPI 6.5 Table 5.21). */
export const MadtEntryType = {
  localApic: 0,
  ioApic: 1,
  interruptSourceOverride: 2,
  localApicNmi: 4,
} as const;

/** Processor Local APIC structure (Table 5.22). */
export const LocalApicEntry = { type: 0, length: 1, processorUid: 2, apicId: 3, flags: 4, size: 8 } as const;
export const LOCAL_APIC_ENABLED = 1 << 0;
/** I/O APIC structure (Table 5.24). */
export const IoApicEntry = { type: 0, length: 1, ioApicId: 2, reserved: 3, address: 4, gsiBase: 8, size: 12 } as const;
/** Interrupt Source Override structure (Table 5.25). */
export const InterruptSourceOverrideEntry = { type: 0, length: 1, bus: 2, source: 3, gsi: 4, flags: 8, size: 10 } as const;
/** Local APIC NMI structure (Table 5.28). */
export const LocalApicNmiEntry = { type: 0, length: 1, processorUid: 2, flags: 3, lint: 5, size: 6 } as const;

/** MPS INTI flags (Table 5.26) of overrides and NMI entries: polarity bits 1-0, trigger mode bits 3-2. */
export const MpsIntiFlag = {
  polarityConforming: 0b00,
  activeHigh: 0b01,
  activeLow: 0b11,
  triggerConforming: 0b00 << 2,
  edge: 0b01 << 2,
  level: 0b11 << 2,
} as const;
const ISA_BUS = 0;
/** Processor UID meaning every processor (NMI entries). */
const ALL_PROCESSORS = 0xff;
/** The local interrupt pin wired to NMI on a PC (the MP table says the same). */
const NMI_LINT = 1;

/** The MADT for `platform`. */
export function buildMadt(platform: ResolvedAcpiPlatform): Uint8Array {
  const overrides = platform.interruptOverrides;
  const length =
    MADT_ENTRIES_OFFSET +
    platform.cpus * LocalApicEntry.size +
    IoApicEntry.size +
    overrides.length * InterruptSourceOverrideEntry.size +
    LocalApicNmiEntry.size;
  const { bytes, view } = newSdt({ signature: 'APIC', revision: MADT_REVISION, oemId: platform.oemId, tableName: 'MADT' }, length);
  view.setUint32(MadtField.localApicAddress, LAPIC_ADDRESS, true);
  view.setUint32(MadtField.flags, platform.dualPic ? MADT_PCAT_COMPAT : 0, true);

  let at = MADT_ENTRIES_OFFSET;
  for (let cpu = 0; cpu < platform.cpus; cpu++, at += LocalApicEntry.size) {
    bytes[at + LocalApicEntry.type] = MadtEntryType.localApic;
    bytes[at + LocalApicEntry.length] = LocalApicEntry.size;
    bytes[at + LocalApicEntry.processorUid] = cpu;
    bytes[at + LocalApicEntry.apicId] = cpu;
    view.setUint32(at + LocalApicEntry.flags, LOCAL_APIC_ENABLED, true);
  }

  bytes[at + IoApicEntry.type] = MadtEntryType.ioApic;
  bytes[at + IoApicEntry.length] = IoApicEntry.size;
  bytes[at + IoApicEntry.ioApicId] = platform.ioapic.id;
  view.setUint32(at + IoApicEntry.address, platform.ioapic.address, true);
  view.setUint32(at + IoApicEntry.gsiBase, platform.ioapic.gsiBase, true);
  at += IoApicEntry.size;

  for (const o of overrides) {
    bytes[at + InterruptSourceOverrideEntry.type] = MadtEntryType.interruptSourceOverride;
    bytes[at + InterruptSourceOverrideEntry.length] = InterruptSourceOverrideEntry.size;
    bytes[at + InterruptSourceOverrideEntry.bus] = ISA_BUS;
    bytes[at + InterruptSourceOverrideEntry.source] = o.isaIrq;
    view.setUint32(at + InterruptSourceOverrideEntry.gsi, o.gsi, true);
    const polarity = o.polarity === 'high' ? MpsIntiFlag.activeHigh : o.polarity === 'low' ? MpsIntiFlag.activeLow : MpsIntiFlag.polarityConforming;
    const trigger = o.trigger === 'edge' ? MpsIntiFlag.edge : o.trigger === 'level' ? MpsIntiFlag.level : MpsIntiFlag.triggerConforming;
    view.setUint16(at + InterruptSourceOverrideEntry.flags, polarity | trigger, true);
    at += InterruptSourceOverrideEntry.size;
  }

  bytes[at + LocalApicNmiEntry.type] = MadtEntryType.localApicNmi;
  bytes[at + LocalApicNmiEntry.length] = LocalApicNmiEntry.size;
  bytes[at + LocalApicNmiEntry.processorUid] = ALL_PROCESSORS;
  view.setUint16(at + LocalApicNmiEntry.flags, MpsIntiFlag.polarityConforming | MpsIntiFlag.triggerConforming, true);
  bytes[at + LocalApicNmiEntry.lint] = NMI_LINT;
  at += LocalApicNmiEntry.size;

  if (at !== length) throw new Error(`MADT layout: wrote ${at} of ${length} bytes`);
  return finishSdt(bytes);
}
