// Where guest RAM goes: from address 0 up to the machine's MMIO gap, and the
// rest above the gap (as on a PC: devices live below 4 GiB).
import { totalmem } from 'node:os';
import type { RamLayout } from '../memory/guest-memory.js';
import type { MachineDefinition } from '../machine/machine-definition.js';
import { formatSize } from '../machine/size.js';

export const MIN_RAM = 16 << 20;
export const MAX_RAM = 2 ** 40;

export class MemorySizeError extends Error {
  override name = 'MemorySizeError';
}

export function ramLayout(machine: MachineDefinition, size: number): RamLayout[] {
  if (!Number.isSafeInteger(size) || size < MIN_RAM)
    throw new MemorySizeError(`guest memory of ${formatSize(size)} is too small: at least ${formatSize(MIN_RAM)} is needed`);
  if (size > MAX_RAM) throw new MemorySizeError(`guest memory of ${formatSize(size)} is more than tsvmm supports (${formatSize(MAX_RAM)})`);
  if (size > totalmem())
    throw new MemorySizeError(`guest memory of ${formatSize(size)} is more than this host's ${formatSize(Math.floor(totalmem() / 2 ** 20) * 2 ** 20)} of RAM`);
  if (size % 4096) throw new MemorySizeError(`guest memory size ${size} is not a multiple of 4 KiB`);
  const { start, end } = machine.memory.mmioGap;
  if (size <= start) return [{ gpa: 0, size }];
  return [
    { gpa: 0, size: start },
    { gpa: end, size: size - start },
  ];
}
