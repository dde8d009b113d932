import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { bcjX86Decode } from '../../src/boot/bcj-x86-filter.js';
import { BootError } from '../../src/boot/boot-error.js';
import { crc64 } from '../../src/boot/crc64.js';
import { decodeLz4Legacy } from '../../src/boot/lz4-legacy-decoder.js';
import { decompress, decompressPayload } from '../../src/boot/payload-decompressor.js';
import { detectPayloadFormat } from '../../src/boot/payload-format.js';
import { decodeXz } from '../../src/boot/xz-decoder.js';
import { decodeZstd, ZSTD_TIME_BUDGET_MS } from '../../src/boot/zstd-decoder.js';
import { type CliFormat, compressWithCli, concat, cliProblem, KERNEL_COMPRESSOR_ARGS, kernelPayload, sizeTrailer } from './support/synthetic-kernel.js';
import { itNeeding } from '../support/host-requirements.js';

const fixtures = join(import.meta.dirname, 'fixtures');
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(join(fixtures, name)));
const sample = fixture('sample.bin');

function bootErrorOf(fn: () => unknown): BootError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BootError);
    return e as BootError;
  }
  throw new Error('expected a BootError');
}

describe('payload format detection', () => {
  test.each([
    ['gzip', [0x1f, 0x8b, 8, 0]],
    ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
    ['lz4', [0x02, 0x21, 0x4c, 0x18]],
    ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
    ['bzip2', [0x42, 0x5a, 0x68, 0x39]],
    ['lzma', [0x5d, 0x00, 0x00, 0x80]],
    ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
    ['elf', [0x7f, 0x45, 0x4c, 0x46]],
    ['unknown', [1, 2, 3, 4]],
    ['unknown', []],
  ])('%s', (format, bytes) => {
    expect(detectPayloadFormat(new Uint8Array(bytes))).toBe(format);
  });
});

describe('decompression of committed fixtures (test/boot/fixtures/make-fixtures.sh)', () => {
  test.each([
    ['gzip', 'sample.gz'],
    ['xz', 'sample.kernel.xz'],
    ['xz', 'sample.crc64.xz'],
    ['xz', 'sample.sha256-blocks.xz'],
    ['xz', 'sample.nocheck.xz'],
    ['lz4', 'sample.lz4'],
    ['zstd', 'sample.zst'],
  ] as const)('%s: %s', (format, name) => {
    const stream = fixture(name);
    expect(detectPayloadFormat(stream)).toBe(format);
    expect(Buffer.from(decompress(format, stream, sample.length)).equals(Buffer.from(sample))).toBe(true);
    // As a bzImage payload: the stream plus the kernel's size trailer (gzip's ISIZE already is one).
    const payload = format === 'gzip' ? stream : concat([stream, sizeTrailer(sample.length)]);
    const result = decompressPayload(payload);
    expect(result.format).toBe(format);
    expect(Buffer.from(result.data).equals(Buffer.from(sample))).toBe(true);
  });

  test('xz: concatenated streams with stream padding', () => {
    const two = concat([fixture('sample.kernel.xz'), new Uint8Array(8), fixture('sample.crc64.xz')]);
    const out = decodeXz(two, sample.length * 2);
    expect(Buffer.from(out.subarray(sample.length)).equals(Buffer.from(sample))).toBe(true);
    expect(() => decodeXz(concat([fixture('sample.kernel.xz'), new Uint8Array(3)]), sample.length)).toThrow(BootError);
  });

  test('lz4: concatenated legacy streams', () => {
    const lz4 = fixture('sample.lz4');
    const out = decodeLz4Legacy(concat([lz4, lz4]), sample.length * 2);
    expect(Buffer.from(out.subarray(sample.length)).equals(Buffer.from(sample))).toBe(true);
  });
});

describe('decompressed size checks', () => {
  test('a trailer that disagrees with the data is an error', () => {
    for (const name of ['sample.kernel.xz', 'sample.lz4', 'sample.zst']) {
      const stream = fixture(name);
      expect(bootErrorOf(() => decompressPayload(concat([stream, sizeTrailer(sample.length + 1)]))).message).toMatch(/expected|decompressed to|invalid/);
      expect(bootErrorOf(() => decompressPayload(concat([stream, sizeTrailer(sample.length - 1)]))).message).toMatch(/expected/);
    }
    const gz = new Uint8Array(gzipSync(sample));
    new DataView(gz.buffer).setUint32(gz.length - 4, sample.length - 10, true);
    expect(bootErrorOf(() => decompressPayload(gz)).message).toMatch(/gzip/);
  });

  test('a declared size above the header limit (init_size) is refused before decompressing', () => {
    const payload = concat([fixture('sample.kernel.xz'), sizeTrailer(sample.length)]);
    expect(bootErrorOf(() => decompressPayload(payload, { maxSize: 4096 })).message).toMatch(/declares a decompressed size of 98304 bytes, more than the 4096/);
    expect(bootErrorOf(() => decompressPayload(concat([fixture('sample.lz4'), sizeTrailer(0)]))).message).toMatch(/size of 0/);
  });

  test('a declared size above the guest RAM is refused before decompressing (a gzip bomb)', () => {
    const bomb = new Uint8Array(gzipSync(new Uint8Array(64 << 20), { level: 9 })); // 64 KiB that claims 64 MiB
    expect(bomb.length).toBeLessThan(1 << 20);
    expect(bootErrorOf(() => decompressPayload(bomb, { ramSize: 16 << 20 })).message).toMatch(
      /gzip payload declares a decompressed size of 67108864 bytes, more than the 16777216 the guest's RAM holds/,
    );
  });

  test('gzip: output beyond the declared size is cut off, not buffered', () => {
    // ISIZE rewritten to claim 1 MiB of a stream that holds 64 MiB.
    const bomb = new Uint8Array(gzipSync(new Uint8Array(64 << 20)));
    new DataView(bomb.buffer).setUint32(bomb.length - 4, 1 << 20, true);
    expect(bootErrorOf(() => decompressPayload(bomb, { ramSize: 16 << 20 })).message).toMatch(/gzip payload/);
  });
});

describe('unsupported formats are named', () => {
  test.each([
    ['bzip2', [0x42, 0x5a, 0x68, 0x39, 0x31, 0x41, 0x59, 0x26, 0, 0, 0, 0]],
    ['lzma', [0x5d, 0x00, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0]],
    ['lzo', [0x89, 0x4c, 0x5a, 0x4f, 0, 0x0d, 0x0a, 0x1a, 0, 0, 0, 0]],
  ])('%s', (format, bytes) => {
    expect(bootErrorOf(() => decompressPayload(new Uint8Array(bytes))).message).toContain(`${format}-compressed`);
  });

  test('unknown', () => {
    expect(bootErrorOf(() => decompressPayload(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).message).toMatch(/not recognised \(first bytes 01 02 03/);
  });
});

describe('corrupt streams end in BootError', () => {
  test.each(['sample.gz', 'sample.kernel.xz', 'sample.crc64.xz', 'sample.lz4', 'sample.zst'])('%s with flipped bytes and truncation', (name) => {
    const stream = fixture(name);
    const format = detectPayloadFormat(stream);
    for (let i = 0; i < 40; i++) {
      const bad = stream.slice();
      const at = 4 + Math.floor(((i * 7919) % 997) / 997 * (bad.length - 4));
      bad[at] ^= 1 << (i % 8);
      try {
        const out = decompress(format, bad, sample.length);
        // lz4 and zstd without a content checksum can decode a flipped literal; never to a wrong size.
        expect(out.length).toBe(sample.length);
      } catch (e) {
        expect(e).toBeInstanceOf(BootError);
      }
    }
    bootErrorOf(() => decompress(format, stream.subarray(0, stream.length >> 1), sample.length));
    bootErrorOf(() => decompress(format, stream.subarray(0, 3), sample.length));
  });

  test('xz integrity checks catch corrupted data', () => {
    const stream = fixture('sample.kernel.xz');
    let detected = 0;
    for (let at = 200; at < stream.length - 100; at += 500) {
      const bad = stream.slice();
      bad[at] ^= 0x10;
      try {
        decodeXz(bad, sample.length);
      } catch (e) {
        expect(e).toBeInstanceOf(BootError);
        detected++;
      }
    }
    expect(detected).toBeGreaterThan(0);
  });
});

describe('zstd decoder isolation', () => {
  test('a stream that sends fzstd into an endless loop ends in BootError within the budget', () => {
    // fixtures/hostile-huffman-loop.zst: sample.zst mutated (test/boot/hostile-images.test.ts, seed 4000026);
    // its Huffman weight table has zero-bit FSE states, on which fzstd 0.1.1 never terminates.
    const started = Date.now();
    expect(() => decodeZstd(fixture('hostile-huffman-loop.zst'), sample.length, 1000)).toThrow(/did not finish within 1000 ms/);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  test('the time budget is fixed: a stream that declares a large output buys no more time', () => {
    // The same endless stream, its frame content size raised to 64 MiB (the budget once grew to 26 s with it).
    const big = 64 << 20;
    const hostile = fixture('hostile-huffman-loop.zst').slice();
    new DataView(hostile.buffer).setUint32(5, big, true);
    expect(() => decodeZstd(hostile, big)).toThrow(new RegExp(`did not finish within ${ZSTD_TIME_BUDGET_MS} ms`));
    expect(ZSTD_TIME_BUDGET_MS).toBeLessThanOrEqual(10_000);
  });
});

describe('checksums and filters', () => {
  test('CRC-64/XZ check value', () => {
    expect(crc64(new TextEncoder().encode('123456789'))).toBe(0x995dc9bbdf1939fan);
    expect(crc64(new Uint8Array(0))).toBe(0n);
  });

  test('x86 BCJ decode of a known conversion', () => {
    // A CALL at offset 0x10 to relative -0x10 (0xfffffff0) is stored absolute: 0x10 + 5 - 0x10 = 5.
    const buf = new Uint8Array(32);
    buf.set([0xe8, 0x05, 0x00, 0x00, 0x00], 0x10);
    bcjX86Decode(buf);
    expect(Array.from(buf.subarray(0x10, 0x15))).toEqual([0xe8, 0xf0, 0xff, 0xff, 0xff]);
    // Bytes in the last four are never touched.
    const tail = new Uint8Array([0, 0, 0, 0xe8, 1, 0, 0]);
    bcjX86Decode(tail);
    expect(Array.from(tail)).toEqual([0, 0, 0, 0xe8, 1, 0, 0]);
  });
});

// Kernel-sized data through the same command lines the kernel build uses,
// compressed now (skipped per tool when its CLI is missing).
const bigSample = (() => {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 24; i++) {
    const p = sample.slice();
    p[i] ^= 0xff;
    parts.push(p);
  }
  return concat(parts); // 2.25 MiB, long-distance matches across copies
})();

describe('kernel compressor command lines', () => {
  test('gzip (node:zlib, always available)', () => {
    const payload = kernelPayload('gzip', bigSample);
    expect(Buffer.from(decompressPayload(payload).data).equals(Buffer.from(bigSample))).toBe(true);
  });
  for (const format of ['xz', 'lz4', 'zstd'] as CliFormat[]) {
    const cli = KERNEL_COMPRESSOR_ARGS[format][0];
    itNeeding(cliProblem(cli), `${format} (${cli} ${KERNEL_COMPRESSOR_ARGS[format][1].join(' ')})`, () => {
      const payload = kernelPayload(format, bigSample);
      const result = decompressPayload(payload);
      expect(result.format).toBe(format);
      expect(Buffer.from(result.data).equals(Buffer.from(bigSample))).toBe(true);
    });
  }
  itNeeding(cliProblem('zstd'), 'zstd from stdin (no content size): the XXH64 checksum catches a wrong size trailer', () => {
    const stream = compressWithCli('zstd', sample);
    expect(stream[4] >>> 6).toBe(0); // no frame content size, as in the kernel build
    expect(stream[4] & 4).toBe(4); // content checksum present
    expect(bootErrorOf(() => decompressPayload(concat([stream, sizeTrailer(sample.length + 100)]))).message).toMatch(/checksum mismatch/);
    expect(bootErrorOf(() => decompressPayload(concat([stream, sizeTrailer(sample.length - 100)]))).message).toMatch(/zstd/);
  });
  for (const format of ['bzip2', 'lzma'] as CliFormat[]) {
    itNeeding(cliProblem(format), `${format} is refused with its name`, () => {
      const payload = concat([compressWithCli(format, sample), sizeTrailer(sample.length)]);
      expect(bootErrorOf(() => decompressPayload(payload)).message).toContain(`${format}-compressed`);
    });
  }
});
