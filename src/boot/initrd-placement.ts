// Where the initrd goes: as high as possible (page aligned) in usable RAM
// above 1 MiB, below min(initrd_addr_max + 1, 4 GiB, top of RAM), clear of
// the kernel and everything else the loader has placed.
import { BootError, hex } from './boot-error.js';
import { HIGH_MEMORY_START } from './boot-layout.js';
import { describeRange, subtractRanges, type GuestRange } from './guest-range.js';

const PAGE = 4096;
const FOUR_GIB = 2 ** 32;

export interface InitrdPlacementRequest {
  size: number;
  /** Usable RAM (the e820 RAM entries). */
  usable: readonly GuestRange[];
  /** initrd_addr_max from the setup header: the highest address the initrd may occupy. */
  initrdAddrMax: number;
  /** Ranges the initrd must not overlap (the kernel's init_size span, ...). */
  avoid: readonly GuestRange[];
}

export function placeInitrd(req: InitrdPlacementRequest): GuestRange {
  const { size } = req;
  if (size <= 0) throw new BootError('initrd is empty');
  const limit = Math.min(req.initrdAddrMax + 1, FOUR_GIB);
  const candidates = subtractRanges(req.usable, [...req.avoid, { gpa: 0, size: HIGH_MEMORY_START }, { gpa: limit, size: Number.MAX_SAFE_INTEGER - limit }]);
  for (let i = candidates.length - 1; i >= 0; i--) {
    const c = candidates[i];
    const top = c.gpa + c.size;
    const gpa = Math.floor((top - size) / PAGE) * PAGE;
    if (gpa >= c.gpa) return { gpa, size };
  }
  const largest = candidates.reduce((m, c) => Math.max(m, c.size), 0);
  throw new BootError(
    `initrd of ${size} bytes does not fit in guest RAM below ${hex(limit)} ` +
      `(largest free range ${largest} bytes; free: ${candidates.map(describeRange).join(', ') || 'none'})`,
  );
}
