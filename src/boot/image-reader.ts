// Bounds-checked little-endian reads over an image the user handed us
// (kernel, initrd, compressed stream). Every read past the end is a BootError
// naming what was being read, never a RangeError.
import { BootError, hex } from './boot-error.js';
import { asByteSource, type ByteSource } from './byte-source.js';

export class ImageReader {
  private readonly source: ByteSource;
  /** Names the image in error messages ("bzImage", "vmlinux ELF", ...). */
  readonly what: string;

  constructor(image: Uint8Array | ByteSource, what: string) {
    this.source = asByteSource(image);
    this.what = what;
  }

  get length(): number {
    return this.source.length;
  }

  private view(offset: number, len: number): DataView {
    const b = this.source.bytes(offset, len);
    return new DataView(b.buffer, b.byteOffset, len);
  }

  /** Throws unless [offset, offset+len) lies inside the image. */
  check(offset: number, len: number, field: string): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(len) || offset < 0 || len < 0 || offset > this.source.length - len)
      throw new BootError(
        `${this.what} is truncated: ${field} at offset ${hex(offset)} (${len} bytes) lies outside the ${this.source.length}-byte image`,
      );
  }

  u8(offset: number, field: string): number {
    this.check(offset, 1, field);
    return this.source.bytes(offset, 1)[0];
  }

  u16(offset: number, field: string): number {
    this.check(offset, 2, field);
    return this.view(offset, 2).getUint16(0, true);
  }

  u32(offset: number, field: string): number {
    this.check(offset, 4, field);
    return this.view(offset, 4).getUint32(0, true);
  }

  /** A u64 as a number; BootError when it exceeds 2^53 (no guest address or size does). */
  u64(offset: number, field: string): number {
    this.check(offset, 8, field);
    const v = this.view(offset, 8).getBigUint64(0, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new BootError(`${this.what}: ${field} ${hex(v)} is out of range`);
    return Number(v);
  }

  /** A u64 kept exact (for virtual addresses near 2^64). */
  u64Big(offset: number, field: string): bigint {
    this.check(offset, 8, field);
    return this.view(offset, 8).getBigUint64(0, true);
  }

  /** The bytes of a range (zero-copy for an image in memory); throws when out of range. */
  slice(offset: number, len: number, field: string): Uint8Array {
    this.check(offset, len, field);
    return this.source.bytes(offset, len);
  }
}
