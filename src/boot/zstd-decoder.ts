// zstd decompression for kernel payloads. fzstd does the decoding, into a
// buffer of exactly the expected size (so a hostile window size allocates
// nothing). It can loop forever on some corrupt streams (found by
// test/boot/hostile-images.test.ts), so it runs in a worker thread with a
// time budget while this thread waits on a shared-memory flag: the interface
// stays synchronous and a hostile stream costs at most the budget. This
// wrapper reads the frame header itself to check what fzstd cannot report:
// the frame content size when declared, and the XXH64 content checksum (on
// by default in the zstd CLI the kernel build uses), which also proves the
// stream filled the whole buffer.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { BootError } from './boot-error.js';
import { xxhash64 } from './xxhash64.js';

const FZSTD_PATH = createRequire(import.meta.url).resolve('fzstd');

/**
 * Time budget, fixed: a budget that grew with the declared size let a 36 KB
 * image buy itself seconds per claimed MiB. fzstd's ~25 MB/s here decodes a
 * 60 MB kernel in under 3 s.
 */
export const ZSTD_TIME_BUDGET_MS = 10_000;

const STATE_RUNNING = 0;
const STATE_DONE = 1;
const STATE_FAILED = 2;
const MESSAGE_BYTES = 512;

// CommonJS, evaluated in the worker. control: [state]; message: UTF-8 error text.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { input, output, control, message, fzstdPath } = workerData;
const state = new Int32Array(control);
try {
  require(fzstdPath).decompress(input, new Uint8Array(output));
  Atomics.store(state, 0, ${STATE_DONE});
} catch (e) {
  const text = new TextEncoder().encode(String(e && e.message || e)).subarray(0, ${MESSAGE_BYTES});
  new Uint8Array(message).set(text);
  Atomics.store(state, 0, ${STATE_FAILED});
}
Atomics.notify(state, 0);
`;

/** Runs fzstd on `input` into a shared buffer of `outputSize` bytes, in a worker, within `budgetMs`. */
function fzstdWithDeadline(input: Uint8Array, outputSize: number, budgetMs: number): Uint8Array {
  const output = new SharedArrayBuffer(outputSize);
  const control = new SharedArrayBuffer(4);
  const message = new SharedArrayBuffer(MESSAGE_BYTES);
  const state = new Int32Array(control);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    // slice(): a view would clone its whole underlying buffer (the entire kernel image) into the worker.
    workerData: { input: input.slice(), output, control, message, fzstdPath: FZSTD_PATH },
    resourceLimits: { maxOldGenerationSizeMb: 512 },
    stdout: true,
    stderr: true,
  });
  try {
    Atomics.wait(state, 0, STATE_RUNNING, budgetMs);
  } finally {
    void worker.terminate().catch(() => undefined);
  }
  const result = Atomics.load(state, 0);
  if (result === STATE_DONE) return new Uint8Array(output);
  if (result === STATE_FAILED) {
    const bytes = new Uint8Array(message).slice();
    const end = bytes.indexOf(0);
    throw new BootError(`zstd: ${new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end))}`);
  }
  throw new BootError(`zstd: decoder did not finish within ${budgetMs} ms (corrupt stream?)`);
}

const ZSTD_MAGIC = 0xfd2fb528;

export function decodeZstd(input: Uint8Array, outputSize: number, budgetMs = ZSTD_TIME_BUDGET_MS): Uint8Array {
  if (input.length < 6) throw new BootError('zstd: stream too short for a frame header');
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  if (dv.getUint32(0, true) !== ZSTD_MAGIC) throw new BootError('zstd: missing frame magic');
  const fhd = input[4];
  const singleSegment = (fhd >>> 5) & 1;
  const hasChecksum = (fhd >>> 2) & 1;
  const dictIdFlag = fhd & 3;
  const fcsFlag = fhd >>> 6;
  if (fhd & 0x08) throw new BootError('zstd: reserved frame header bit set');
  if (dictIdFlag !== 0) throw new BootError('zstd: frames that need a dictionary are not supported');
  const fcsSize = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
  const fcsAt = 5 + (singleSegment ? 0 : 1);
  if (fcsAt + fcsSize > input.length) throw new BootError('zstd: truncated frame header');
  if (fcsSize > 0) {
    let fcs = 0;
    for (let i = fcsSize - 1; i >= 0; i--) fcs = fcs * 256 + input[fcsAt + i];
    if (fcsSize === 2) fcs += 256;
    if (fcs !== outputSize) throw new BootError(`zstd: frame declares ${fcs} bytes of content, expected ${outputSize}`);
  }
  const out = fzstdWithDeadline(input, outputSize, budgetMs);
  if (hasChecksum) {
    if (input.length < 4) throw new BootError('zstd: missing content checksum');
    const stored = dv.getUint32(input.length - 4, true);
    const actual = Number(xxhash64(out) & 0xffffffffn);
    if (stored !== actual)
      throw new BootError(`zstd: content checksum mismatch (corrupt stream, or it does not decompress to the expected ${outputSize} bytes)`);
  }
  return out;
}
