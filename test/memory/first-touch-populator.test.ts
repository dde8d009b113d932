// A device process maps guest RAM from the shared memfd and has the pages of
// each DMA span mapped before handing it out (first-touch-populator.ts). The
// test reads this process's own page table (/proc/self/pagemap: bit 63 says
// a page is present) to see which pages are mapped, before and after.
import { closeSync, openSync, readSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { DmaAccess, DmaSpan, GuestMemoryTranslator, SpanKind } from '../../src/memory/dma-translator.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';

const PAGE = 4096;
const RAM = [{ gpa: 0, size: 4 << 20 }];

let memory: GuestMemory | undefined;
let memfd: number | undefined;
afterEach(() => {
  memory?.release();
  if (memfd !== undefined) closeSync(memfd);
  memory = memfd = undefined;
});

/** Which of the `count` guest pages from `firstPage` on this process has mapped. */
function presentPages(firstPage: number, count: number): boolean[] {
  const host = memory!.hostAddress(firstPage * PAGE, count * PAGE)!;
  const entries = Buffer.alloc(8 * count);
  const fd = openSync('/proc/self/pagemap', 'r');
  try {
    readSync(fd, entries, 0, entries.length, (host / PAGE) * 8);
  } finally {
    closeSync(fd);
  }
  return Array.from({ length: count }, (_, i) => (entries.readBigUInt64LE(8 * i) & (1n << 63n)) !== 0n);
}

function translate(populateBeforeDma: boolean, gpa: number, length: number): DmaSpan {
  // A memfd, 4 KiB pages: on a huge-page tmpfs one touch maps its whole 2 MiB.
  memory ??= GuestMemory.allocate(RAM, { memfd: (memfd = GuestMemory.createSharedRam(RAM, false).fd), populateBeforeDma });
  const span = new DmaSpan();
  expect(new GuestMemoryTranslator(memory).translate(gpa, length, DmaAccess.Write, span)).toBe(SpanKind.Direct);
  return span;
}

describe('the first-touch populator', () => {
  it('maps the pages of a DMA span, and only those, before it is handed out', () => {
    // From the middle of page 3 to the middle of page 6.
    translate(true, 3 * PAGE + 100, 3 * PAGE);
    expect(presentPages(0, 9)).toEqual([false, false, false, true, true, true, true, false, false]);
    expect(memory!.regions[0].firstTouch!.stats).toEqual({ calls: 1, pages: 4 });
  });

  it('populates each page once: a later span maps only the pages it adds', () => {
    translate(true, 4 * PAGE, 2 * PAGE);
    translate(true, 2 * PAGE, 8 * PAGE); // pages 2-3 and 6-9 are new: two runs
    expect(memory!.regions[0].firstTouch!.stats).toEqual({ calls: 3, pages: 8 });
    expect(presentPages(0, 11)).toEqual([false, false, true, true, true, true, true, true, true, true, false]);
  });

  it('is only where asked for: KVM maps the pages in the VMM itself', () => {
    translate(false, 3 * PAGE, 3 * PAGE);
    expect(memory!.regions[0].firstTouch).toBeUndefined();
    expect(presentPages(3, 3)).toEqual([false, false, false]);
  });

  it('leaves the bytes as they were: a page already written keeps its contents', () => {
    translate(true, 0, PAGE);
    const ram = memory!.view(16 * PAGE, 2 * PAGE)!;
    ram.fill(0xab); // faulted in by this write, not by the populator
    translate(true, 15 * PAGE, 4 * PAGE);
    expect(memory!.view(15 * PAGE, 4 * PAGE)!.every((b, i) => b === (i >= PAGE && i < 3 * PAGE ? 0xab : 0))).toBe(true);
  });
});
