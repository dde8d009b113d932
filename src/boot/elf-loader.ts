// Copies an ELF vmlinux's PT_LOAD segments into guest RAM at their physical
// addresses (p_paddr) and zeroes the rest of each segment (bss).
import type { GuestMemory } from '../memory/guest-memory.js';
import { BootError } from './boot-error.js';
import { asByteSource, type ByteSource } from './byte-source.js';
import type { ElfImage } from './elf-image.js';
import { describeRange, rangesOverlap, type GuestRange } from './guest-range.js';

/**
 * Loads `elf` (parsed from `image`) into `memory`. A segment must lie wholly
 * inside one RAM region and must not touch any of `forbidden` (boot loader
 * structures, reserved ranges). Returns the physical range the kernel spans.
 */
export function loadElfSegments(memory: GuestMemory, elf: ElfImage, image: Uint8Array | ByteSource, forbidden: readonly { range: GuestRange; what: string }[]): GuestRange {
  const source = asByteSource(image);
  // Validate everything before writing anything.
  const targets = elf.segments.map((seg, i) => {
    const range = { gpa: seg.paddr, size: seg.memSize };
    for (const f of forbidden) {
      if (rangesOverlap(range, f.range))
        throw new BootError(`kernel segment ${i} at ${describeRange(range)} overlaps the ${f.what} at ${describeRange(f.range)}`);
    }
    const view = memory.view(seg.paddr, seg.memSize);
    if (!view) throw new BootError(`kernel segment ${i} at ${describeRange(range)} is not inside guest RAM (${describeRam(memory)})`);
    if (seg.fileOffset + seg.fileSize > source.length) throw new BootError(`kernel segment ${i} contents lie outside the image`);
    return { seg, view };
  });
  for (const { seg, view } of targets) {
    // Straight into guest RAM (from the file itself, when the image is one).
    source.copyToGuest(memory, seg.paddr, seg.fileOffset, seg.fileSize);
    view.fill(0, seg.fileSize);
  }
  return { gpa: elf.start, size: elf.end - elf.start };
}

export function describeRam(memory: GuestMemory): string {
  return `RAM: ${memory.regions.map((r) => describeRange(r)).join(', ')}`;
}
