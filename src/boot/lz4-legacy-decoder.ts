// Decoder for the LZ4 "legacy" frame the kernel's CONFIG_KERNEL_LZ4 builds
// (`lz4 -l`): magic 0x184C2102, then blocks of [u32 LE compressed size][LZ4
// block], each decompressing independently to at most 8 MiB. A repeated magic
// starts a concatenated stream. Every read and write is bounds-checked.
import { BootError, hex } from './boot-error.js';

export const LZ4_LEGACY_MAGIC = 0x184c2102;
const LEGACY_BLOCK_MAX_OUTPUT = 8 << 20;
const MIN_MATCH = 4;

/**
 * Decompresses a legacy LZ4 stream into exactly `outputSize` bytes. Four
 * trailing bytes that cannot start a block (the kernel appends the
 * decompressed size) are ignored.
 */
export function decodeLz4Legacy(input: Uint8Array, outputSize: number): Uint8Array {
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const out = new Uint8Array(outputSize);
  if (input.length < 4 || dv.getUint32(0, true) !== LZ4_LEGACY_MAGIC) throw new BootError('lz4: missing legacy frame magic 0x184c2102');
  let ip = 4;
  let op = 0;
  while (ip < input.length) {
    const remaining = input.length - ip;
    if (remaining === 4 && dv.getUint32(ip, true) !== LZ4_LEGACY_MAGIC) break; // size trailer
    if (remaining < 4) throw new BootError(`lz4: ${remaining} stray bytes at offset ${hex(ip)}`);
    const blockSize = dv.getUint32(ip, true);
    ip += 4;
    if (blockSize === LZ4_LEGACY_MAGIC) continue;
    if (blockSize === 0 || blockSize > input.length - ip)
      throw new BootError(`lz4: block at offset ${hex(ip - 4)} claims ${blockSize} bytes, ${input.length - ip} remain`);
    const produced = decodeLz4Block(input, ip, ip + blockSize, out, op, Math.min(outputSize, op + LEGACY_BLOCK_MAX_OUTPUT));
    ip += blockSize;
    op += produced;
  }
  if (op !== outputSize) throw new BootError(`lz4: stream decompressed to ${op} bytes, expected ${outputSize}`);
  return out;
}

/**
 * Decodes one LZ4 block from input[start, end) into out[outStart, outLimit);
 * matches may only reach back into this block (legacy blocks are independent).
 * Returns the number of bytes produced.
 */
export function decodeLz4Block(input: Uint8Array, start: number, end: number, out: Uint8Array, outStart: number, outLimit: number): number {
  let ip = start;
  let op = outStart;
  const fail = (what: string): never => {
    throw new BootError(`lz4: corrupt block at input offset ${hex(ip)}: ${what}`);
  };
  for (;;) {
    if (ip >= end) fail('block ends before a sequence token');
    const token = input[ip++];
    let litLen = token >>> 4;
    if (litLen === 15) {
      let b: number;
      do {
        if (ip >= end) fail('literal length runs past the block');
        b = input[ip++];
        litLen += b;
      } while (b === 255);
    }
    if (litLen > end - ip) fail('literals run past the block');
    if (litLen > outLimit - op) fail(`data decompresses to more than the expected ${outLimit} bytes`);
    out.set(input.subarray(ip, ip + litLen), op);
    ip += litLen;
    op += litLen;
    if (ip === end) return op - outStart; // the last sequence has literals only
    if (end - ip < 2) fail('truncated match offset');
    const offset = input[ip] | (input[ip + 1] << 8);
    ip += 2;
    if (offset === 0 || offset > op - outStart) fail(`match offset ${offset} reaches before the block`);
    let matchLen = token & 15;
    if (matchLen === 15) {
      let b: number;
      do {
        if (ip >= end) fail('match length runs past the block');
        b = input[ip++];
        matchLen += b;
      } while (b === 255);
    }
    matchLen += MIN_MATCH;
    if (matchLen > outLimit - op) fail(`data decompresses to more than the expected ${outLimit} bytes`);
    let from = op - offset;
    if (offset >= matchLen) {
      out.copyWithin(op, from, from + matchLen);
      op += matchLen;
    } else {
      for (let i = 0; i < matchLen; i++) out[op++] = out[from++];
    }
  }
}
