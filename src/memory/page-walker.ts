// Guest-virtual → guest-physical translation by walking the guest's own x86-64
// page tables (4-level, 4 KiB / 2 MiB / 1 GiB pages). Used for error reports
// (instruction bytes at RIP), never on a hot path. Returns undefined for
// anything unmapped or outside RAM: the guest controls every byte read here.
import type { GuestMemory } from './guest-memory.js';

const PRESENT = 1n;
const PAGE_SIZE_BIT = 1n << 7n;
const ADDR_MASK = 0x000ffffffffff000n;

export interface PagingState {
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
}

function readEntry(memory: GuestMemory, gpa: bigint): bigint | undefined {
  const v = memory.view(Number(gpa), 8);
  if (!v) return undefined;
  return new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0, true);
}

export function translate(memory: GuestMemory, paging: PagingState, gva: bigint): number | undefined {
  const pagingOn = (paging.cr0 & (1n << 31n)) !== 0n;
  if (!pagingOn) return Number(gva & 0xffffffffn);
  const longMode = (paging.efer & (1n << 10n)) !== 0n;
  if (!longMode) return undefined; // 32-bit paging: not needed by tsvmm's guests
  let table = paging.cr3 & ADDR_MASK;
  for (let level = 3; level >= 0; level--) {
    const shift = BigInt(12 + 9 * level);
    const index = (gva >> shift) & 0x1ffn;
    const entry = readEntry(memory, table + index * 8n);
    if (entry === undefined || (entry & PRESENT) === 0n) return undefined;
    if (level > 0 && level < 3 && (entry & PAGE_SIZE_BIT) !== 0n) {
      const pageMask = (1n << shift) - 1n;
      return Number((entry & ADDR_MASK & ~pageMask) | (gva & pageMask));
    }
    table = entry & ADDR_MASK;
  }
  return Number(table | (gva & 0xfffn));
}

/** Up to `len` bytes at a guest-virtual address (stops at the first unmapped byte). */
export function readVirtual(memory: GuestMemory, paging: PagingState, gva: bigint, len: number): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < len; i++) {
    const gpa = translate(memory, paging, gva + BigInt(i));
    const v = gpa === undefined ? undefined : memory.view(gpa, 1);
    if (!v) break;
    out.push(v[0]);
  }
  return Uint8Array.from(out);
}
