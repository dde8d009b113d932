// The generated tables as ACPICA's iasl reads them: each disassembles
// without a complaint, says what the platform asked for, and compiles back
// to the same bytes (up to what iasl rewrites: the creator fields and
// checksums in the header, and the End Tag checksums it leaves 0).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { AcpiTables } from '../../../src/boot/acpi/acpi-tables.js';
import { buildAcpiTables } from '../../../src/boot/acpi/acpi-tables.js';
import * as aml from '../../../src/boot/acpi/aml.js';
import { buildDefinitionBlock } from '../../../src/boot/acpi/dsdt.js';
import { ResourceTag } from '../../../src/boot/acpi/aml.js';
import { SdtHeaderField } from '../../../src/boot/acpi/sdt-header.js';
import { describeNeeding } from '../../support/host-requirements.js';
import type { Disassembly } from './support/iasl.js';
import { compile, complaints, differences, disassemble, iasl, iaslProblem } from './support/iasl.js';
import { BASE, manySlotsPlatform, microvmPlatform } from './support/platforms.js';

const hex = (n: number, digits: number) => n.toString(16).toUpperCase().padStart(digits, '0');
/** Header bytes iasl rewrites when it compiles: the checksum and the compiler's ID and revision. */
const HEADER_REWRITTEN = [SdtHeaderField.checksum, ...Array.from({ length: 8 }, (_, i) => SdtHeaderField.creatorId + i)];

/** The platform under test: the default machine plus a level-triggered slot and an extra override. */
function platform() {
  const p = microvmPlatform();
  p.virtioMmio.push({ base: 0xd0002000, size: 0x200, irq: 7, trigger: 'level' });
  p.interruptOverrides = [{ isaIrq: 9, gsi: 20, trigger: 'level', polarity: 'low' }];
  return p;
}

describeNeeding(iaslProblem(), 'ACPI tables as iasl reads them', () => {
  let dir: string;
  let t: AcpiTables;
  const table = (name: keyof AcpiTables['tables']) => t.bytes.subarray(t.tables[name].offset, t.tables[name].offset + t.tables[name].length);
  const dis: Record<string, Disassembly> = {};

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsvmm-acpi-'));
    t = buildAcpiTables(platform(), BASE);
    for (const name of ['xsdt', 'fadt', 'madt', 'dsdt'] as const) dis[name] = disassemble(dir, name, table(name));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('disassembles every table without a complaint (checksums, lengths, AML)', () => {
    for (const [name, d] of Object.entries(dis)) {
      expect(complaints(d.output), `${name}: iasl output`).toEqual([]);
      expect(complaints(d.dsl), `${name}: disassembly`).toEqual([]);
    }
  });

  it('catches a broken table (the check above has teeth)', () => {
    const broken = table('madt').slice();
    broken[SdtHeaderField.checksum] ^= 1;
    const d = disassemble(dir, 'broken-madt', broken);
    expect(complaints(d.output).join('\n')).toMatch(/Incorrect checksum/);
    const badAml = table('dsdt').slice();
    badAml[badAml.length - 20] = 0xff; // inside \_S5_'s name
    expect(complaints(disassemble(dir, 'broken-dsdt', badAml).output).length).toBeGreaterThan(0);
  });

  it('reads the XSDT as pointing at the FADT and the MADT', () => {
    const entries = [...dis.xsdt.dsl.matchAll(/ACPI Table Address\s+(\d+) : ([0-9A-F]{16})/g)].map((m) => parseInt(m[2], 16));
    expect(entries).toEqual([t.tables.fadt.gpa, t.tables.madt.gpa]);
  });

  it('reads the FADT as hardware-reduced, with X_DSDT, the sleep registers and the reset register on their I/O ports', () => {
    const dsl = dis.fadt.dsl;
    expect(dsl).toMatch(/Revision : 06/);
    expect(dsl).toMatch(/FADT Minor Revision : 05/);
    expect(dsl).toMatch(/Hardware Reduced \(V5\) : 1/);
    expect(dsl).toMatch(/Control Method Power Button \(V1\) : 1/);
    expect(dsl).toMatch(/VGA Not Present \(V4\) : 1/);
    expect(dsl).toMatch(/CMOS RTC Not Present \(V5\) : 1/);
    expect(dsl).toMatch(/FACS Address : 00000000\n/);
    expect(dsl).toMatch(new RegExp(`\\[08Ch 0140   8\\]\\s+DSDT Address : ${hex(t.tables.dsdt.gpa, 16)}`));
    for (const register of ['Sleep Control Register', 'Sleep Status Register']) {
      const block = dsl.slice(dsl.indexOf(register)).split('\n\n')[0];
      expect(block).toMatch(/Space ID : 01 \[SystemIO\]/);
      expect(block).toMatch(/Bit Width : 08/);
      expect(block).toMatch(/Encoded Access Width : 01 \[Byte Access:8\]/);
      expect(block).toMatch(/Address : 0000000000000600/);
    }
    expect(dsl).toMatch(/Reset Register Supported \(V2\) : 1/);
    const reset = dsl.slice(dsl.indexOf('Reset Register :')).split('\n\n')[0];
    expect(reset).toMatch(/Space ID : 01 \[SystemIO\]/);
    expect(reset).toMatch(/Address : 0000000000000601/);
    expect(dsl).toMatch(/Value to cause reset : 01/);
    expect(dsl).toMatch(/Hypervisor ID : 2020204D4D565354/); // "TSVMM   " read as a little-endian u64
  });

  it('reads the MADT: both local APICs enabled, the IOAPIC, both overrides, LINT1 NMI, PC-AT compatibility', () => {
    const dsl = dis.madt.dsl;
    expect(dsl).toMatch(/Local Apic Address : FEE00000/);
    expect(dsl).toMatch(/PC-AT Compatibility : 1/);
    const subtables = dsl.split(/(?=\[[0-9A-F]{3}h \d{4}   1\]\s+Subtable Type)/).slice(1);
    const lapics = subtables.filter((s) => s.includes('[Processor Local APIC]'));
    expect(lapics.map((s) => /Local Apic ID : ([0-9A-F]{2})/.exec(s)?.[1])).toEqual(['00', '01']);
    for (const s of lapics) expect(s).toMatch(/Processor Enabled : 1/);
    const ioapic = subtables.filter((s) => s.includes('[I/O APIC]'));
    expect(ioapic).toHaveLength(1);
    expect(ioapic[0]).toMatch(/I\/O Apic ID : 01/);
    expect(ioapic[0]).toMatch(/Address : FEC00000/);
    expect(ioapic[0]).toMatch(/Interrupt : 00000000/);
    const isos = subtables.filter((s) => s.includes('[Interrupt Source Override]'));
    expect(isos.map((s) => [/Source : (\w+)/.exec(s)?.[1], /Interrupt : (\w+)/.exec(s)?.[1], /Polarity : (\d)/.exec(s)?.[1], /Trigger Mode : (\d)/.exec(s)?.[1]])).toEqual([
      ['00', '00000002', '0', '0'],
      ['09', '00000014', '3', '3'],
    ]);
    const nmi = subtables.filter((s) => s.includes('[Local APIC NMI]'));
    expect(nmi).toHaveLength(1);
    expect(nmi[0]).toMatch(/Processor ID : FF/);
    expect(nmi[0]).toMatch(/Interrupt Input LINT : 01/);
  });

  it('reads the DSDT: COM1 as PNP0501, each slot as LNRO0005 with its window and interrupt, and \\_S5_', () => {
    const dsl = dis.dsdt.dsl;
    expect(dsl).toMatch(/DefinitionBlock \("", "DSDT", 2, "TSVMM ", "TSVMDSDT", 0x00000001\)/);
    expect(dsl).toMatch(/Scope \(\\_SB\)/);
    const devices = Object.fromEntries(
      dsl
        .split(/(?=Device \()/)
        .slice(1)
        .map((block) => [/Device \((\w+)\)/.exec(block)![1], block]),
    );
    expect(Object.keys(devices)).toEqual(['COM1', 'VR00', 'VR01', 'VR02']);
    expect(devices.COM1).toMatch(/Name \(_HID, EisaId \("PNP0501"\)/);
    expect(devices.COM1).toMatch(/IO \(Decode16,\s+0x03F8,\s+\/\/ Range Minimum\s+0x03F8,\s+\/\/ Range Maximum\s+0x01,\s+\/\/ Alignment\s+0x08,\s+\/\/ Length/);
    expect(devices.COM1).toMatch(/IRQNoFlags \(\)\s+\{4\}/);
    platform().virtioMmio.forEach((v, i) => {
      const d = devices[`VR0${i}`];
      expect(d).toMatch(/Name \(_HID, "LNRO0005"\)/);
      expect(d).toMatch(new RegExp(`Name \\(_UID, ${['Zero', 'One', '0x02'][i]}\\)`));
      expect(d).toMatch(/Name \(_CRS, ResourceTemplate \(\)/);
      expect(d).toMatch(new RegExp(`Memory32Fixed \\(ReadWrite,\\s+0x${hex(v.base, 8)},\\s+// Address Base\\s+0x${hex(v.size, 8)},\\s+// Address Length`));
      const trigger = v.trigger === 'level' ? 'Level' : 'Edge';
      expect(d).toMatch(new RegExp(`Interrupt \\(ResourceConsumer, ${trigger}, ActiveHigh, Exclusive, ,, \\)\\s+\\{\\s+0x${hex(v.irq, 8)},\\s+\\}`));
    });
    expect(dsl).toMatch(/Name \(_S5, Package \(0x04\)\s+\/\/ _S5_: S5 System State\s+\{\s+0x05,\s+Zero,\s+Zero,\s+Zero\s+\}\)/);
  });

  it('compiles the data tables back to the same bytes', () => {
    for (const name of ['xsdt', 'fadt', 'madt'] as const) {
      const out = compile(dir, `${name}.dsl`, `${name}-again`);
      expect(out.output).toMatch(/Compilation successful\. 0 Errors, 0 Warnings/);
      expect(differences(out.aml, table(name)).filter((i) => !HEADER_REWRITTEN.includes(i)), name).toEqual([]);
    }
  });

  it('compiles the DSDT back to the same AML (iasl writes End Tag checksums as 0)', () => {
    const ours = table('dsdt');
    const out = compile(dir, 'dsdt.dsl', 'dsdt-again', ['-oa']); // no optimizations: iasl keeps our \_SB spelling
    expect(out.output).toMatch(/Compilation successful\. 0 Errors, 0 Warnings/);
    const endTagChecksums = differences(out.aml, ours).filter((i) => !HEADER_REWRITTEN.includes(i));
    expect(endTagChecksums).toHaveLength(2 + platform().virtioMmio.length - 1); // one per _CRS
    for (const i of endTagChecksums) expect([ours[i - 1], out.aml[i]]).toEqual([ResourceTag.EndTag, 0]);
  });

  it('agrees on the RSDP: iasl compiles its own RSDP template with our fields to our bytes, both checksums included', () => {
    // iasl cannot load an RSDP from a file ("Loading an RSDP is not supported"), but its data table compiler knows the layout.
    expect(iasl(dir, ['-T', 'RSDP']).status).toBe(0);
    const field = (source: string, name: string, value: string) => {
      const re = new RegExp(`^(\\s*\\[\\d+\\]\\s+${name} : ).*$`, 'm');
      expect(source).toMatch(re);
      return source.replace(re, `$1${value}`);
    };
    let source = readFileSync(join(dir, 'rsdp.asl'), 'utf8');
    source = field(source, 'Checksum', '00');
    source = field(source, 'Oem ID', '"TSVMM "');
    source = field(source, 'Revision', '02');
    source = field(source, 'RSDT Address', '00000000');
    source = field(source, 'Length', '00000024');
    source = field(source, 'XSDT Address', hex(t.tables.xsdt.gpa, 16));
    source = field(source, 'Extended Checksum', '00');
    writeFileSync(join(dir, 'rsdp.asl'), source);
    const out = compile(dir, 'rsdp.asl', 'rsdp');
    expect(out.output).toMatch(/Compilation successful\. 0 Errors, 0 Warnings/);
    expect(Array.from(table('rsdp'))).toEqual(Array.from(out.aml));
  });

  it('reads a DSDT with 200 slots (3-byte PkgLength) without a complaint', () => {
    const big = buildAcpiTables(manySlotsPlatform(200), BASE);
    const d = disassemble(dir, 'big-dsdt', big.bytes.subarray(big.tables.dsdt.offset, big.tables.dsdt.offset + big.tables.dsdt.length));
    expect(complaints(d.output)).toEqual([]);
    expect(d.dsl).toMatch(/Device \(VRC7\)[\s\S]*0xD0018E00,\s+\/\/ Address Base[\s\S]*0x000000CA,/);
    expect([...d.dsl.matchAll(/"LNRO0005"/g)]).toHaveLength(200);
  });

  it('reads what the AML encoder writes: methods, every integer size, packages, buffers with 1- to 4-byte PkgLengths, dual and multi-segment names', () => {
    const body = aml.concat([
      aml.scope('\\_SB', [
        aml.device('DEV0', [
          aml.name('_HID', aml.string('TSVM0001')),
          aml.method('_STA', 0, false, [aml.returnValue(aml.integer(0x0f))]),
          aml.method('SRLZ', 2, true, [aml.returnValue(aml.integer(0x12345678))]),
          aml.name('INTS', aml.packageOf([0, 1, 0xff, 0x1234, 0x12345678, 0x123456789abcn].map((v) => aml.integer(v)))),
          aml.name('BUF1', aml.buffer(new Uint8Array(100).fill(0xa5))),
          aml.name('BUF2', aml.buffer(new Uint8Array(5000).fill(0xa5))),
          aml.name('BUF3', aml.buffer(new Uint8Array(0x100000).fill(0xa5))),
          aml.device('SUB0', [aml.name('_UID', aml.integer(0))]),
        ]),
      ]),
      aml.scope('\\_SB.DEV0', [aml.name('DUAL', aml.integer(1))]),
      aml.scope('\\_SB.DEV0.SUB0', [aml.name('MULT', aml.integer(2))]),
    ]);
    const d = disassemble(dir, 'encoder', buildDefinitionBlock('DSDT', 'TSVMM', body));
    expect(complaints(d.output)).toEqual([]);
    const dsl = d.dsl;
    expect(dsl).toMatch(/Name \(_HID, "TSVM0001"\)/);
    expect(dsl).toMatch(/Method \(_STA, 0, NotSerialized\)[^{]*\{\s+Return \(0x0F\)\s+\}/);
    expect(dsl).toMatch(/Method \(SRLZ, 2, Serialized\)\s+\{\s+Return \(0x12345678\)\s+\}/);
    expect(dsl).toMatch(/Name \(INTS, Package \(0x06\)\s+\{\s+Zero,\s+One,\s+0xFF,\s+0x1234,\s+0x12345678,\s+0x0000123456789ABC\s+\}\)/);
    expect(dsl).toMatch(/Name \(BUF1, Buffer \(0x64\)/);
    expect(dsl).toMatch(/Name \(BUF2, Buffer \(0x1388\)/);
    expect(dsl).toMatch(/Name \(BUF3, Buffer \(0x00100000\)/);
    expect(dsl).toMatch(/Scope \(\\_SB\.DEV0\)\s+\{\s+Name \(DUAL, One\)/);
    expect(dsl).toMatch(/Scope \(\\_SB\.DEV0\.SUB0\)\s+\{\s+Name \(MULT, 0x02\)/);
  });
});
