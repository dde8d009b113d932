// The .xz container (tukaani.org xz-file-format 1.x): stream header, blocks
// with their filter chains, index, stream footer, and integrity checks.
// Supports what kernel images use: LZMA2, optionally preceded by the x86 BCJ
// filter, with CRC32 (the kernel's choice), CRC64, SHA-256 or no check.
// Concatenated streams and stream padding are accepted.
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { bcjX86Decode } from './bcj-x86-filter.js';
import { BootError, hex } from './boot-error.js';
import { crc64 } from './crc64.js';
import { decodeLzma2 } from './lzma2-decoder.js';

const HEADER_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const FOOTER_MAGIC = [0x59, 0x5a];
const FILTER_LZMA2 = 0x21;
const FILTER_X86 = 0x04;

const CHECK_NONE = 0;
const CHECK_CRC32 = 1;
const CHECK_CRC64 = 4;
const CHECK_SHA256 = 10;

function checkSize(id: number): number {
  if (id === 0) return 0;
  return 4 << Math.floor((id - 1) / 3);
}

class XzReader {
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
  ) {}

  fail(what: string): never {
    throw new BootError(`xz: ${what} (at input offset ${hex(this.pos)})`);
  }

  need(n: number, what: string): void {
    if (n > this.buf.length - this.pos) this.fail(`truncated ${what}`);
  }

  byte(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }

  u32(what: string): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }

  /** A variable-length integer (7 bits a byte, at most 9 bytes), kept to 2^53. */
  vli(what: string): number {
    let value = 0;
    for (let i = 0; i < 9; i++) {
      const b = this.byte(what);
      if (i > 0 && b === 0) this.fail(`non-minimal encoding of ${what}`);
      value += (b & 0x7f) * 2 ** (7 * i);
      if (!(b & 0x80)) {
        if (!Number.isSafeInteger(value)) this.fail(`${what} out of range`);
        return value;
      }
    }
    return this.fail(`${what} is longer than 9 bytes`);
  }

  crc32Of(start: number, end: number, what: string): void {
    const stored = this.u32(`${what} CRC32`);
    if (crc32(this.buf.subarray(start, end)) !== stored) this.fail(`${what} CRC32 mismatch`);
  }
}

interface BlockRecord {
  unpaddedSize: number;
  uncompressedSize: number;
}

/** Decompresses an .xz file into exactly `outputSize` bytes. */
export function decodeXz(input: Uint8Array, outputSize: number): Uint8Array {
  const out = new Uint8Array(outputSize);
  const r = new XzReader(input, 0);
  let op = 0;
  let streams = 0;
  while (r.pos < input.length) {
    if (streams > 0) {
      // Stream padding: zero bytes in multiples of four, then maybe another stream.
      const padStart = r.pos;
      while (r.pos < input.length && input[r.pos] === 0) r.pos++;
      if ((r.pos - padStart) % 4 !== 0) r.fail('stream padding is not a multiple of 4 bytes');
      if (r.pos === input.length) break;
    }
    op = decodeStream(r, out, op);
    streams++;
  }
  if (streams === 0) r.fail('empty input');
  if (op !== outputSize) throw new BootError(`xz: stream decompressed to ${op} bytes, expected ${outputSize}`);
  return out;
}

function decodeStream(r: XzReader, out: Uint8Array, op: number): number {
  const buf = r.buf;
  const start = r.pos;
  r.need(12, 'stream header');
  for (let i = 0; i < HEADER_MAGIC.length; i++) if (buf[r.pos + i] !== HEADER_MAGIC[i]) r.fail('not an xz stream (bad header magic)');
  r.pos += 6;
  const flags0 = r.byte('stream flags');
  const checkId = r.byte('stream flags');
  if (flags0 !== 0 || checkId > 0x0f) r.fail('unsupported stream flags');
  r.crc32Of(start + 6, start + 8, 'stream header');
  if (![CHECK_NONE, CHECK_CRC32, CHECK_CRC64, CHECK_SHA256].includes(checkId)) r.fail(`unsupported integrity check type ${checkId}`);

  const records: BlockRecord[] = [];
  for (;;) {
    r.need(1, 'block header');
    if (buf[r.pos] === 0x00) break; // index indicator
    const blockStart = op;
    const headerStart = r.pos;
    const { compressedSize, uncompressedSize, dictSize, bcjStart } = parseBlockHeader(r);
    const headerSize = r.pos - headerStart;
    const dataStart = r.pos;
    const limit = uncompressedSize >= 0 ? Math.min(out.length, op + uncompressedSize) : out.length;
    if (uncompressedSize > out.length - op) r.fail('block is larger than the expected output');
    const { consumed, produced } = decodeLzma2(buf, dataStart, out, op, limit, dictSize);
    r.pos = dataStart + consumed;
    op += produced;
    if (compressedSize >= 0 && compressedSize !== consumed) r.fail('block compressed size differs from its header');
    if (uncompressedSize >= 0 && uncompressedSize !== produced) r.fail('block uncompressed size differs from its header');
    if (bcjStart !== undefined) bcjX86Decode(out.subarray(blockStart, op), bcjStart);
    const paddedEnd = dataStart + consumed + ((4 - (consumed % 4)) % 4);
    r.need(paddedEnd - r.pos, 'block padding');
    for (; r.pos < paddedEnd; r.pos++) if (buf[r.pos] !== 0) r.fail('non-zero block padding');
    verifyCheck(r, checkId, out.subarray(blockStart, op));
    records.push({ unpaddedSize: headerSize + consumed + checkSize(checkId), uncompressedSize: produced });
  }

  // Index
  const indexStart = r.pos;
  r.pos++;
  const count = r.vli('index record count');
  if (count !== records.length) r.fail(`index lists ${count} blocks, the stream has ${records.length}`);
  for (const rec of records) {
    const unpadded = r.vli('index unpadded size');
    const uncompressed = r.vli('index uncompressed size');
    if (unpadded !== rec.unpaddedSize || uncompressed !== rec.uncompressedSize) r.fail('index does not match the blocks');
  }
  while ((r.pos - indexStart) % 4 !== 0) if (r.byte('index padding') !== 0) r.fail('non-zero index padding');
  const indexEnd = r.pos;
  r.crc32Of(indexStart, indexEnd, 'index');
  const indexSize = r.pos - indexStart;

  // Footer
  const footerStart = r.pos;
  r.need(12, 'stream footer');
  r.pos += 4;
  const backwardSize = (r.u32('backward size') + 1) * 4;
  const fflags0 = r.byte('footer flags');
  const fcheck = r.byte('footer flags');
  if (buf[r.pos] !== FOOTER_MAGIC[0] || buf[r.pos + 1] !== FOOTER_MAGIC[1]) r.fail('bad stream footer magic');
  r.pos += 2;
  const saved = r.pos;
  r.pos = footerStart;
  r.crc32Of(footerStart + 4, footerStart + 10, 'stream footer');
  r.pos = saved;
  if (fflags0 !== 0 || fcheck !== checkId) r.fail('stream footer flags differ from the header');
  if (backwardSize !== indexSize) r.fail('backward size does not match the index');
  return op;
}

function parseBlockHeader(r: XzReader): { compressedSize: number; uncompressedSize: number; dictSize: number; bcjStart?: number } {
  const start = r.pos;
  const headerSize = (r.byte('block header size') + 1) * 4;
  r.need(headerSize - 1, 'block header');
  const end = start + headerSize - 4;
  const flags = r.byte('block flags');
  if (flags & 0x3c) r.fail('reserved block flags set');
  const filterCount = (flags & 3) + 1;
  const compressedSize = flags & 0x40 ? r.vli('block compressed size') : -1;
  const uncompressedSize = flags & 0x80 ? r.vli('block uncompressed size') : -1;
  let dictSize = 0;
  let bcjStart: number | undefined;
  for (let i = 0; i < filterCount; i++) {
    const id = r.vli('filter id');
    const propsSize = r.vli('filter properties size');
    if (propsSize > end - r.pos) r.fail('filter properties run past the block header');
    const last = i === filterCount - 1;
    if (id === FILTER_LZMA2) {
      if (!last) r.fail('LZMA2 must be the last filter');
      if (propsSize !== 1) r.fail('LZMA2 properties must be one byte');
      const p = r.byte('LZMA2 properties');
      if (p > 40) r.fail(`invalid LZMA2 dictionary size byte ${p}`);
      dictSize = p === 40 ? 0xffffffff : (2 | (p & 1)) * 2 ** (Math.floor(p / 2) + 11);
    } else if (id === FILTER_X86) {
      if (last || bcjStart !== undefined) r.fail('x86 BCJ filter out of place in the chain');
      if (propsSize === 0) bcjStart = 0;
      else if (propsSize === 4) bcjStart = r.u32('BCJ start offset');
      else r.fail('x86 BCJ properties must be 0 or 4 bytes');
    } else {
      r.fail(`unsupported filter ${hex(id)} (this loader handles LZMA2 and x86 BCJ)`);
    }
  }
  if (dictSize === 0) r.fail('block has no LZMA2 filter');
  if (r.pos > end) r.fail('block header fields run past its size');
  for (; r.pos < end; r.pos++) if (r.buf[r.pos] !== 0) r.fail('non-zero block header padding');
  r.crc32Of(start, end, 'block header');
  return { compressedSize, uncompressedSize, dictSize, bcjStart };
}

function verifyCheck(r: XzReader, checkId: number, data: Uint8Array): void {
  switch (checkId) {
    case CHECK_NONE:
      return;
    case CHECK_CRC32: {
      const stored = r.u32('block CRC32');
      if (crc32(data) !== stored) r.fail('block CRC32 mismatch: data corrupt');
      return;
    }
    case CHECK_CRC64: {
      r.need(8, 'block CRC64');
      const dv = new DataView(r.buf.buffer, r.buf.byteOffset + r.pos, 8);
      const stored = dv.getBigUint64(0, true);
      r.pos += 8;
      if (crc64(data) !== stored) r.fail('block CRC64 mismatch: data corrupt');
      return;
    }
    case CHECK_SHA256: {
      r.need(32, 'block SHA-256');
      const stored = r.buf.subarray(r.pos, r.pos + 32);
      r.pos += 32;
      const actual = createHash('sha256').update(data).digest();
      if (!actual.equals(stored)) r.fail('block SHA-256 mismatch: data corrupt');
      return;
    }
    default:
      r.fail(`unsupported integrity check type ${checkId}`);
  }
}
