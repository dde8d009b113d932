// Decompresses a bzImage payload on the host (the kernel's own decompressor
// is far too slow under software-nested KVM, docs/host-kvm.md). The payload is a
// compressed stream followed by the decompressed size as a little-endian u32
// (the kernel's size_append; for gzip that is the member's own ISIZE), which
// is what the kernel build's mkpiggy reads as z_output_len.
//
// The image is untrusted, so it chooses none of the limits: the declared size
// must fit the kernel header's init_size and the guest's RAM (a kernel that
// does not fit RAM cannot run) before anything is decoded; the decoders
// (library-decoders.ts: Debian's zlib, liblzma, libzstd, liblz4) write into
// one buffer of exactly that size and nowhere else, and every format runs
// under one fixed time budget.
//
// Where this runs: in the helper (src/helper/main.ts), while it builds the VM
// and so BEFORE it jails itself: in the namespaces unshare made, but still
// seeing the host's root, with the user's rights (all of root's, when tsvmm
// runs as root) and no seccomp filter. docs/security.md says why, and what
// bounds a hostile stream there.
import { BootError, asBootError } from './boot-error.js';
import { Deadline, decodeGzip, decodeLz4Legacy, decodeXz, decodeZstd } from './library-decoders.js';
import { detectPayloadFormat, SUPPORTED_COMPRESSIONS, type PayloadFormat } from './payload-format.js';

/** No kernel decompresses to more than this; a larger claim is a corrupt image. */
export const MAX_DECOMPRESSED_KERNEL = 1 << 30;

/**
 * Time budget for one payload, fixed (a budget that grew with the declared
 * size would let a small image buy itself seconds per claimed MiB). A 50 MiB
 * distro kernel decodes in well under a second in every format here.
 */
export const DECOMPRESS_TIME_BUDGET_MS = 10_000;

export interface DecompressedPayload {
  format: PayloadFormat;
  data: Uint8Array;
}

export interface DecompressOptions {
  /** Upper bound for the decompressed size from the kernel header (init_size). */
  maxSize?: number;
  /** The guest's RAM in bytes: no larger kernel can run, so none is decoded. */
  ramSize?: number;
}

/**
 * Detects the payload's compression, decompresses it and checks the result's
 * size against the trailer.
 */
export function decompressPayload(payload: Uint8Array, options: DecompressOptions = {}): DecompressedPayload {
  const format = detectPayloadFormat(payload);
  if (format === 'elf') return { format, data: payload };
  if (!SUPPORTED_COMPRESSIONS.includes(format)) {
    throw new BootError(
      format === 'unknown'
        ? `kernel payload compression not recognised (first bytes ${hexBytes(payload.subarray(0, 6))}); supported: ${SUPPORTED_COMPRESSIONS.join(', ')}`
        : `kernel payload is ${format}-compressed, which this loader does not decompress; rebuild the kernel with ` +
            `CONFIG_KERNEL_GZIP (or XZ, LZ4, ZSTD)`,
    );
  }
  if (payload.length < 8) throw new BootError(`${format} payload of ${payload.length} bytes is truncated`);
  const trailer = new DataView(payload.buffer, payload.byteOffset + payload.length - 4, 4).getUint32(0, true);
  if (trailer === 0) throw new BootError(`${format} payload declares a decompressed size of 0`);
  const limits = [
    { size: MAX_DECOMPRESSED_KERNEL, what: 'any kernel needs' },
    { size: options.maxSize, what: 'the kernel header allows' },
    { size: options.ramSize, what: "the guest's RAM holds" },
  ];
  for (const limit of limits) {
    if (limit.size !== undefined && trailer > limit.size)
      throw new BootError(`${format} payload declares a decompressed size of ${trailer} bytes, more than the ${limit.size} ${limit.what}`);
  }
  // gzip's own ISIZE doubles as the trailer; every other format has it appended.
  const stream = format === 'gzip' ? payload : payload.subarray(0, payload.length - 4);
  const data = decompress(format, stream, trailer);
  if (data.length !== trailer)
    throw new BootError(`${format} payload decompressed to ${data.length} bytes but declares ${trailer}`);
  return { format, data };
}

/**
 * Decompresses one bare stream (no size trailer) of a known format into
 * exactly `size` bytes, within `budgetMs`.
 */
export function decompress(format: PayloadFormat, input: Uint8Array, size: number, budgetMs = DECOMPRESS_TIME_BUDGET_MS): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_DECOMPRESSED_KERNEL)
    throw new BootError(`${format}: cannot decompress to ${size} bytes (1 to ${MAX_DECOMPRESSED_KERNEL})`);
  const decoders: Partial<Record<PayloadFormat, typeof decodeXz>> = { gzip: decodeGzip, xz: decodeXz, lz4: decodeLz4Legacy, zstd: decodeZstd };
  const decoder = decoders[format];
  if (!decoder) throw new BootError(`cannot decompress ${format}`);
  return asBootError(`${format} payload`, () => decoder(input, size, new Deadline(format, budgetMs)));
}

function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}
