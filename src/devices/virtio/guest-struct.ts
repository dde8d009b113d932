// Structures the guest reads or writes (virtio configuration spaces, request
// headers), each described once as named fields with their C offsets and
// sizes, so device code says `sector` instead of `getUint32(8)`.
// test/devices/virtio/virtio-layouts.test.ts compiles the field list against
// the kernel's uapi headers. Virtio 1.x structures are little-endian (§1.4).

export interface GuestField {
  readonly offset: number;
  readonly size: 1 | 2 | 4 | 8;
}

export const u8 = (offset: number): GuestField => ({ offset, size: 1 });
export const u16 = (offset: number): GuestField => ({ offset, size: 2 });
export const u32 = (offset: number): GuestField => ({ offset, size: 4 });
export const u64 = (offset: number): GuestField => ({ offset, size: 8 });

export interface GuestStruct<F extends string> {
  /** The C name (`struct virtio_blk_config`), for messages and the header check. */
  readonly name: string;
  readonly size: number;
  readonly fields: Readonly<Record<F, GuestField>>;
}

/** Declares a structure; fields must lie inside it and not overlap. */
export function guestStruct<F extends string>(name: string, size: number, fields: Record<F, GuestField>): GuestStruct<F> {
  const sorted = (Object.entries(fields) as [string, GuestField][]).sort((a, b) => a[1].offset - b[1].offset);
  let end = 0;
  for (const [field, { offset, size: width }] of sorted) {
    if (offset < end || offset + width > size) throw new Error(`${name}.${field} at ${offset} overlaps or runs past the ${size}-byte structure`);
    end = offset + width;
  }
  return { name, size, fields };
}

/** 2^53 / 2^32: a u64 whose high half reaches this is beyond exact numbers. */
const HIGH_LIMIT = 0x20_0000;
const TWO32 = 0x1_0000_0000;
/**
 * The first value too large for a field, by its size (a u64 is bounded by
 * the safe integers). A table: V8 computes `2 ** (8 * size)` with a call to
 * pow(), 5 % of a NIC's CPU per received frame (BENCHMARKS.md).
 */
const FIELD_LIMIT = [0, 0x100, 0x1_0000, 0, TWO32, 0, 0, 0, Number.MAX_SAFE_INTEGER + 1];

/**
 * One structure's bytes with named access; make one per buffer and reuse it
 * (nothing here allocates). A u64 reads as a number, and as Infinity from
 * 2^53 up: no guest value that large is meaningful, and Infinity fails every
 * range check it meets.
 */
export class StructView<F extends string> {
  readonly bytes: Uint8Array;
  private readonly view: DataView;

  constructor(
    readonly struct: GuestStruct<F>,
    bytes: Uint8Array = new Uint8Array(struct.size),
  ) {
    if (bytes.length < struct.size) throw new RangeError(`${struct.name} needs ${struct.size} bytes, got ${bytes.length}`);
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get(name: F): number {
    const { offset, size } = this.struct.fields[name];
    const v = this.view;
    switch (size) {
      case 1:
        return v.getUint8(offset);
      case 2:
        return v.getUint16(offset, true);
      case 4:
        return v.getUint32(offset, true);
      case 8: {
        const high = v.getUint32(offset + 4, true);
        return high >= HIGH_LIMIT ? Infinity : v.getUint32(offset, true) + high * TWO32;
      }
    }
  }

  set(name: F, value: number): this {
    const { offset, size } = this.struct.fields[name];
    if (!Number.isSafeInteger(value) || value < 0 || value >= FIELD_LIMIT[size])
      throw new RangeError(`${this.struct.name}.${name}: ${value} does not fit in ${size} byte(s)`);
    const v = this.view;
    switch (size) {
      case 1:
        v.setUint8(offset, value);
        break;
      case 2:
        v.setUint16(offset, value, true);
        break;
      case 4:
        v.setUint32(offset, value, true);
        break;
      case 8:
        v.setUint32(offset, value % TWO32, true);
        v.setUint32(offset + 4, Math.floor(value / TWO32), true);
        break;
    }
    return this;
  }
}
