import { describe, expect, test } from 'vitest';
import { GDT_ADDR, PD_ADDR, PDPT_ADDR, PML4_ADDR, SELECTOR_BOOT_CS, SELECTOR_BOOT_DS, SELECTOR_CODE32, SELECTOR_TSS, TSS_ADDR } from '../../src/boot/boot-layout.js';
import { E820_RAM, E820_RESERVED } from '../../src/boot/e820.js';
import { buildGdt, segmentFromDescriptor } from '../../src/boot/gdt.js';
import { buildIdentityPageTables } from '../../src/boot/page-tables.js';
import { buildPvhStartInfo, HVM_START_INFO_BYTES, HvmStartInfoField, XEN_HVM_START_MAGIC_VALUE } from '../../src/boot/pvh-start-info.js';
import { BOOT_FLAG_MAGIC, HDRS_MAGIC, SetupHeaderField as H, XLF_KERNEL_64 } from '../../src/boot/setup-header.js';
import { BootParamsField, buildZeroPage, synthesizeSetupHeader } from '../../src/boot/zero-page.js';

describe('GDT', () => {
  const gdt = buildGdt();
  test('raw descriptors are the classic flat values', () => {
    const q = (sel: number): bigint => new DataView(gdt.buffer).getBigUint64(sel, true);
    expect(q(0)).toBe(0n);
    expect(q(SELECTOR_CODE32)).toBe(0x00cf9b000000ffffn);
    expect(q(SELECTOR_BOOT_CS)).toBe(0x00af9b000000ffffn);
    expect(q(SELECTOR_BOOT_DS)).toBe(0x00cf93000000ffffn);
    expect(q(SELECTOR_TSS)).toBe(0x00008b0005800067n);
    expect(q(SELECTOR_TSS + 8)).toBe(0n); // base bits 32-63
  });

  test('decodes to flat segments', () => {
    expect(segmentFromDescriptor(gdt, SELECTOR_BOOT_CS)).toEqual({
      base: 0n, limit: 0xffffffff, selector: 0x10, type: 0xb, present: 1, dpl: 0, db: 0, s: 1, l: 1, g: 1,
    });
    expect(segmentFromDescriptor(gdt, SELECTOR_BOOT_DS)).toEqual({
      base: 0n, limit: 0xffffffff, selector: 0x18, type: 0x3, present: 1, dpl: 0, db: 1, s: 1, l: 0, g: 1,
    });
    expect(segmentFromDescriptor(gdt, SELECTOR_CODE32)).toMatchObject({ db: 1, l: 0, type: 0xb, limit: 0xffffffff });
    expect(segmentFromDescriptor(gdt, SELECTOR_TSS)).toEqual({
      base: BigInt(TSS_ADDR), limit: 0x67, selector: 0x20, type: 0xb, present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0,
    });
    expect(GDT_ADDR).toBe(0x500);
  });
});

describe('identity page tables', () => {
  const pt = buildIdentityPageTables();
  const dv = new DataView(pt.bytes.buffer);
  const entry = (gpa: number): bigint => dv.getBigUint64(gpa - pt.gpa, true);
  test('structure', () => {
    expect(pt.gpa).toBe(PML4_ADDR);
    expect(pt.mappedBytes).toBe(4 * 2 ** 30);
    expect(entry(PML4_ADDR)).toBe(BigInt(PDPT_ADDR) | 3n);
    expect(entry(PML4_ADDR + 8)).toBe(0n);
    for (let i = 0; i < 4; i++) expect(entry(PDPT_ADDR + i * 8)).toBe(BigInt(PD_ADDR + i * 4096) | 3n);
    expect(entry(PDPT_ADDR + 32)).toBe(0n);
    expect(entry(PD_ADDR)).toBe(0x83n);
    expect(entry(PD_ADDR + 8)).toBe(0x200083n);
    expect(entry(PD_ADDR + 4 * 4096 - 8)).toBe(0xffe00083n);
  });
});

describe('zero page', () => {
  test('synthesized header for a bare vmlinux', () => {
    const page = buildZeroPage({ setupHeader: synthesizeSetupHeader(), cmdlineAddr: 0x20000, e820: [] });
    const dv = new DataView(page.buffer);
    expect(dv.getUint16(H.boot_flag.offset, true)).toBe(BOOT_FLAG_MAGIC);
    expect(dv.getUint32(H.header.offset, true)).toBe(HDRS_MAGIC);
    expect(dv.getUint16(H.version.offset, true)).toBe(0x020f);
    expect(dv.getUint8(H.type_of_loader.offset)).toBe(0xff);
    expect(dv.getUint8(H.loadflags.offset) & 1).toBe(1);
    expect(dv.getUint16(H.xloadflags.offset, true) & XLF_KERNEL_64).toBe(XLF_KERNEL_64);
    expect(dv.getUint32(H.cmdline_size.offset, true)).toBe(2047);
    expect(dv.getUint32(H.initrd_addr_max.offset, true)).toBe(0x7fffffff);
    expect(dv.getUint8(BootParamsField.sentinel)).toBe(0);
  });

  test('loader fields, 64-bit split of pointers, e820 table', () => {
    const header = synthesizeSetupHeader();
    // A hostile header asking for KASLR and a setup_data chain: the loader clears both.
    const hv = new DataView(header.buffer);
    hv.setUint8(H.loadflags.offset - 0x1f1, 0x03);
    hv.setBigUint64(H.setup_data.offset - 0x1f1, 0x12345678n, true);
    const e820 = [
      { addr: 0, size: 0x9fc00, type: E820_RAM },
      { addr: 0x9fc00, size: 0x60400, type: E820_RESERVED },
      { addr: 0x100000, size: 0x1_4000_0000, type: E820_RAM },
    ];
    const page = buildZeroPage({ setupHeader: header, cmdlineAddr: 0x1_0002_0000, initrd: { gpa: 0x1_2000_0000, size: 0x1234 }, e820 });
    const dv = new DataView(page.buffer);
    expect(dv.getUint8(H.loadflags.offset)).toBe(0x01);
    expect(dv.getBigUint64(H.setup_data.offset, true)).toBe(0n);
    expect(dv.getUint32(H.cmd_line_ptr.offset, true)).toBe(0x00020000);
    expect(dv.getUint32(BootParamsField.ext_cmd_line_ptr, true)).toBe(1);
    expect(dv.getUint32(H.ramdisk_image.offset, true)).toBe(0x20000000);
    expect(dv.getUint32(BootParamsField.ext_ramdisk_image, true)).toBe(1);
    expect(dv.getUint32(H.ramdisk_size.offset, true)).toBe(0x1234);
    expect(dv.getUint32(BootParamsField.ext_ramdisk_size, true)).toBe(0);
    expect(dv.getUint8(BootParamsField.e820_entries)).toBe(3);
    const at = BootParamsField.e820_table + 2 * 20;
    expect(dv.getBigUint64(at, true)).toBe(0x100000n);
    expect(dv.getBigUint64(at + 8, true)).toBe(0x1_4000_0000n);
    expect(dv.getUint32(at + 16, true)).toBe(E820_RAM);
    expect(dv.getUint32(BootParamsField.e820_table + 20 + 16, true)).toBe(E820_RESERVED);
  });
});

describe('PVH start info', () => {
  test('layout of hvm_start_info, modlist and memmap', () => {
    const img = buildPvhStartInfo({
      cmdlineAddr: 0x20000,
      modlistAddr: 0x8040,
      memmapAddr: 0x8100,
      initrd: { gpa: 0x3000000, size: 0x5000 },
      memoryMap: [
        { addr: 0, size: 0x9fc00, type: 1 },
        { addr: 0x100000, size: 0x3f00000, type: 1 },
      ],
      rsdpAddr: 0xe0000,
    });
    expect(img.startInfo.length).toBe(HVM_START_INFO_BYTES);
    const si = new DataView(img.startInfo.buffer);
    expect(si.getUint32(HvmStartInfoField.magic, true)).toBe(XEN_HVM_START_MAGIC_VALUE);
    expect(si.getUint32(HvmStartInfoField.version, true)).toBe(1);
    expect(si.getUint32(HvmStartInfoField.nr_modules, true)).toBe(1);
    expect(si.getBigUint64(HvmStartInfoField.modlist_paddr, true)).toBe(0x8040n);
    expect(si.getBigUint64(HvmStartInfoField.cmdline_paddr, true)).toBe(0x20000n);
    expect(si.getBigUint64(HvmStartInfoField.rsdp_paddr, true)).toBe(0xe0000n);
    expect(si.getBigUint64(HvmStartInfoField.memmap_paddr, true)).toBe(0x8100n);
    expect(si.getUint32(HvmStartInfoField.memmap_entries, true)).toBe(2);
    const mod = new DataView(img.modlist.buffer);
    expect(mod.getBigUint64(0, true)).toBe(0x3000000n);
    expect(mod.getBigUint64(8, true)).toBe(0x5000n);
    const mm = new DataView(img.memmap.buffer);
    expect(img.memmap.length).toBe(48);
    expect(mm.getBigUint64(24, true)).toBe(0x100000n);
    expect(mm.getBigUint64(32, true)).toBe(0x3f00000n);
    expect(mm.getUint32(40, true)).toBe(1);
  });

  test('without an initrd there are no modules', () => {
    const img = buildPvhStartInfo({ cmdlineAddr: 0x20000, modlistAddr: 0x8040, memmapAddr: 0x8100, memoryMap: [] });
    const si = new DataView(img.startInfo.buffer);
    expect(si.getUint32(HvmStartInfoField.nr_modules, true)).toBe(0);
    expect(si.getBigUint64(HvmStartInfoField.modlist_paddr, true)).toBe(0n);
  });
});
