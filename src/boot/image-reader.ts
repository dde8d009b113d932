// Bounds-checked little-endian reads over an image the user handed us
// (kernel, initrd, compressed stream). Every read past the end is a BootError
// naming what was being read, never a RangeError.
import { BootError, hex } from './boot-error.js';

export class ImageReader {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  /** Names the image in error messages ("bzImage", "vmlinux ELF", ...). */
  readonly what: string;

  constructor(bytes: Uint8Array, what: string) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.what = what;
  }

  get length(): number {
    return this.bytes.length;
  }

  /** Throws unless [offset, offset+len) lies inside the image. */
  check(offset: number, len: number, field: string): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(len) || offset < 0 || len < 0 || offset > this.bytes.length - len)
      throw new BootError(
        `${this.what} is truncated: ${field} at offset ${hex(offset)} (${len} bytes) lies outside the ${this.bytes.length}-byte image`,
      );
  }

  u8(offset: number, field: string): number {
    this.check(offset, 1, field);
    return this.bytes[offset];
  }

  u16(offset: number, field: string): number {
    this.check(offset, 2, field);
    return this.view.getUint16(offset, true);
  }

  u32(offset: number, field: string): number {
    this.check(offset, 4, field);
    return this.view.getUint32(offset, true);
  }

  /** A u64 as a number; BootError when it exceeds 2^53 (no guest address or size does). */
  u64(offset: number, field: string): number {
    this.check(offset, 8, field);
    const v = this.view.getBigUint64(offset, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new BootError(`${this.what}: ${field} ${hex(v)} is out of range`);
    return Number(v);
  }

  /** A u64 kept exact (for virtual addresses near 2^64). */
  u64Big(offset: number, field: string): bigint {
    this.check(offset, 8, field);
    return this.view.getBigUint64(offset, true);
  }

  /** A zero-copy slice; throws when out of range. */
  slice(offset: number, len: number, field: string): Uint8Array {
    this.check(offset, len, field);
    return this.bytes.subarray(offset, offset + len);
  }
}
