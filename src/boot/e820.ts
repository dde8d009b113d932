// The e820 memory map the guest kernel sees: usable RAM from the machine's
// RAM regions, minus the legacy BIOS area and any ranges the machine
// reserves, plus those reserved ranges. Used for the zero page's e820_table
// and (same types) the PVH memory map.
import { BootError, hex } from './boot-error.js';
import { EBDA_START, HIGH_MEMORY_START } from './boot-layout.js';
import { mergeRanges, subtractRanges, type GuestRange } from './guest-range.js';

export const E820_RAM = 1;
export const E820_RESERVED = 2;
export const E820_ACPI = 3;
export const E820_NVS = 4;
export const E820_UNUSABLE = 5;

/** E820_MAX_ENTRIES_ZEROPAGE in bootparam.h. */
export const E820_MAX_ENTRIES = 128;

export interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

/** The legacy hole between conventional memory and 1 MiB. */
export const LEGACY_BIOS_AREA: GuestRange = { gpa: EBDA_START, size: HIGH_MEMORY_START - EBDA_START };

export function buildE820Map(ram: readonly GuestRange[], reserved: readonly GuestRange[] = []): E820Entry[] {
  for (const r of [...ram, ...reserved]) {
    if (!Number.isSafeInteger(r.gpa) || !Number.isSafeInteger(r.size) || r.gpa < 0 || r.size < 0 || !Number.isSafeInteger(r.gpa + r.size))
      throw new BootError(`memory range at ${hex(r.gpa)} of ${r.size} bytes is not valid`);
  }
  const holes = mergeRanges([LEGACY_BIOS_AREA, ...reserved]);
  const usable = subtractRanges(mergeRanges(ram), holes);
  const entries: E820Entry[] = [
    ...usable.map((r) => ({ addr: r.gpa, size: r.size, type: E820_RAM })),
    ...holes.map((r) => ({ addr: r.gpa, size: r.size, type: E820_RESERVED })),
  ].sort((a, b) => a.addr - b.addr);
  if (entries.length > E820_MAX_ENTRIES)
    throw new BootError(`memory map needs ${entries.length} e820 entries, the zero page holds ${E820_MAX_ENTRIES}`);
  return entries;
}

/** The usable RAM ranges of an e820 map. */
export function usableRam(map: readonly E820Entry[]): GuestRange[] {
  return map.filter((e) => e.type === E820_RAM).map((e) => ({ gpa: e.addr, size: e.size }));
}
