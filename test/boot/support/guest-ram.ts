import { closeSync } from 'node:fs';
import { GuestMemory } from '../../../src/memory/guest-memory.js';

export const MiB = 1 << 20;

/**
 * Private RAM; shared RAM in a memfd (4 KiB pages, as an unprivileged
 * `exec` has it); shared RAM on huge pages where this process may make the
 * tmpfs for them (root), else in a memfd too.
 */
export type GuestRamKind = 'anonymous' | 'shared' | 'shared-huge';

/** Runs `fn` with freshly mapped guest RAM of that kind, released afterwards. */
export function withGuestRam<T>(layout: { gpa: number; size: number }[], fn: (m: GuestMemory) => T, kind: GuestRamKind = 'anonymous'): T {
  const file = kind === 'anonymous' ? undefined : GuestMemory.createSharedRam(layout, kind === 'shared-huge');
  const memory = GuestMemory.allocate(layout, file && { memfd: file.fd, hugePages: file.backing.kind === 'huge-tmpfs' });
  try {
    return fn(memory);
  } finally {
    memory.release();
    if (file !== undefined) closeSync(file.fd);
  }
}

/** Walks 4-level x86-64 page tables in guest memory; returns the physical address or undefined if unmapped. */
export function translate(memory: GuestMemory, cr3: bigint, va: bigint): bigint | undefined {
  const read = (gpa: bigint): bigint => {
    const v = memory.view(Number(gpa), 8);
    if (!v) throw new Error(`page table read outside RAM at ${gpa.toString(16)}`);
    return new DataView(v.buffer, v.byteOffset, 8).getBigUint64(0, true);
  };
  const addrMask = 0x000ffffffffff000n;
  let table = cr3 & addrMask;
  const shifts = [39n, 30n, 21n, 12n];
  for (let level = 0; level < 4; level++) {
    const index = (va >> shifts[level]) & 0x1ffn;
    const entry = read(table + index * 8n);
    if (!(entry & 1n)) return undefined;
    if (level > 0 && level < 3 && entry & 0x80n) {
      const pageMask = (1n << shifts[level]) - 1n;
      return (entry & addrMask & ~pageMask) | (va & pageMask);
    }
    table = entry & addrMask;
  }
  return table | (va & 0xfffn);
}
