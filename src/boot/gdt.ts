// The boot GDT: flat descriptors for the 64-bit entry (__BOOT_CS/__BOOT_DS)
// and the PVH entry (a 32-bit code segment), plus a TSS descriptor, and the
// segment register states (KVM's unpacked form) that match them.
import type { SegmentState, TableState } from './cpu-state.js';
import {
  GDT_ADDR,
  GDT_SIZE,
  SELECTOR_BOOT_CS,
  SELECTOR_BOOT_DS,
  SELECTOR_CODE32,
  SELECTOR_TSS,
  TSS_ADDR,
  TSS_LIMIT,
} from './boot-layout.js';

// access byte bits
const ACCESS_PRESENT = 0x80;
const ACCESS_CODE_DATA = 0x10; // S: code/data rather than system
const TYPE_CODE_EXEC_READ_ACCESSED = 0xb;
const TYPE_DATA_READ_WRITE_ACCESSED = 0x3;
const TYPE_TSS_BUSY = 0xb; // 32-bit busy TSS; 64-bit busy TSS in long mode
// flags nibble bits
const FLAG_LONG = 0x2;
const FLAG_DB = 0x4;
const FLAG_GRANULARITY = 0x8;

export interface DescriptorSpec {
  base: number;
  /** 20-bit limit as stored (in 4 KiB units when FLAG_GRANULARITY is set). */
  limit: number;
  access: number;
  /** High nibble of byte 6: G, D/B, L, AVL. */
  flags: number;
}

export const CODE64_DESCRIPTOR: DescriptorSpec = {
  base: 0,
  limit: 0xfffff,
  access: ACCESS_PRESENT | ACCESS_CODE_DATA | TYPE_CODE_EXEC_READ_ACCESSED,
  flags: FLAG_GRANULARITY | FLAG_LONG,
};
export const CODE32_DESCRIPTOR: DescriptorSpec = {
  base: 0,
  limit: 0xfffff,
  access: ACCESS_PRESENT | ACCESS_CODE_DATA | TYPE_CODE_EXEC_READ_ACCESSED,
  flags: FLAG_GRANULARITY | FLAG_DB,
};
export const DATA_DESCRIPTOR: DescriptorSpec = {
  base: 0,
  limit: 0xfffff,
  access: ACCESS_PRESENT | ACCESS_CODE_DATA | TYPE_DATA_READ_WRITE_ACCESSED,
  flags: FLAG_GRANULARITY | FLAG_DB,
};
export const TSS_DESCRIPTOR: DescriptorSpec = {
  base: TSS_ADDR,
  limit: TSS_LIMIT,
  access: ACCESS_PRESENT | TYPE_TSS_BUSY,
  flags: 0,
};

/** Writes an 8-byte code/data descriptor (or the low half of a system descriptor). */
export function encodeDescriptor(d: DescriptorSpec, out: Uint8Array, offset: number): void {
  const dv = new DataView(out.buffer, out.byteOffset + offset, 8);
  dv.setUint16(0, d.limit & 0xffff, true);
  dv.setUint16(2, d.base & 0xffff, true);
  dv.setUint8(4, (d.base >>> 16) & 0xff);
  dv.setUint8(5, d.access & 0xff);
  dv.setUint8(6, ((d.flags & 0xf) << 4) | ((d.limit >>> 16) & 0xf));
  dv.setUint8(7, (d.base >>> 24) & 0xff);
}

/** The GDT image (GDT_SIZE bytes) for GDT_ADDR. */
export function buildGdt(): Uint8Array {
  const gdt = new Uint8Array(GDT_SIZE);
  encodeDescriptor(CODE32_DESCRIPTOR, gdt, SELECTOR_CODE32);
  encodeDescriptor(CODE64_DESCRIPTOR, gdt, SELECTOR_BOOT_CS);
  encodeDescriptor(DATA_DESCRIPTOR, gdt, SELECTOR_BOOT_DS);
  // 16-byte system descriptor: the upper half holds base bits 32-63 (zero here).
  encodeDescriptor(TSS_DESCRIPTOR, gdt, SELECTOR_TSS);
  return gdt;
}

export const GDT_TABLE: TableState = { base: BigInt(GDT_ADDR), limit: GDT_SIZE - 1 };

/**
 * Unpacks the descriptor at `selector` of a GDT image into the form KVM
 * takes (byte-granular limit, separate attribute bits). Used to derive the
 * segment registers from the very bytes in guest memory.
 */
export function segmentFromDescriptor(gdt: Uint8Array, selector: number): SegmentState {
  const dv = new DataView(gdt.buffer, gdt.byteOffset + (selector & ~7), 8);
  const limitLow = dv.getUint16(0, true);
  const baseLow = dv.getUint16(2, true) | (dv.getUint8(4) << 16);
  const access = dv.getUint8(5);
  const flagsLimit = dv.getUint8(6);
  const base = (baseLow | (dv.getUint8(7) << 24)) >>> 0;
  const rawLimit = limitLow | ((flagsLimit & 0xf) << 16);
  const flags = flagsLimit >>> 4;
  const g = (flags >>> 3) & 1;
  return {
    base: BigInt(base),
    limit: g ? rawLimit * 4096 + 4095 : rawLimit,
    selector,
    type: access & 0xf,
    present: (access >>> 7) & 1,
    dpl: (access >>> 5) & 3,
    db: (flags >>> 2) & 1,
    s: (access >>> 4) & 1,
    l: (flags >>> 1) & 1,
    g,
  };
}
