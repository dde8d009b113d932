// Decompresses a bzImage payload on the host (the kernel's own decompressor
// is far too slow under software-nested KVM, docs/host-kvm.md). The payload is a
// compressed stream followed by the decompressed size as a little-endian u32
// (the kernel's size_append; for gzip that is the member's own ISIZE), which
// is what the kernel build's mkpiggy reads as z_output_len.
//
// The image is untrusted, so it chooses none of the limits: the declared size
// must fit the kernel header's init_size and the guest's RAM (a kernel that
// does not fit RAM cannot run) before anything is decoded, every decoder gets
// that size as a hard output limit, and zstd (whose decoder can loop) runs
// under a fixed time budget. gzip, xz and lz4 take time linear in that output.
//
// Where this runs: in the helper (src/helper/main.ts), while it builds the VM
// and so BEFORE it jails itself: in the namespaces unshare made, but still
// seeing the host's root, with the user's rights (all of root's, when tsvmm
// runs as root) and no seccomp filter. Decoder bugs matter accordingly.
import { gunzipSync } from 'node:zlib';
import { BootError, asBootError } from './boot-error.js';
import { decodeLz4Legacy } from './lz4-legacy-decoder.js';
import { detectPayloadFormat, SUPPORTED_COMPRESSIONS, type PayloadFormat } from './payload-format.js';
import { decodeXz } from './xz-decoder.js';
import { decodeZstd } from './zstd-decoder.js';

/** No kernel decompresses to more than this; a larger claim is a corrupt image. */
export const MAX_DECOMPRESSED_KERNEL = 1 << 30;

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

/** Decompresses one bare stream (no size trailer) of a known format into exactly `size` bytes. */
export function decompress(format: PayloadFormat, input: Uint8Array, size: number): Uint8Array {
  switch (format) {
    case 'gzip':
      return asBootError('gzip payload', () => {
        const out = gunzipSync(input, { maxOutputLength: Math.max(size, 1) });
        return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      });
    case 'xz':
      return asBootError('xz payload', () => decodeXz(input, size));
    case 'lz4':
      return asBootError('lz4 payload', () => decodeLz4Legacy(input, size));
    case 'zstd':
      return asBootError('zstd payload', () => decodeZstd(input, size));
    default:
      throw new BootError(`cannot decompress ${format}`);
  }
}

function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}
