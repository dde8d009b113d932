// Which compressor made a bzImage payload, told by its magic bytes (the same
// table the kernel's lib/decompress.c uses).

export type PayloadFormat = 'gzip' | 'xz' | 'lz4' | 'zstd' | 'bzip2' | 'lzma' | 'lzo' | 'elf' | 'unknown';

const MAGICS: readonly { format: PayloadFormat; magic: readonly number[] }[] = [
  { format: 'gzip', magic: [0x1f, 0x8b] },
  { format: 'gzip', magic: [0x1f, 0x9e] }, // old gzip, accepted by the kernel's table
  { format: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { format: 'lz4', magic: [0x02, 0x21, 0x4c, 0x18] }, // legacy frame, 0x184C2102 little-endian
  { format: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd] },
  { format: 'bzip2', magic: [0x42, 0x5a, 0x68] },
  { format: 'lzma', magic: [0x5d, 0x00, 0x00] },
  { format: 'lzo', magic: [0x89, 0x4c, 0x5a, 0x4f] },
  { format: 'elf', magic: [0x7f, 0x45, 0x4c, 0x46] },
];

export function detectPayloadFormat(bytes: Uint8Array): PayloadFormat {
  for (const { format, magic } of MAGICS) {
    if (bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b)) return format;
  }
  return 'unknown';
}

/** The formats this loader can decompress on the host. */
export const SUPPORTED_COMPRESSIONS: readonly PayloadFormat[] = ['gzip', 'xz', 'lz4', 'zstd'];
