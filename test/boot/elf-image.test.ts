import { describe, expect, test } from 'vitest';
import { BootError } from '../../src/boot/boot-error.js';
import { parseElfImage } from '../../src/boot/elf-image.js';
import { loadElfSegments } from '../../src/boot/elf-loader.js';
import { MiB, withGuestRam } from './support/guest-ram.js';
import { buildVmlinux, patterned, typicalVmlinux } from './support/synthetic-kernel.js';

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BootError);
    return (e as Error).message;
  }
  throw new Error('expected a BootError');
}

describe('ELF vmlinux parsing', () => {
  test('segments, entry and PVH note', () => {
    const elf = parseElfImage(typicalVmlinux());
    expect(elf.entry).toBe(0x1000000);
    expect(elf.pvhEntry).toBe(0x1000040);
    expect(elf.segments.map((s) => [s.paddr, s.memSize])).toEqual([
      [0x1000000, 0x3000],
      [0x1200000, 0x10000],
    ]);
    expect(elf.start).toBe(0x1000000);
    expect(elf.end).toBe(0x1210000);
  });

  test('a 4-byte PVH note value (32-bit style) is read too', () => {
    const elf = parseElfImage(buildVmlinux({ segments: [{ paddr: 0x1000000, data: new Uint8Array(64) }], entry: 0x1000000, pvhEntry: 0x1000020, pvhNoteSize: 4 }));
    expect(elf.pvhEntry).toBe(0x1000020);
  });

  test('no PVH note: pvhEntry is undefined', () => {
    expect(parseElfImage(typicalVmlinux(false)).pvhEntry).toBeUndefined();
  });

  test('a virtual e_entry is translated through its segment', () => {
    const elf = parseElfImage(buildVmlinux({ segments: [{ paddr: 0x1000000, data: new Uint8Array(0x100) }], entry: 0xffffffff81000010n }));
    expect(elf.entry).toBe(0x1000010);
  });

  test('malformed headers', () => {
    const good = typicalVmlinux();
    const mutate = (f: (dv: DataView, b: Uint8Array) => void): Uint8Array => {
      const b = good.slice();
      f(new DataView(b.buffer), b);
      return b;
    };
    expect(errorOf(() => parseElfImage(good.subarray(0, 40)))).toMatch(/truncated/);
    expect(errorOf(() => parseElfImage(mutate((_, b) => (b[4] = 1))))).toMatch(/not a 64-bit ELF/);
    expect(errorOf(() => parseElfImage(mutate((_, b) => (b[5] = 2))))).toMatch(/little-endian/);
    expect(errorOf(() => parseElfImage(mutate((dv) => dv.setUint16(18, 3, true))))).toMatch(/not an x86-64 kernel/);
    expect(errorOf(() => parseElfImage(mutate((dv) => dv.setUint16(16, 1, true))))).toMatch(/not an executable/);
    expect(errorOf(() => parseElfImage(mutate((dv) => dv.setBigUint64(32, 0xfffffffn, true))))).toMatch(/program header table.*outside/);
    expect(errorOf(() => parseElfImage(mutate((dv) => dv.setUint16(54, 32, true))))).toMatch(/e_phentsize/);
    // segment file range beyond the image
    expect(
      errorOf(() =>
        parseElfImage(
          mutate((dv) => {
            dv.setBigUint64(64 + 32, 0x100000n, true);
            dv.setBigUint64(64 + 40, 0x100000n, true);
          }),
        ),
      ),
    ).toMatch(/segment 0 contents/);
    // p_filesz > p_memsz
    expect(errorOf(() => parseElfImage(mutate((dv) => dv.setBigUint64(64 + 40, 0x10n, true))))).toMatch(/p_filesz/);
    // huge p_paddr
    expect(errorOf(() => parseElfImage(mutate((dv) => dv.setBigUint64(64 + 24, 0xfffffffffffff000n, true))))).toMatch(/out of range/);
    // entry outside every segment
    expect(errorOf(() => parseElfImage(mutate((dv) => dv.setBigUint64(24, 0x5000000n, true))))).toMatch(/entry point 0x5000000/);
  });

  test('a note running past its segment is rejected', () => {
    const image = typicalVmlinux();
    const dv = new DataView(image.buffer);
    const noteOffset = Number(dv.getBigUint64(64 + 2 * 56 + 8, true));
    dv.setUint32(noteOffset, 0x7fffffff, true); // namesz
    expect(errorOf(() => parseElfImage(image))).toMatch(/note/);
  });
});

describe('ELF segment loading', () => {
  test('copies file bytes to p_paddr and zeroes bss', () => {
    withGuestRam([{ gpa: 0, size: 64 * MiB }], (memory) => {
      memory.view(0x1200000, 0x10000)!.fill(0xcc); // stale contents where bss goes
      const image = typicalVmlinux();
      const elf = parseElfImage(image);
      const range = loadElfSegments(memory, elf, image, []);
      expect(range).toEqual({ gpa: 0x1000000, size: 0x210000 });
      expect(Buffer.from(memory.read(0x1000000, 0x3000)).equals(Buffer.from(patterned(0x3000, 0x90)))).toBe(true);
      expect(Buffer.from(memory.read(0x1200000, 0x1800)).equals(Buffer.from(patterned(0x1800, 0x42)))).toBe(true);
      expect(memory.read(0x1201800, 0x10000 - 0x1800).every((b) => b === 0)).toBe(true);
    });
  });

  test('segments outside RAM or over forbidden ranges are refused before anything is written', () => {
    withGuestRam([{ gpa: 0, size: 16 * MiB }], (memory) => {
      const image = typicalVmlinux();
      expect(errorOf(() => loadElfSegments(memory, parseElfImage(image), image, []))).toMatch(/not inside guest RAM \(RAM: \[0x0, 0x1000000\)\)/);
    });
    withGuestRam([{ gpa: 0, size: 64 * MiB }], (memory) => {
      const image = typicalVmlinux();
      const forbidden = [{ range: { gpa: 0x1100000, size: 0x200000 }, what: 'reserved range' }];
      expect(errorOf(() => loadElfSegments(memory, parseElfImage(image), image, forbidden))).toMatch(/segment 1 .* overlaps the reserved range/);
      expect(memory.read(0x1000000, 16).every((b) => b === 0)).toBe(true);
    });
  });

  test('a segment straddling two RAM regions is refused', () => {
    withGuestRam([{ gpa: 0, size: 0x1001000 }, { gpa: 0x1001000, size: 32 * MiB }], (memory) => {
      const image = typicalVmlinux();
      expect(errorOf(() => loadElfSegments(memory, parseElfImage(image), image, []))).toMatch(/segment 0 .* not inside guest RAM/);
    });
  });
});
