// The gzip, xz, zstd and LZ4 decoders: Debian's zlib, liblzma, libzstd and
// liblz4 through koffi (ffi/compression.ts). The image is untrusted, so:
//
// * Output: one buffer of exactly the declared size, allocated before
//   decoding; every library call is given only what is left of it, so no
//   stream can write past it or make anything grow. A stream that wants more
//   is refused ("decompresses to more than the declared N bytes"), one that
//   gives less too, and so is a truncated one. A library error is a
//   BootError with the library's own words.
// * Memory inside the libraries: zlib's 32 KiB window; liblzma under a fixed
//   memlimit (XZ_MEMLIMIT: the dictionary a header asks for is the only
//   large allocation); libzstd decodes straight into the output buffer
//   (ZSTD_d_stableOutBuffer), so it allocates no window whatever the frame
//   header claims; LZ4 legacy blocks need none.
// * Time: input goes in INPUT_CHUNK pieces (zlib and liblzma also get at
//   most OUTPUT_CHUNK of output room per call, LZ4 one block of at most
//   8 MiB), and the clock is read between calls: a stream costs at most the
//   budget plus one call, and a call's work is bounded by its piece and by
//   the output left.
//
// The output buffer, and liblzma's dictionary, are advised to use transparent
// huge pages: on this project's hosts faulting in 50 MiB of fresh 4 KiB pages
// took longer than zstd took to decode into them (170 vs 60 ms), and xz's
// 32 MiB dictionary cost it ~100 ms of faults.
import {
  bufferAddress,
  freeAddress,
  LZ4_LIBRARY,
  lz4,
  lz4CompressBound,
  LZMA_CONCATENATED,
  LZMA_FINISH,
  LZMA_LIBRARY,
  LZMA_RET,
  LZMA_RUN,
  LZMA_STREAM,
  lzma,
  mallocAddress,
  nativeStruct,
  Z_GZIP_WINDOW_BITS,
  Z_NO_FLUSH,
  Z_RET,
  Z_STREAM,
  ZLIB_LIBRARY,
  zlib,
  zStreamMessage,
  ZSTD_d_stableOutBuffer,
  ZSTD_d_windowLogMax,
  ZSTD_error_dstSize_tooSmall,
  ZSTD_error_maxCode,
  ZSTD_LIBRARY,
  ZSTD_WINDOWLOG_MAX_64,
  zstd,
} from '../../ffi/compression.js';
import { MADV_HUGEPAGE, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE, madvise, mmap, munmap } from '../../ffi/libc.js';
import { BootError, hex } from './boot-error.js';

/** Input per library call, and output room per call where the library allows it to change (zlib, liblzma). */
export const INPUT_CHUNK = 1 << 20;
export const OUTPUT_CHUNK = 8 << 20;
/**
 * liblzma's memory limit: the kernel build's xz uses a 32 MiB dictionary,
 * xz's largest preset 64 MiB; a stream whose header asks for more is refused.
 */
export const XZ_MEMLIMIT = 128 << 20;
export const LZ4_LEGACY_MAGIC = 0x184c2102;
/** Each block of the LZ4 legacy frame decompresses to at most this. */
export const LZ4_LEGACY_BLOCK = 8 << 20;

const HUGE_PAGE = 2 << 20;
const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/**
 * The one output buffer: `size` bytes, zeroed, its whole 2 MiB pages advised
 * to use huge pages. (In the helper a buffer this large is always a mapping
 * of its own: MALLOC_TRIM_THRESHOLD_ pins glibc's mmap threshold at 128 KiB.)
 */
function outputBuffer(size: number): Uint8Array {
  const out = new Uint8Array(size);
  if (size >= 2 * HUGE_PAGE) {
    const start = Number(bufferAddress(out));
    const from = roundUp(start, HUGE_PAGE);
    const to = Math.floor((start + size) / HUGE_PAGE) * HUGE_PAGE;
    madvise(from, to - from, MADV_HUGEPAGE); // only a hint: without THP it fails, and nothing changes
  }
  return out;
}

/**
 * liblzma's memory: blocks of 2 MiB and more (the dictionary) each in their
 * own huge-page mapping, smaller ones from malloc. Called back from inside
 * liblzma, so it never throws: a failure is 0, which liblzma reports as
 * LZMA_MEM_ERROR. XZ_MEMLIMIT bounds the total before anything is asked for.
 */
function lzmaMemory(): { address: bigint; release(): void } {
  const mapped = new Map<number, { base: number; length: number }>();
  const allocator = lzma().allocator(
    (size) => {
      if (size < HUGE_PAGE) return mallocAddress(size) as number;
      const length = roundUp(size, HUGE_PAGE) + HUGE_PAGE; // slack to align the start
      const base = mmap(0, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) as number;
      if (base >= 2 ** 64 - 4096) return 0; // MAP_FAILED
      const start = roundUp(base, HUGE_PAGE);
      madvise(start, roundUp(size, HUGE_PAGE), MADV_HUGEPAGE);
      mapped.set(start, { base, length });
      return start;
    },
    (address) => {
      const m = mapped.get(address);
      if (!m) return void freeAddress(address);
      munmap(m.base, m.length);
      mapped.delete(address);
    },
  );
  return {
    address: allocator.address,
    release() {
      allocator.release();
      for (const m of mapped.values()) munmap(m.base, m.length); // none after lzma_end
      mapped.clear();
    },
  };
}

/** A fixed time budget for one stream, read between library calls. */
export class Deadline {
  private readonly end: number;
  constructor(
    private readonly format: string,
    private readonly budgetMs: number,
  ) {
    this.end = performance.now() + budgetMs;
  }
  check(): void {
    if (performance.now() >= this.end) throw new BootError(`${this.format}: decoder did not finish within ${this.budgetMs} ms (corrupt stream?)`);
  }
}

function library<T>(format: string, file: string, debianPackage: string, open: () => T): T {
  try {
    return open();
  } catch (e) {
    throw new BootError(`${format}: cannot load ${file} (${(e as Error).message}); install Debian's ${debianPackage}`, { cause: e });
  }
}

const tooLarge = (format: string, size: number) => new BootError(`${format}: the stream decompresses to more than the declared ${size} bytes`);
const wrongSize = (format: string, produced: number, size: number) =>
  new BootError(`${format}: stream decompressed to ${produced} bytes, expected ${size}`);

// ---- gzip and xz: a stream struct, pumped in pieces -------------------------

/** One decoder call on in[0, inLen) → out[0, outLen) at raw addresses. `stalled`: no progress was possible. */
interface StructDecoder {
  step(inAddr: bigint, inLen: number, outAddr: bigint, outLen: number, last: boolean): { read: number; written: number; done: boolean; stalled: boolean };
  end(): void;
}

function pump(format: string, decoder: StructDecoder, input: Uint8Array, size: number, deadline: Deadline): Uint8Array {
  const out = outputBuffer(size);
  let inPos = 0;
  let outPos = 0;
  try {
    for (;;) {
      deadline.check();
      const inLen = Math.min(INPUT_CHUNK, input.length - inPos);
      const outLen = Math.min(OUTPUT_CHUNK, size - outPos);
      // Addresses taken now, right before the call: nothing runs in between that could move a buffer.
      const r = decoder.step(bufferAddress(input) + BigInt(inPos), inLen, bufferAddress(out) + BigInt(outPos), outLen, inPos + inLen === input.length);
      inPos += r.read;
      outPos += r.written;
      if (r.done) break;
      if (r.stalled || (r.read === 0 && r.written === 0)) {
        // Stuck: it wants more input than there is, or more room than the declared size.
        if (inPos === input.length) throw new BootError(`${format}: stream is truncated (ends after ${outPos} of ${size} bytes)`);
        if (outPos === size) throw tooLarge(format, size);
        throw new BootError(`${format}: decoder made no progress at input offset ${hex(inPos)}`);
      }
    }
  } finally {
    decoder.end();
  }
  if (inPos !== input.length) throw new BootError(`${format}: ${input.length - inPos} bytes follow the end of the stream`);
  if (outPos !== size) throw wrongSize(format, outPos, size);
  return out;
}

export function decodeGzip(input: Uint8Array, size: number, deadline: Deadline): Uint8Array {
  const z = library('gzip', ZLIB_LIBRARY, 'zlib1g', zlib);
  const strm = nativeStruct(Z_STREAM.size);
  const ret = z.inflateInit2(strm.pointer, Z_GZIP_WINDOW_BITS, z.zlibVersion(), Z_STREAM.size) as number;
  if (ret !== Z_RET.Z_OK) {
    strm.release();
    throw new BootError(`gzip: inflateInit2 failed (${zlibError(ret)})`);
  }
  const o = Z_STREAM.offsets;
  return pump('gzip', {
    step(inAddr, inLen, outAddr, outLen) {
      strm.view.setBigUint64(o.next_in, inAddr, true);
      strm.view.setUint32(o.avail_in, inLen, true);
      strm.view.setBigUint64(o.next_out, outAddr, true);
      strm.view.setUint32(o.avail_out, outLen, true);
      const r = z.inflate(strm.pointer, Z_NO_FLUSH) as number;
      const read = inLen - strm.view.getUint32(o.avail_in, true);
      const written = outLen - strm.view.getUint32(o.avail_out, true);
      if (r === Z_RET.Z_OK || r === Z_RET.Z_STREAM_END || r === Z_RET.Z_BUF_ERROR)
        return { read, written, done: r === Z_RET.Z_STREAM_END, stalled: r === Z_RET.Z_BUF_ERROR };
      const message = zStreamMessage(strm.pointer);
      throw new BootError(`gzip: ${message ?? zlibError(r)} (at input offset ${hex(Number(strm.view.getBigUint64(o.total_in, true)))})`);
    },
    end() {
      z.inflateEnd(strm.pointer);
      strm.release();
    },
  }, input, size, deadline);
}

function zlibError(code: number): string {
  const names: Record<number, string> = {
    [Z_RET.Z_NEED_DICT]: 'the stream needs a preset dictionary',
    [Z_RET.Z_STREAM_ERROR]: 'Z_STREAM_ERROR',
    [Z_RET.Z_DATA_ERROR]: 'corrupt data',
    [Z_RET.Z_MEM_ERROR]: 'out of memory',
  };
  return names[code] ?? `zlib error ${code}`;
}

export function decodeXz(input: Uint8Array, size: number, deadline: Deadline): Uint8Array {
  const x = library('xz', LZMA_LIBRARY, 'liblzma5', lzma);
  const o = LZMA_STREAM.offsets;
  const strm = nativeStruct(LZMA_STREAM.size);
  const allocator = lzmaMemory();
  strm.view.setBigUint64(o.allocator, allocator.address, true);
  const release = () => {
    x.end(strm.pointer);
    strm.release();
    allocator.release();
  };
  const ret = x.streamDecoder(strm.pointer, BigInt(XZ_MEMLIMIT), LZMA_CONCATENATED) as number;
  if (ret !== LZMA_RET.LZMA_OK) {
    release();
    throw new BootError(`xz: lzma_stream_decoder failed (${lzmaError(ret)})`);
  }
  return pump('xz', {
    step(inAddr, inLen, outAddr, outLen, last) {
      strm.view.setBigUint64(o.next_in, inAddr, true);
      strm.view.setBigUint64(o.avail_in, BigInt(inLen), true);
      strm.view.setBigUint64(o.next_out, outAddr, true);
      strm.view.setBigUint64(o.avail_out, BigInt(outLen), true);
      // FINISH once the rest of the input is in this call: the end of input then ends the (concatenated) streams.
      const r = x.code(strm.pointer, last ? LZMA_FINISH : LZMA_RUN) as number;
      const read = inLen - Number(strm.view.getBigUint64(o.avail_in, true));
      const written = outLen - Number(strm.view.getBigUint64(o.avail_out, true));
      if (r === LZMA_RET.LZMA_OK || r === LZMA_RET.LZMA_STREAM_END || r === LZMA_RET.LZMA_BUF_ERROR)
        return { read, written, done: r === LZMA_RET.LZMA_STREAM_END, stalled: r === LZMA_RET.LZMA_BUF_ERROR };
      throw new BootError(`xz: ${lzmaError(r)} (at input offset ${hex(Number(strm.view.getBigUint64(o.total_in, true)))})`);
    },
    end: release,
  }, input, size, deadline);
}

function lzmaError(code: number): string {
  const names: Record<number, string> = {
    [LZMA_RET.LZMA_MEM_ERROR]: 'out of memory',
    [LZMA_RET.LZMA_MEMLIMIT_ERROR]: `the stream needs more than ${XZ_MEMLIMIT >> 20} MiB of decoder memory (its dictionary)`,
    [LZMA_RET.LZMA_FORMAT_ERROR]: 'not an .xz stream',
    [LZMA_RET.LZMA_OPTIONS_ERROR]: 'unsupported filter or options',
    [LZMA_RET.LZMA_DATA_ERROR]: 'corrupt data (or a failed integrity check)',
    [LZMA_RET.LZMA_PROG_ERROR]: 'LZMA_PROG_ERROR',
  };
  return names[code] ?? `liblzma error ${code}`;
}

// ---- zstd ---------------------------------------------------------------------

export function decodeZstd(input: Uint8Array, size: number, deadline: Deadline): Uint8Array {
  const z = library('zstd', ZSTD_LIBRARY, 'libzstd1', zstd);
  const dctx = z.createDCtx();
  if (!dctx) throw new BootError('zstd: ZSTD_createDCtx failed (out of memory)');
  const fail = (code: number, where: string): never => {
    if (-code === ZSTD_error_dstSize_tooSmall) throw tooLarge('zstd', size);
    throw new BootError(`zstd: ${z.getErrorName(code) as string} (${where})`);
  };
  const isError = (r: number) => r < 0 && -r < ZSTD_error_maxCode;
  try {
    for (const [param, value] of [
      [ZSTD_d_stableOutBuffer, 1],
      // Stable output means no window buffer, so the window a frame declares costs nothing: accept any.
      [ZSTD_d_windowLogMax, ZSTD_WINDOWLOG_MAX_64],
    ]) {
      const r = z.setParameter(dctx, param, value) as number;
      if (isError(r)) fail(r, `ZSTD_DCtx_setParameter(${param})`);
    }
    const out = outputBuffer(size);
    const dstPos = new BigUint64Array(1);
    const srcPos = new BigUint64Array(1);
    for (;;) {
      deadline.check();
      const before = [dstPos[0], srcPos[0]];
      const srcEnd = Math.min(input.length, Number(srcPos[0]) + INPUT_CHUNK);
      // The same dst and capacity every call (ZSTD_d_stableOutBuffer checks it).
      const r = z.decompressStream(dctx, out, size, dstPos, input, srcEnd, srcPos) as number;
      if (isError(r)) fail(r, `at input offset ${hex(Number(srcPos[0]))}`);
      const progress = dstPos[0] !== before[0] || srcPos[0] !== before[1];
      if (Number(srcPos[0]) === input.length) {
        if (r === 0) break; // the last frame is complete and flushed
        if (!progress) throw new BootError(`zstd: stream is truncated (ends inside a frame, after ${dstPos[0]} of ${size} bytes)`);
      } else if (!progress) throw new BootError(`zstd: decoder made no progress at input offset ${hex(Number(srcPos[0]))}`);
    }
    if (Number(dstPos[0]) !== size) throw wrongSize('zstd', Number(dstPos[0]), size);
    return out;
  } finally {
    z.freeDCtx(dctx);
  }
}

// ---- LZ4 legacy frame -----------------------------------------------------------

/**
 * The frame CONFIG_KERNEL_LZ4 builds (`lz4 -l`): magic 0x184C2102, then
 * blocks of [u32 LE compressed size][LZ4 block], each decompressing on its
 * own to at most 8 MiB; a repeated magic starts a concatenated stream.
 */
export function decodeLz4Legacy(input: Uint8Array, size: number, deadline: Deadline): Uint8Array {
  const lib = library('lz4', LZ4_LIBRARY, 'liblz4-1', lz4);
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  if (input.length < 4 || dv.getUint32(0, true) !== LZ4_LEGACY_MAGIC) throw new BootError('lz4: missing legacy frame magic 0x184c2102');
  const out = outputBuffer(size);
  const maxBlock = lz4CompressBound(LZ4_LEGACY_BLOCK);
  let ip = 4;
  let op = 0;
  while (ip < input.length) {
    deadline.check();
    if (input.length - ip < 4) throw new BootError(`lz4: stream is truncated (${input.length - ip} bytes at offset ${hex(ip)}, too few for a block size)`);
    const blockSize = dv.getUint32(ip, true);
    ip += 4;
    if (blockSize === LZ4_LEGACY_MAGIC) continue;
    if (blockSize === 0 || blockSize > maxBlock || blockSize > input.length - ip)
      throw new BootError(`lz4: block at offset ${hex(ip - 4)} claims ${blockSize} bytes (at most ${maxBlock}), ${input.length - ip} remain`);
    if (op === size) throw tooLarge('lz4', size);
    const room = Math.min(LZ4_LEGACY_BLOCK, size - op);
    const block = input.subarray(ip, ip + blockSize);
    const n = lib.decompressSafe(block, out.subarray(op, op + room), blockSize, room) as number;
    if (n < 0) {
      // Corrupt, or more than the room left? Only a block that fits 8 MiB but not the room is the latter.
      if (room < LZ4_LEGACY_BLOCK && (lib.decompressSafe(block, new Uint8Array(LZ4_LEGACY_BLOCK), blockSize, LZ4_LEGACY_BLOCK) as number) > room)
        throw tooLarge('lz4', size);
      throw new BootError(`lz4: corrupt block at input offset ${hex(ip - 4)}`);
    }
    ip += blockSize;
    op += n;
  }
  if (op !== size) throw wrongSize('lz4', op, size);
  return out;
}
