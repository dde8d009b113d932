import { describe, expect, test } from 'vitest';
import { BootError } from '../../src/boot/boot-error.js';
import { buildE820Map, E820_RAM, E820_RESERVED, usableRam } from '../../src/boot/e820.js';
import { subtractRanges, mergeRanges } from '../../src/boot/guest-range.js';
import { placeInitrd } from '../../src/boot/initrd-placement.js';

const MiB = 1 << 20;
const GiB = 1 << 30;

describe('e820 map', () => {
  test('single region: conventional memory, legacy hole, high memory', () => {
    expect(buildE820Map([{ gpa: 0, size: 64 * MiB }])).toEqual([
      { addr: 0, size: 0x9fc00, type: E820_RAM },
      { addr: 0x9fc00, size: 0x100000 - 0x9fc00, type: E820_RESERVED },
      { addr: 0x100000, size: 63 * MiB, type: E820_RAM },
    ]);
  });

  test('reserved ranges split RAM and appear as reserved; ranges outside RAM are listed too', () => {
    const map = buildE820Map(
      [
        { gpa: 0, size: 3 * GiB },
        { gpa: 4 * GiB, size: GiB },
      ],
      [
        { gpa: 2 * GiB, size: 16 * MiB },
        { gpa: 3.5 * GiB, size: 0.25 * GiB }, // MMIO hole, not RAM
      ],
    );
    expect(map).toEqual([
      { addr: 0, size: 0x9fc00, type: E820_RAM },
      { addr: 0x9fc00, size: 0x60400, type: E820_RESERVED },
      { addr: MiB, size: 2 * GiB - MiB, type: E820_RAM },
      { addr: 2 * GiB, size: 16 * MiB, type: E820_RESERVED },
      { addr: 2 * GiB + 16 * MiB, size: GiB - 16 * MiB, type: E820_RAM },
      { addr: 3.5 * GiB, size: 0.25 * GiB, type: E820_RESERVED },
      { addr: 4 * GiB, size: GiB, type: E820_RAM },
    ]);
    expect(usableRam(map).map((r) => r.gpa)).toEqual([0, MiB, 2 * GiB + 16 * MiB, 4 * GiB]);
  });

  test('too many entries or invalid ranges are BootErrors', () => {
    const reserved = Array.from({ length: 130 }, (_, i) => ({ gpa: 2 * MiB * (i + 1), size: 4096 }));
    expect(() => buildE820Map([{ gpa: 0, size: GiB }], reserved)).toThrow(BootError);
    expect(() => buildE820Map([{ gpa: 0, size: GiB }], [{ gpa: -1, size: 5 }])).toThrow(BootError);
  });

  test('range arithmetic', () => {
    expect(subtractRanges([{ gpa: 0, size: 100 }], [{ gpa: 10, size: 10 }, { gpa: 90, size: 50 }])).toEqual([
      { gpa: 0, size: 10 },
      { gpa: 20, size: 70 },
    ]);
    expect(mergeRanges([{ gpa: 10, size: 5 }, { gpa: 0, size: 10 }, { gpa: 30, size: 1 }])).toEqual([
      { gpa: 0, size: 15 },
      { gpa: 30, size: 1 },
    ]);
  });
});

describe('initrd placement', () => {
  const usable = usableRam(buildE820Map([{ gpa: 0, size: 64 * MiB }]));
  const kernel = { gpa: 16 * MiB, size: 8 * MiB };

  test('as high as possible, page aligned, below the top of RAM', () => {
    const r = placeInitrd({ size: 1000001, usable, initrdAddrMax: 0x7fffffff, avoid: [kernel] });
    expect(r.gpa % 4096).toBe(0);
    expect(r.gpa + r.size).toBeLessThanOrEqual(64 * MiB);
    expect(64 * MiB - (r.gpa + r.size)).toBeLessThan(4096);
  });

  test('respects initrd_addr_max (inclusive) and the 4 GiB line', () => {
    const r = placeInitrd({ size: MiB, usable, initrdAddrMax: 48 * MiB - 1, avoid: [kernel] });
    expect(r).toEqual({ gpa: 47 * MiB, size: MiB });
    const big = usableRam(buildE820Map([{ gpa: 0, size: 6 * GiB }]));
    const high = placeInitrd({ size: MiB, usable: big, initrdAddrMax: 0xffffffff, avoid: [] });
    expect(high.gpa + high.size).toBe(4 * GiB);
  });

  test('does not overlap the kernel: falls below it when above is full', () => {
    const r = placeInitrd({ size: 10 * MiB, usable, initrdAddrMax: 0x7fffffff, avoid: [{ gpa: 16 * MiB, size: 40 * MiB }] });
    expect(r.gpa + r.size).toBeLessThanOrEqual(16 * MiB);
    expect(r.gpa).toBeGreaterThanOrEqual(MiB);
  });

  test('a clear error when it cannot fit', () => {
    expect(() => placeInitrd({ size: 60 * MiB, usable, initrdAddrMax: 0x7fffffff, avoid: [kernel] })).toThrow(/initrd of 62914560 bytes does not fit.*largest free range/);
    expect(() => placeInitrd({ size: 0, usable, initrdAddrMax: 0x7fffffff, avoid: [] })).toThrow(BootError);
  });
});
