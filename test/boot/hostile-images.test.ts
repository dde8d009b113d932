// Garbage, truncated and mutated kernel images: whatever the bytes, loading
// ends either in success or in a BootError, never another exception.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { BootError } from '../../src/boot/boot-error.js';
import { loadLinux } from '../../src/boot/linux-loader.js';
import { decompress } from '../../src/boot/payload-decompressor.js';
import { detectPayloadFormat } from '../../src/boot/payload-format.js';
import { MiB } from './support/guest-ram.js';
import { prng } from '../support/prng.js';
import { mutations } from './support/mutations.js';
import { buildBzImage, type CliFormat, cliProblem, KERNEL_COMPRESSOR_ARGS, kernelPayload, typicalVmlinux } from './support/synthetic-kernel.js';
import { itNeeding } from '../support/host-requirements.js';

let memory: GuestMemory;
beforeAll(() => {
  memory = GuestMemory.allocate([{ gpa: 0, size: 64 * MiB }]);
});
afterAll(() => memory.release());

function expectOnlyBootErrors(images: Iterable<[number, Uint8Array]>, options: { initrd?: Uint8Array; entry?: 'linux64' | 'pvh' } = {}): { loaded: number; refused: number } {
  let loaded = 0;
  let refused = 0;
  for (const [seed, kernel] of images) {
    try {
      loadLinux(memory, { kernel, cmdline: 'console=ttyS0', ...options });
      loaded++;
    } catch (e) {
      if (!(e instanceof BootError)) throw new Error(`seed ${seed}: ${String(e)}`, { cause: e });
      refused++;
    }
  }
  return { loaded, refused };
}

const vmlinux = typicalVmlinux();

describe('hostile images only ever produce BootError', () => {
  test('random garbage', () => {
    const images = function* (): Iterable<[number, Uint8Array]> {
      for (let i = 0; i < 300; i++) {
        const rnd = prng(i);
        const img = new Uint8Array(Math.floor(rnd() * 9000));
        for (let j = 0; j < img.length; j++) img[j] = Math.floor(rnd() * 256);
        if (i % 3 === 0 && img.length > 0x210) {
          // Plant the signatures so parsing gets further.
          const dv = new DataView(img.buffer);
          dv.setUint16(0x1fe, 0xaa55, true);
          dv.setUint32(0x202, 0x53726448, true);
        }
        if (i % 3 === 1 && img.length > 64) img.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
        yield [i, img];
      }
    };
    const { loaded } = expectOnlyBootErrors(images());
    expect(loaded).toBe(0);
  });

  test('mutated ELF vmlinux (2000 mutations, both entries)', () => {
    const hot: [number, number][] = [
      [0, 64],
      [64, 64 + 3 * 56],
      [64 + 3 * 56, 0x300],
    ];
    const a = expectOnlyBootErrors(mutations(vmlinux, 1000, 1_000_000, hot));
    const b = expectOnlyBootErrors(mutations(vmlinux, 1000, 2_000_000, hot), { entry: 'pvh', initrd: new Uint8Array(8192) });
    // Some mutations are harmless (padding bytes); most are caught.
    expect(a.refused + b.refused).toBeGreaterThan(500);
    expect(a.loaded + b.loaded).toBeGreaterThan(0);
  });

  const formats: ('gzip' | CliFormat)[] = ['gzip', 'xz', 'lz4', 'zstd'];
  for (const format of formats) {
    const cli = format === 'gzip' ? undefined : KERNEL_COMPRESSOR_ARGS[format][0];
    const rounds = 800;
    itNeeding(cliProblem(cli), `mutated ${format} bzImage (${rounds} mutations)`, () => {
      const payload = kernelPayload(format, vmlinux);
      const image = buildBzImage({ payload, initSize: 8 * MiB });
      const payloadStart = 5 * 512 + 0x200;
      const hot: [number, number][] = [
        [0x1f0, 0x270],
        [payloadStart, payloadStart + 64],
        [payloadStart, payloadStart + payload.length],
        [payloadStart + payload.length - 16, payloadStart + payload.length],
      ];
      const { refused } = expectOnlyBootErrors(mutations(image, rounds, 3_000_000 + format.length * 10_000, hot));
      expect(refused).toBeGreaterThan(rounds / 2);
    }, 120_000);
  }

  test('mutated compressed streams straight into the decompressors', { timeout: 120_000 }, () => {
    const fixtures = join(import.meta.dirname, 'fixtures');
    const size = readFileSync(join(fixtures, 'sample.bin')).length;
    for (const name of ['sample.gz', 'sample.kernel.xz', 'sample.sha256-blocks.xz', 'sample.lz4', 'sample.zst']) {
      const stream = new Uint8Array(readFileSync(join(fixtures, name)));
      const format = detectPayloadFormat(stream);
      for (const [seed, bad] of mutations(stream, 300, 4_000_000, [[0, 64], [0, stream.length], [stream.length - 32, stream.length]])) {
        try {
          const out = decompress(format, bad, size);
          expect(out.length).toBe(size);
        } catch (e) {
          if (!(e instanceof BootError)) throw new Error(`${name} seed ${seed}: ${String(e)}`, { cause: e });
        }
      }
    }
  });
});
