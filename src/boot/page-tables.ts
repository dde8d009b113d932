// Identity-mapping page tables for the 64-bit entry: one PML4 entry, one
// PDPT with PD_COUNT entries, and PD_COUNT page directories of 2 MiB pages,
// mapping guest-physical 0 .. PD_COUNT GiB onto themselves (4 GiB here),
// which covers the loader's structures, the kernel and the initrd.
import { PD_ADDR, PD_COUNT, PDPT_ADDR, PML4_ADDR } from './boot-layout.js';

export const PTE_PRESENT = 1n << 0n;
export const PTE_WRITABLE = 1n << 1n;
export const PTE_PAGE_SIZE = 1n << 7n;
const PAGE = 4096;
const HUGE_PAGE = 2 * 1024 * 1024;

export interface PageTableImage {
  /** Where the image goes; CR3 = gpa (the PML4 comes first). */
  gpa: number;
  bytes: Uint8Array;
  /** Bytes identity-mapped from address 0. */
  mappedBytes: number;
}

export function buildIdentityPageTables(): PageTableImage {
  const size = PD_ADDR + PD_COUNT * PAGE - PML4_ADDR;
  const bytes = new Uint8Array(size);
  const dv = new DataView(bytes.buffer);
  const at = (gpa: number): number => gpa - PML4_ADDR;
  const flags = PTE_PRESENT | PTE_WRITABLE;
  dv.setBigUint64(at(PML4_ADDR), BigInt(PDPT_ADDR) | flags, true);
  for (let i = 0; i < PD_COUNT; i++) {
    const pd = PD_ADDR + i * PAGE;
    dv.setBigUint64(at(PDPT_ADDR) + i * 8, BigInt(pd) | flags, true);
    for (let j = 0; j < 512; j++) {
      const phys = BigInt((i * 512 + j) * HUGE_PAGE);
      dv.setBigUint64(at(pd) + j * 8, phys | flags | PTE_PAGE_SIZE, true);
    }
  }
  return { gpa: PML4_ADDR, bytes, mappedBytes: PD_COUNT * 512 * HUGE_PAGE };
}
