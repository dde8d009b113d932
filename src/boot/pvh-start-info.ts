// The PVH boot ABI's start-of-day structures (xen/include/public/arch-x86/
// hvm/start_info.h): struct hvm_start_info (version 1, with a memory map),
// the module list carrying the initrd, and the memory map itself.
import { BootError } from './boot-error.js';
import type { E820Entry } from './e820.js';
import { E820_MAX_ENTRIES } from './e820.js';
import type { GuestRange } from './guest-range.js';

export const XEN_HVM_START_MAGIC_VALUE = 0x336ec578;
export const HVM_START_INFO_VERSION = 1;

/** Offsets in struct hvm_start_info (56 bytes). */
export const HvmStartInfoField = {
  magic: 0,
  version: 4,
  flags: 8,
  nr_modules: 12,
  modlist_paddr: 16,
  cmdline_paddr: 24,
  rsdp_paddr: 32,
  memmap_paddr: 40,
  memmap_entries: 48,
  reserved: 52,
} as const;
export const HVM_START_INFO_BYTES = 56;
/** struct hvm_modlist_entry: paddr, size, cmdline_paddr, reserved. */
export const HVM_MODLIST_ENTRY_BYTES = 32;
/** struct hvm_memmap_table_entry: addr, size, type, reserved. */
export const HVM_MEMMAP_ENTRY_BYTES = 24;

export interface PvhStartInfoOptions {
  cmdlineAddr: number;
  modlistAddr: number;
  memmapAddr: number;
  initrd?: GuestRange;
  /** e820 entries; the PVH memory map types are the same numbers. */
  memoryMap: readonly E820Entry[];
  rsdpAddr?: number;
}

export interface PvhStartInfoImage {
  startInfo: Uint8Array;
  modlist: Uint8Array;
  memmap: Uint8Array;
}

export function buildPvhStartInfo(o: PvhStartInfoOptions): PvhStartInfoImage {
  if (o.memoryMap.length > E820_MAX_ENTRIES) throw new BootError(`${o.memoryMap.length} memory map entries are too many`);
  const startInfo = new Uint8Array(HVM_START_INFO_BYTES);
  const si = new DataView(startInfo.buffer);
  const F = HvmStartInfoField;
  si.setUint32(F.magic, XEN_HVM_START_MAGIC_VALUE, true);
  si.setUint32(F.version, HVM_START_INFO_VERSION, true);
  si.setUint32(F.nr_modules, o.initrd ? 1 : 0, true);
  si.setBigUint64(F.modlist_paddr, o.initrd ? BigInt(o.modlistAddr) : 0n, true);
  si.setBigUint64(F.cmdline_paddr, BigInt(o.cmdlineAddr), true);
  si.setBigUint64(F.rsdp_paddr, BigInt(o.rsdpAddr ?? 0), true);
  si.setBigUint64(F.memmap_paddr, BigInt(o.memmapAddr), true);
  si.setUint32(F.memmap_entries, o.memoryMap.length, true);

  const modlist = new Uint8Array(o.initrd ? HVM_MODLIST_ENTRY_BYTES : 0);
  if (o.initrd) {
    const m = new DataView(modlist.buffer);
    m.setBigUint64(0, BigInt(o.initrd.gpa), true);
    m.setBigUint64(8, BigInt(o.initrd.size), true);
  }

  const memmap = new Uint8Array(o.memoryMap.length * HVM_MEMMAP_ENTRY_BYTES);
  const mm = new DataView(memmap.buffer);
  o.memoryMap.forEach((e, i) => {
    const at = i * HVM_MEMMAP_ENTRY_BYTES;
    mm.setBigUint64(at, BigInt(e.addr), true);
    mm.setBigUint64(at + 8, BigInt(e.size), true);
    mm.setUint32(at + 16, e.type, true);
  });
  return { startInfo, modlist, memmap };
}
