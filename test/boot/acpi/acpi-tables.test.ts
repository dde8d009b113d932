import { describe, expect, it } from 'vitest';
import type { AcpiPlatform } from '../../../src/boot/acpi/acpi-tables.js';
import { buildAcpiTables, TABLE_ALIGNMENT } from '../../../src/boot/acpi/acpi-tables.js';
import * as aml from '../../../src/boot/acpi/aml.js';
import { byteSum } from '../../../src/boot/acpi/checksum.js';
import { virtioDeviceName } from '../../../src/boot/acpi/dsdt.js';
import {
  AccessSize,
  ACPI_RESET_VALUE,
  AddressSpace,
  FADT_BYTES,
  FadtField,
  FadtFlag,
  GasField,
  IapcBootArch,
  S5_SLEEP_TYPE,
  sleepControlValue,
} from '../../../src/boot/acpi/fadt.js';
import {
  InterruptSourceOverrideEntry,
  IoApicEntry,
  LocalApicEntry,
  LocalApicNmiEntry,
  MADT_ENTRIES_OFFSET,
  MADT_PCAT_COMPAT,
  MadtEntryType,
  MadtField,
  MpsIntiFlag,
} from '../../../src/boot/acpi/madt.js';
import { RSDP_ALIGNMENT, RSDP_BYTES, RSDP_V1_BYTES, RsdpField } from '../../../src/boot/acpi/rsdp.js';
import { SDT_HEADER_BYTES, SdtHeaderField } from '../../../src/boot/acpi/sdt-header.js';
import { XSDT_ENTRY_BYTES } from '../../../src/boot/acpi/xsdt.js';
import { BASE, manySlotsPlatform, microvmPlatform } from './support/platforms.js';

const text = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));
const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
/** Whether `needle` occurs in `haystack`, and how often. */
function occurrences(haystack: Uint8Array, needle: Uint8Array): number {
  let count = 0;
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    count++;
  }
  return count;
}

function build(platform: AcpiPlatform = microvmPlatform(), base = BASE) {
  const t = buildAcpiTables(platform, base);
  const table = (name: keyof typeof t.tables) => t.bytes.subarray(t.tables[name].offset, t.tables[name].offset + t.tables[name].length);
  return { ...t, table };
}

/** The MADT's entries as [type, offset in the table]. */
function madtEntries(madt: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  for (let at = MADT_ENTRIES_OFFSET; at < madt.length; at += madt[at + 1]) {
    expect(madt[at + 1]).toBeGreaterThan(0);
    out.push([madt[at], at]);
  }
  return out;
}

describe('ACPI table layout', () => {
  const t = build();

  it('puts the RSDP at the base and every table after it, aligned, inside the blob', () => {
    expect(t.rsdpGpa).toBe(BASE);
    expect(t.tables.rsdp).toEqual({ gpa: BASE, offset: 0, length: RSDP_BYTES });
    const order = [t.tables.rsdp, t.tables.xsdt, t.tables.fadt, t.tables.madt, t.tables.dsdt];
    for (let i = 1; i < order.length; i++) {
      expect(order[i].offset % TABLE_ALIGNMENT).toBe(0);
      expect(order[i].offset).toBeGreaterThanOrEqual(order[i - 1].offset + order[i - 1].length);
      expect(order[i].offset - (order[i - 1].offset + order[i - 1].length)).toBeLessThan(TABLE_ALIGNMENT);
      expect(order[i].gpa).toBe(BASE + order[i].offset);
    }
    expect(t.bytes.length).toBe(t.tables.dsdt.offset + t.tables.dsdt.length);
  });

  it('gives every table a header whose length and checksum hold', () => {
    for (const [name, signature] of [['xsdt', 'XSDT'], ['fadt', 'FACP'], ['madt', 'APIC'], ['dsdt', 'DSDT']] as const) {
      const b = t.table(name);
      expect(text(b, SdtHeaderField.signature, 4)).toBe(signature);
      expect(view(b).getUint32(SdtHeaderField.length, true)).toBe(b.length);
      expect(byteSum(b)).toBe(0);
      expect(text(b, SdtHeaderField.oemId, 6)).toBe('TSVMM ');
      expect(text(b, SdtHeaderField.oemTableId, 8)).toMatch(/^TSVM/);
    }
  });

  it('has an ACPI 2.0 RSDP with both checksums, pointing at the XSDT', () => {
    const r = t.table('rsdp');
    expect(text(r, RsdpField.signature, 8)).toBe('RSD PTR ');
    expect(r[RsdpField.revision]).toBe(2);
    expect(byteSum(r.subarray(0, RSDP_V1_BYTES))).toBe(0);
    expect(byteSum(r)).toBe(0);
    expect(view(r).getUint32(RsdpField.length, true)).toBe(RSDP_BYTES);
    expect(view(r).getUint32(RsdpField.rsdtAddress, true)).toBe(0);
    expect(Number(view(r).getBigUint64(RsdpField.xsdtAddress, true))).toBe(t.tables.xsdt.gpa);
    expect(t.rsdpGpa % RSDP_ALIGNMENT).toBe(0);
  });

  it('links the XSDT to the FADT and MADT, and the FADT to the DSDT', () => {
    const x = t.table('xsdt');
    const entries = (x.length - SDT_HEADER_BYTES) / XSDT_ENTRY_BYTES;
    const gpas = Array.from({ length: entries }, (_, i) => Number(view(x).getBigUint64(SDT_HEADER_BYTES + i * XSDT_ENTRY_BYTES, true)));
    expect(gpas).toEqual([t.tables.fadt.gpa, t.tables.madt.gpa]);
    const f = t.table('fadt');
    expect(Number(view(f).getBigUint64(FadtField.xDsdt, true))).toBe(t.tables.dsdt.gpa);
    expect(view(f).getUint32(FadtField.dsdt, true)).toBe(0);
    expect(view(f).getUint32(FadtField.firmwareCtrl, true)).toBe(0); // no FACS when hardware-reduced
  });

  it('is deterministic, and moving the base changes only the pointers', () => {
    expect(build().bytes).toEqual(t.bytes);
    const moved = build(microvmPlatform(), 0x7fff_0000);
    expect(moved.bytes.length).toBe(t.bytes.length);
    expect(moved.table('madt')).toEqual(t.table('madt'));
    expect(moved.table('dsdt')).toEqual(t.table('dsdt'));
    expect(Number(view(moved.table('fadt')).getBigUint64(FadtField.xDsdt, true))).toBe(0x7fff_0000 + t.tables.dsdt.offset);
  });
});

describe('FADT', () => {
  const f = build().table('fadt');
  const v = view(f);

  it('is a 276-byte revision 6.5 hardware-reduced FADT', () => {
    expect(f.length).toBe(FADT_BYTES);
    expect(f[SdtHeaderField.revision]).toBe(6);
    expect(f[FadtField.fadtMinorVersion]).toBe(5);
    const flags = v.getUint32(FadtField.flags, true);
    expect(flags & FadtFlag.hwReducedAcpi).toBe(FadtFlag.hwReducedAcpi);
    expect(v.getUint16(FadtField.sciInt, true)).toBe(0);
    const boot = v.getUint16(FadtField.iapcBootArch, true);
    expect(boot & (IapcBootArch.vgaNotPresent | IapcBootArch.msiNotSupported | IapcBootArch.cmosRtcNotPresent)).toBe(
      IapcBootArch.vgaNotPresent | IapcBootArch.msiNotSupported | IapcBootArch.cmosRtcNotPresent,
    );
    expect(boot & IapcBootArch.has8042).toBe(0);
    expect(text(f, FadtField.hypervisorVendorIdentity, 8)).toBe('TSVMM   ');
  });

  it('points the sleep control and status registers at the platform I/O port, byte wide', () => {
    for (const at of [FadtField.sleepControlReg, FadtField.sleepStatusReg]) {
      expect(f[at + GasField.addressSpaceId]).toBe(AddressSpace.systemIo);
      expect(f[at + GasField.registerBitWidth]).toBe(8);
      expect(f[at + GasField.registerBitOffset]).toBe(0);
      expect(f[at + GasField.accessSize]).toBe(AccessSize.byte);
      expect(Number(v.getBigUint64(at + GasField.address, true))).toBe(0x600);
    }
  });

  it('names the reset register, byte wide on its I/O port, and the value that resets', () => {
    expect(v.getUint32(FadtField.flags, true) & FadtFlag.resetRegSup).toBe(FadtFlag.resetRegSup);
    const at = FadtField.resetReg;
    expect(f[at + GasField.addressSpaceId]).toBe(AddressSpace.systemIo);
    expect(f[at + GasField.registerBitWidth]).toBe(8);
    expect(f[at + GasField.accessSize]).toBe(AccessSize.byte);
    expect(Number(v.getBigUint64(at + GasField.address, true))).toBe(0x601);
    expect(f[FadtField.resetValue]).toBe(ACPI_RESET_VALUE);
  });

  it('has no reset register when the platform has none (Linux then resets through the i8042)', () => {
    const p = microvmPlatform();
    delete p.resetPort;
    const without = buildAcpiTables(p, BASE);
    const fadt = without.bytes.subarray(without.tables.fadt.offset, without.tables.fadt.offset + without.tables.fadt.length);
    expect(view(fadt).getUint32(FadtField.flags, true) & FadtFlag.resetRegSup).toBe(0);
    expect([...fadt.subarray(FadtField.resetReg, FadtField.resetValue + 1)]).toEqual(new Array(13).fill(0));
  });

  it('tells the sleep register device what S5 looks like', () => {
    expect(sleepControlValue(S5_SLEEP_TYPE)).toBe(0x34);
  });
});

describe('MADT', () => {
  it('lists every CPU enabled, the IOAPIC, IRQ 0 → GSI 2, and LINT1 as NMI', () => {
    const m = build().table('madt');
    const v = view(m);
    expect(v.getUint32(MadtField.localApicAddress, true)).toBe(0xfee00000);
    expect(v.getUint32(MadtField.flags, true)).toBe(MADT_PCAT_COMPAT);
    const entries = madtEntries(m);
    expect(entries.map(([type]) => type)).toEqual([
      MadtEntryType.localApic,
      MadtEntryType.localApic,
      MadtEntryType.ioApic,
      MadtEntryType.interruptSourceOverride,
      MadtEntryType.localApicNmi,
    ]);
    entries
      .filter(([type]) => type === MadtEntryType.localApic)
      .forEach(([, at], cpu) => {
        expect(m[at + LocalApicEntry.length]).toBe(LocalApicEntry.size);
        expect([m[at + LocalApicEntry.processorUid], m[at + LocalApicEntry.apicId]]).toEqual([cpu, cpu]);
        expect(v.getUint32(at + LocalApicEntry.flags, true)).toBe(1);
      });
    const [, io] = entries[2];
    expect(m[io + IoApicEntry.ioApicId]).toBe(1);
    expect(v.getUint32(io + IoApicEntry.address, true)).toBe(0xfec00000);
    expect(v.getUint32(io + IoApicEntry.gsiBase, true)).toBe(0);
    const [, iso] = entries[3];
    expect([m[iso + InterruptSourceOverrideEntry.bus], m[iso + InterruptSourceOverrideEntry.source]]).toEqual([0, 0]);
    expect(v.getUint32(iso + InterruptSourceOverrideEntry.gsi, true)).toBe(2);
    expect(v.getUint16(iso + InterruptSourceOverrideEntry.flags, true)).toBe(0);
    const [, nmi] = entries[4];
    expect([m[nmi + LocalApicNmiEntry.processorUid], m[nmi + LocalApicNmiEntry.lint]]).toEqual([0xff, 1]);
  });

  it('has one entry per CPU up to 255, APIC IDs 0..254', () => {
    const m = build({ ...microvmPlatform(), cpus: 255 }).table('madt');
    const lapics = madtEntries(m).filter(([type]) => type === MadtEntryType.localApic);
    expect(lapics.map(([, at]) => m[at + LocalApicEntry.apicId])).toEqual(Array.from({ length: 255 }, (_, i) => i));
    expect(byteSum(m)).toBe(0);
  });

  it('adds the requested overrides in ISA IRQ order, and one for IRQ 0 replaces the default', () => {
    const m = build({
      ...microvmPlatform(),
      interruptOverrides: [
        { isaIrq: 9, gsi: 20, trigger: 'level', polarity: 'low' },
        { isaIrq: 0, gsi: 0 },
      ],
      dualPic: false,
    }).table('madt');
    const v = view(m);
    expect(v.getUint32(MadtField.flags, true)).toBe(0);
    const isos = madtEntries(m)
      .filter(([type]) => type === MadtEntryType.interruptSourceOverride)
      .map(([, at]) => [m[at + InterruptSourceOverrideEntry.source], v.getUint32(at + InterruptSourceOverrideEntry.gsi, true), v.getUint16(at + InterruptSourceOverrideEntry.flags, true)]);
    expect(isos).toEqual([
      [0, 0, 0],
      [9, 20, MpsIntiFlag.activeLow | MpsIntiFlag.level],
    ]);
  });
});

describe('DSDT', () => {
  const d = build().table('dsdt');

  it('is a revision 2 definition block', () => {
    expect(d[SdtHeaderField.revision]).toBe(2);
    expect(byteSum(d)).toBe(0);
  });

  it('names COM1 as a PNP0501 with its ports and IRQ', () => {
    expect(occurrences(d, aml.name('_HID', aml.integer(aml.eisaId('PNP0501'))))).toBe(1);
    expect(occurrences(d, aml.resourceTemplate([aml.ioPort(0x3f8, 0x3f8, 1, 8), aml.irqNoFlags(4)]))).toBe(1);
  });

  it('names each virtio-mmio slot LNRO0005 with its window and edge-triggered GSI', () => {
    expect(occurrences(d, aml.name('_HID', aml.string('LNRO0005')))).toBe(2);
    microvmPlatform().virtioMmio.forEach((v, i) => {
      expect(occurrences(d, aml.nameSeg(virtioDeviceName(i)))).toBe(1);
      const crs = aml.resourceTemplate([aml.memory32Fixed(v.base, v.size), aml.extendedInterrupt(v.irq, { trigger: 'edge', polarity: 'high' })]);
      expect(occurrences(d, aml.name('_CRS', crs))).toBe(1);
    });
  });

  it('describes a level-triggered slot as level', () => {
    const p = microvmPlatform();
    p.virtioMmio[1].trigger = 'level';
    const dl = build(p).table('dsdt');
    expect(occurrences(dl, aml.extendedInterrupt(6, { trigger: 'level', polarity: 'high' }))).toBe(1);
    expect(occurrences(dl, aml.extendedInterrupt(5, { trigger: 'edge', polarity: 'high' }))).toBe(1);
  });

  it('has \\_S5_ with SLP_TYP 5', () => {
    expect(occurrences(d, aml.name('_S5', aml.packageOf([aml.integer(5), aml.integer(0), aml.integer(0), aml.integer(0)])))).toBe(1);
  });

  it('leaves out COM1 when there is no serial port', () => {
    const p: AcpiPlatform = { ...microvmPlatform(), serial: undefined };
    expect(occurrences(build(p).table('dsdt'), aml.nameSeg('COM1'))).toBe(0);
  });

  it('names slots VR00..VRFF, and a DSDT with 200 of them (a 3-byte PkgLength for \\_SB) still adds up', () => {
    expect([0, 9, 10, 255].map(virtioDeviceName)).toEqual(['VR00', 'VR09', 'VR0A', 'VRFF']);
    const big = build(manySlotsPlatform(200)).table('dsdt');
    expect(occurrences(big, aml.nameSeg('VRC7'))).toBe(1);
    expect(big.length).toBeGreaterThan(4096);
    expect(byteSum(big)).toBe(0);
  });
});

describe('ACPI platform validation', () => {
  type Mutation = (p: AcpiPlatform) => void;
  const cases: [string, Mutation, RegExp][] = [
    ['no CPU', (p) => (p.cpus = 0), /^ACPI platform: cpus: 0 is outside 1\.\.255$/],
    ['256 CPUs', (p) => (p.cpus = 256), /cpus: 256 is outside/],
    ['a fractional CPU count', (p) => (p.cpus = 1.5), /cpus: 1\.5 is not an integer/],
    ['an IOAPIC ID above 255', (p) => (p.ioapic.id = 256), /ioapic\.id/],
    ['an IOAPIC on the local APIC', (p) => (p.ioapic.address = 0xfee00000), /ioapic\.address: 0xfee00000 overlaps the local APIC/],
    ['a virtio GSI beyond the IOAPIC', (p) => (p.virtioMmio[1].irq = 24), /virtioMmio\[1\]\.irq: GSI 24 is not on the IOAPIC \(GSIs 0\.\.23\)/],
    ['a virtio GSI below the IOAPIC base', (p) => (p.ioapic.gsiBase = 8), /virtioMmio\[0\]\.irq: GSI 5 is not on the IOAPIC \(GSIs 8\.\.31\)/],
    ['a zero-sized window', (p) => (p.virtioMmio[0].size = 0), /virtioMmio\[0\]\.size: 0x0 is outside/],
    ['a window past 4 GiB', (p) => (p.virtioMmio[0].base = 0xfffff800), /virtioMmio\[0\]\.size/],
    ['overlapping windows', (p) => (p.virtioMmio[1].base = 0xd0000800), /virtioMmio\[1\]\.base: 0xd0000800\+0x1000 overlaps virtioMmio\[0\]/],
    ['a window on the IOAPIC', (p) => (p.virtioMmio[0].base = 0xfec00000), /virtioMmio\[0\]\.base: .* overlaps the IOAPIC/],
    ['two slots on one GSI', (p) => (p.virtioMmio[1].irq = 5), /virtioMmio\[1\]\.irq: GSI 5 is taken by virtioMmio\[0\]\.irq$/],
    ['a slot on the serial IRQ', (p) => (p.virtioMmio[0].irq = 4), /virtioMmio\[0\]\.irq: GSI 4 is taken by serial\.irq$/],
    ['a slot on the timer GSI', (p) => (p.virtioMmio[0].irq = 2), /virtioMmio\[0\]\.irq: GSI 2 is taken by ISA IRQ 0 \(the timer's default override\)$/],
    ['an unknown trigger', (p) => ((p.virtioMmio[0] as { trigger?: string }).trigger = 'rising'), /virtioMmio\[0\]\.trigger: 'rising' is not one of edge, level/],
    ['257 slots', (p) => (p.virtioMmio = new Array(257).fill(p.virtioMmio[0])), /virtioMmio: 257 devices \(at most 256\)/],
    ['a serial port range past 0xffff', (p) => (p.serial!.port = 0xfffa), /serial\.port: 0xfffa is outside 0x0\.\.0xfff8/],
    ['a serial port on the timer IRQ', (p) => (p.serial!.irq = 0), /serial\.irq: ISA IRQ 0 is the timer's/],
    ['a serial port on the cascade IRQ, where the timer arrives', (p) => (p.serial!.irq = 2), /serial\.irq: GSI 2 is taken by ISA IRQ 0/],
    ['a serial IRQ past 15', (p) => (p.serial!.irq = 16), /serial\.irq: 16 is outside 0\.\.15/],
    ['sleep port 0', (p) => (p.sleepControlPort = 0), /sleepControlPort: 0x0 is outside 0x1\.\.0xffff/],
    ['sleep port past 0xffff', (p) => (p.sleepControlPort = 0x10000), /sleepControlPort/],
    ['sleep port inside COM1', (p) => (p.sleepControlPort = 0x3fc), /sleepControlPort: 0x3fc is one of the serial port's 0x3f8\.\.0x3ff/],
    ['reset port 0', (p) => (p.resetPort = 0), /resetPort: 0x0 is outside 0x1\.\.0xffff/],
    ['reset port inside COM1', (p) => (p.resetPort = 0x3f9), /resetPort: 0x3f9 is one of the serial port's 0x3f8\.\.0x3ff/],
    ['reset port on the sleep register', (p) => (p.resetPort = 0x600), /resetPort: 0x600 is the sleep control register's port/],
    ['an override of ISA IRQ 16', (p) => (p.interruptOverrides = [{ isaIrq: 16, gsi: 16 }]), /interruptOverrides\[0\]\.isaIrq: 16 is outside 0\.\.15/],
    ['an ISA IRQ overridden twice', (p) => (p.interruptOverrides = [{ isaIrq: 9, gsi: 9 }, { isaIrq: 9, gsi: 10 }]), /interruptOverrides\[1\]\.isaIrq: ISA IRQ 9 is overridden twice/],
    ['two overrides onto one GSI', (p) => (p.interruptOverrides = [{ isaIrq: 9, gsi: 2 }]), /interruptOverrides\[0\]\.gsi: GSI 2 is taken by ISA IRQ 0/],
    ['two requested overrides onto one GSI', (p) => (p.interruptOverrides = [{ isaIrq: 9, gsi: 20 }, { isaIrq: 10, gsi: 20 }]), /interruptOverrides\[1\]\.gsi: GSI 20 is taken by ISA IRQ 9 \(interruptOverrides\[0\]\)$/],
    ['an override onto the GSI of a slot', (p) => (p.interruptOverrides = [{ isaIrq: 9, gsi: 5 }]), /virtioMmio\[0\]\.irq: GSI 5 is taken by ISA IRQ 9 \(interruptOverrides\[0\]\)$/],
    ['an override off the IOAPIC', (p) => (p.interruptOverrides = [{ isaIrq: 9, gsi: 40 }]), /interruptOverrides\[0\]\.gsi: GSI 40 is not on the IOAPIC/],
    ['an unknown polarity', (p) => (p.interruptOverrides = [{ isaIrq: 9, gsi: 9, polarity: 'up' as 'high' }]), /interruptOverrides\[0\]\.polarity: 'up'/],
    ['a 7-character OEM ID', (p) => (p.oemId = 'TSVMMXX'), /oemId: 'TSVMMXX' is not 1\.\.6 printable ASCII characters/],
    ['a non-ASCII OEM ID', (p) => (p.oemId = 'TSVMé'), /oemId/],
  ];

  it.each(cases)('refuses %s, naming the field', (_, mutate, message) => {
    const p = structuredClone(microvmPlatform());
    mutate(p);
    expect(() => buildAcpiTables(p, BASE)).toThrow(message);
  });

  it('refuses a base that is not 16-byte aligned', () => {
    expect(() => buildAcpiTables(microvmPlatform(), BASE + 8)).toThrow(/baseGpa: .* not a 16-byte aligned/);
    expect(() => buildAcpiTables(microvmPlatform(), -16)).toThrow(/baseGpa/);
  });

  it('accepts the serial port on an overridden IRQ, and a custom OEM ID', () => {
    const p = { ...microvmPlatform(), interruptOverrides: [{ isaIrq: 4, gsi: 4, trigger: 'edge' as const, polarity: 'high' as const }], oemId: 'ACME' };
    const t = buildAcpiTables(p, BASE);
    expect(text(t.bytes, t.tables.madt.offset + SdtHeaderField.oemId, 6)).toBe('ACME  ');
    expect(text(t.bytes, RsdpField.oemId, 6)).toBe('ACME  ');
  });
});
