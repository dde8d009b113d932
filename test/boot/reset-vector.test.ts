// The reset-vector stub: what the bytes decode to (objdump, as a 16-bit CPU
// at F000:FFF0 sees them), and that they land at 0xffff0. That it really ends
// a guest as a reset is the tiny-guest test's part (real-reset-vector.s).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACPI_TABLES_ADDR, HIGH_MEMORY_START, RESET_VECTOR_ADDR } from '../../src/boot/boot-layout.js';
import { RESET_VECTOR_STUB, writeResetVector } from '../../src/boot/reset-vector.js';
import { MiB, withGuestRam } from './support/guest-ram.js';

function disassemble16(bytes: Uint8Array, vma: number): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-reset-'));
  try {
    const file = join(dir, 'stub.bin');
    writeFileSync(file, bytes);
    const out = execFileSync('objdump', ['-D', '-b', 'binary', '-m', 'i8086', `--adjust-vma=0x${vma.toString(16)}`, file], { encoding: 'utf8' });
    // "    fff0:\tfa                   \tcli" -> "fff0 cli"
    return [...out.matchAll(/^\s+([0-9a-f]+):\t[0-9a-f ]+\t(.+)$/gm)].map((m) => `${m[1]} ${m[2].replace(/\s+/g, ' ').trim()}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the reset vector', () => {
  it('is the last 16 bytes below 1 MiB, above the ACPI tables', () => {
    expect(RESET_VECTOR_ADDR).toBe(HIGH_MEMORY_START - 16);
    expect(RESET_VECTOR_STUB.length).toBe(16);
    expect(ACPI_TABLES_ADDR).toBeLessThan(RESET_VECTOR_ADDR);
  });

  it('loads an empty IDT from inside the stub and breaks: a triple fault', () => {
    const lines = disassemble16(RESET_VECTOR_STUB.subarray(0, 8), 0xfff0);
    // objdump prints the 16-bit displacement signed: cs:-0x8 is CS:FFF8.
    expect(lines).toEqual(['fff0 cli', 'fff1 lidtw %cs:-0x8', 'fff7 int3']);
    // The IDT pointer lidt reads (at CS:FFF8): limit 0, base 0.
    expect([...RESET_VECTOR_STUB.subarray(8, 14)]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('is written at 0xffff0', () => {
    withGuestRam([{ gpa: 0, size: 16 * MiB }], (memory) => {
      writeResetVector(memory);
      expect([...memory.view(RESET_VECTOR_ADDR, 16)!]).toEqual([...RESET_VECTOR_STUB]);
    });
  });
});
