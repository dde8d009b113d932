// koffi bindings for Debian's decompression libraries: liblz4 (LZ4 blocks),
// libzstd (streaming zstd), liblzma (.xz streams) and zlib (gzip). Only the
// decode calls src/boot/library-decoders.ts needs, with integer-only
// arguments where the library offers them. Each library is opened on first use, so a host that
// lacks one can still load the others' formats; the error says which file
// is missing. No policy lives here: limits and messages are the caller's.
//
// Buffers are passed as TypedArrays (koffi hands the library a pointer to
// their memory, no copy). liblzma and zlib take their buffers as pointers in
// a stream struct: the struct lives in native memory (it must not move: zlib
// checks it), and the caller writes the buffer pointers into it before every
// call (bufferAddress), so no pointer to a JS buffer outlives a call.
// Constants and the struct layouts are checked against <lzma.h>, <zlib.h>,
// <zstd.h> and <lz4.h> by test/ffi/compression-abi.test.ts.
import { koffi, libc } from './libc.js';

/** The address of a TypedArray's memory, for a pointer inside a struct (valid until the next allocation may move it: use it at once). */
export function bufferAddress(bytes: Uint8Array): bigint {
  return koffi.address(bytes) as bigint;
}

/** Zeroed native memory for a library's stream struct: it never moves. `release()` frees it. */
export function nativeStruct(size: number): { pointer: unknown; view: DataView; release(): void } {
  const pointer = koffi.alloc('uint8_t', size);
  const view = new DataView(koffi.view(pointer, size));
  for (let i = 0; i < size; i++) view.setUint8(i, 0);
  return { pointer, view, release: () => koffi.free(pointer) };
}

/**
 * RTLD_DEEPBIND: the library's calls to its own exported functions bind to
 * itself, not to same-named symbols already in the process. Node's binary
 * exports its bundled zlib (a different version, another inflate_state
 * layout): without this, Debian's inflateInit2_ ran Node's inflateReset2 on
 * its own state, and a corrupt gzip stream crashed inflate. Newer Node
 * releases bundle zstd too.
 */
const DEEP_BIND = { deep: true };

/** Opens a library on first use; a failed load is remembered and rethrown. */
function lazy<T>(load: () => T): () => T {
  let result: { value: T } | { error: unknown } | undefined;
  return () => {
    if (!result) {
      try {
        result = { value: load() };
      } catch (error) {
        result = { error };
      }
    }
    if ('error' in result) throw result.error;
    return result.value;
  };
}

// ---- liblz4 (liblz4-1) ------------------------------------------------------

export const LZ4_LIBRARY = 'liblz4.so.1';

export const lz4 = lazy(() => {
  const lib = koffi.load(LZ4_LIBRARY, DEEP_BIND);
  return {
    /**
     * Decodes one LZ4 block of `compressedSize` bytes into at most
     * `dstCapacity` bytes at dst; never reads or writes outside those ranges,
     * and matches cannot reach before dst. Returns the bytes written, or a
     * negative number for a malformed block or one that needs more room.
     */
    decompressSafe: lib.func('int LZ4_decompress_safe(const void *src, void *dst, int compressedSize, int dstCapacity)'),
    versionNumber: lib.func('int LZ4_versionNumber(void)'),
  };
});

/** LZ4_COMPRESSBOUND(isize): the largest block a compressor makes from `isize` bytes. */
export function lz4CompressBound(isize: number): number {
  return isize > LZ4_MAX_INPUT_SIZE ? 0 : isize + Math.floor(isize / 255) + 16;
}
export const LZ4_MAX_INPUT_SIZE = 0x7e000000;

// ---- libzstd (libzstd1) -----------------------------------------------------

export const ZSTD_LIBRARY = 'libzstd.so.1';

export const zstd = lazy(() => {
  const lib = koffi.load(ZSTD_LIBRARY, DEEP_BIND);
  return {
    /** ZSTD_DCtx *ZSTD_createDCtx(void): null when out of memory. */
    createDCtx: lib.func('void *ZSTD_createDCtx(void)'),
    freeDCtx: lib.func('size_t ZSTD_freeDCtx(void *dctx)'),
    /**
     * The size_t results below are declared intptr_t: zstd's error codes are
     * (size_t)-code, so an error is a small negative number (-code), exact
     * in JS, and a success a small positive one.
     */
    setParameter: lib.func('intptr_t ZSTD_DCtx_setParameter(void *dctx, int param, int value)'),
    /**
     * ZSTD_decompressStream with integer arguments: decodes src[*srcPos,
     * srcSize) into dst[*dstPos, dstCapacity), advancing both positions
     * (u64 each). Returns 0 when a frame is complete and flushed, a positive
     * input-size hint while inside one, or -code.
     */
    decompressStream: lib.func(
      'intptr_t ZSTD_decompressStream_simpleArgs(void *dctx, void *dst, size_t dstCapacity, _Inout_ uint64_t *dstPos, const void *src, size_t srcSize, _Inout_ uint64_t *srcPos)',
    ),
    /** The error's name for a -code result (passed back as the same bits). */
    getErrorName: lib.func('const char *ZSTD_getErrorName(intptr_t code)'),
    versionNumber: lib.func('unsigned int ZSTD_versionNumber(void)'),
  };
});

/** ZSTD_dParameter values (zstd.h). */
export const ZSTD_d_windowLogMax = 100;
/** ZSTD_d_experimentalParam2: decode straight into the caller's output buffer, which must stay the same between calls. */
export const ZSTD_d_stableOutBuffer = 1001;
/** ZSTD_WINDOWLOG_MAX on 64-bit hosts. */
export const ZSTD_WINDOWLOG_MAX_64 = 31;
/** ZSTD_ErrorCode values (zstd_errors.h) the caller names itself. */
export const ZSTD_error_dstSize_tooSmall = 70;
/** Error codes are below this; a result of -code with code < this is an error (ZSTD_isError). */
export const ZSTD_error_maxCode = 120;

// ---- liblzma (liblzma5) -----------------------------------------------------

export const LZMA_LIBRARY = 'liblzma.so.5';

export const lzma = lazy(() => {
  const lib = koffi.load(LZMA_LIBRARY, DEEP_BIND);
  // lzma_allocator's two functions, as called back into JS (addresses as integers: the same ABI as pointers here).
  const allocFn = koffi.pointer(koffi.proto('uintptr_t tsvmm_lzma_alloc(uintptr_t opaque, size_t nmemb, size_t size)'));
  const freeFn = koffi.pointer(koffi.proto('void tsvmm_lzma_free(uintptr_t opaque, uintptr_t ptr)'));
  return {
    /**
     * A struct lzma_allocator (LZMA_ALLOCATOR) whose alloc and free call
     * these functions, synchronously, on this thread, inside liblzma calls:
     * `alloc` returns an address (0: out of memory) and must not throw.
     * Set it in lzma_stream.allocator before lzma_stream_decoder; release()
     * after lzma_end.
     */
    allocator(alloc: (size: number) => number, free: (address: number) => void): { address: bigint; release(): void } {
      const a = koffi.register((_opaque: number, nmemb: number, size: number) => alloc(nmemb * size), allocFn);
      const f = koffi.register((_opaque: number, address: number) => free(address), freeFn);
      const struct = nativeStruct(LZMA_ALLOCATOR.size);
      struct.view.setBigUint64(LZMA_ALLOCATOR.offsets.alloc, koffi.address(a) as bigint, true);
      struct.view.setBigUint64(LZMA_ALLOCATOR.offsets.free, koffi.address(f) as bigint, true);
      return {
        address: koffi.address(struct.pointer) as bigint,
        release() {
          koffi.unregister(a);
          koffi.unregister(f);
          struct.release();
        },
      };
    },
    /** lzma_ret lzma_stream_decoder(lzma_stream *strm, uint64_t memlimit, uint32_t flags): strm is LZMA_STREAM.size bytes. */
    streamDecoder: lib.func('int lzma_stream_decoder(void *strm, uint64_t memlimit, uint32_t flags)'),
    /** lzma_ret lzma_code(lzma_stream *strm, lzma_action action) */
    code: lib.func('int lzma_code(void *strm, int action)'),
    /** Frees what the decoder allocated; strm may then be reused. */
    end: lib.func('void lzma_end(void *strm)'),
    versionNumber: lib.func('uint32_t lzma_version_number(void)'),
  };
});

/**
 * struct lzma_stream (lzma/base.h) on x86-64: zero-filled is LZMA_STREAM_INIT.
 * Only the buffer fields are used; pointers are written as u64 addresses.
 */
export const LZMA_STREAM = {
  size: 136,
  offsets: { next_in: 0, avail_in: 8, total_in: 16, next_out: 24, avail_out: 32, total_out: 40, allocator: 48 },
} as const;

/** struct lzma_allocator (lzma/base.h): two function pointers and their opaque argument. */
export const LZMA_ALLOCATOR = {
  size: 24,
  offsets: { alloc: 0, free: 8, opaque: 16 },
} as const;

/** malloc/free on raw addresses, for a custom allocator's small blocks. */
export const mallocAddress = libc.func('malloc', 'uintptr_t', ['size_t']);
export const freeAddress = libc.func('free', 'void', ['uintptr_t']);

/** lzma_ret (lzma/base.h). */
export const LZMA_RET = {
  LZMA_OK: 0,
  LZMA_STREAM_END: 1,
  LZMA_NO_CHECK: 2,
  LZMA_UNSUPPORTED_CHECK: 3,
  LZMA_GET_CHECK: 4,
  LZMA_MEM_ERROR: 5,
  LZMA_MEMLIMIT_ERROR: 6,
  LZMA_FORMAT_ERROR: 7,
  LZMA_OPTIONS_ERROR: 8,
  LZMA_DATA_ERROR: 9,
  LZMA_BUF_ERROR: 10,
  LZMA_PROG_ERROR: 11,
} as const;

/** lzma_action (lzma/base.h). */
export const LZMA_RUN = 0;
export const LZMA_FINISH = 3;
/** lzma_stream_decoder flag (lzma/container.h): decode .xz streams one after another, with stream padding between. */
export const LZMA_CONCATENATED = 0x08;

// ---- zlib (zlib1g) ----------------------------------------------------------

export const ZLIB_LIBRARY = 'libz.so.1';

export const zlib = lazy(() => {
  const lib = koffi.load(ZLIB_LIBRARY, DEEP_BIND);
  return {
    /** The library's version string; inflateInit2_ wants the one the caller was built for, i.e. this one. */
    zlibVersion: lib.func('const char *zlibVersion(void)'),
    /** int inflateInit2_(z_streamp strm, int windowBits, const char *version, int stream_size): strm is Z_STREAM.size bytes. */
    inflateInit2: lib.func('int inflateInit2_(void *strm, int windowBits, const char *version, int streamSize)'),
    /** int inflate(z_streamp strm, int flush) */
    inflate: lib.func('int inflate(void *strm, int flush)'),
    inflateEnd: lib.func('int inflateEnd(void *strm)'),
  };
});

/** The NUL-terminated message a z_stream's `msg` field points to, or undefined. */
export function zStreamMessage(strm: unknown): string | undefined {
  return (koffi.decode(strm, Z_STREAM.offsets.msg, 'const char *') as string | null) ?? undefined;
}

/** struct z_stream_s (zlib.h) on x86-64: avail_in/avail_out are 32-bit (uInt). */
export const Z_STREAM = {
  size: 112,
  offsets: { next_in: 0, avail_in: 8, total_in: 16, next_out: 24, avail_out: 32, total_out: 40, msg: 48 },
} as const;

/** inflate() return codes (zlib.h). */
export const Z_RET = {
  Z_OK: 0,
  Z_STREAM_END: 1,
  Z_NEED_DICT: 2,
  Z_STREAM_ERROR: -2,
  Z_DATA_ERROR: -3,
  Z_MEM_ERROR: -4,
  Z_BUF_ERROR: -5,
} as const;
export const Z_NO_FLUSH = 0;
/** windowBits for inflateInit2: a 32 KiB window (15), gzip wrapper only (+16). */
export const Z_GZIP_WINDOW_BITS = 15 + 16;
