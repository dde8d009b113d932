// 9P wire primitives: a bounded reader over a guest message and a writer that
// builds a reply in one preallocated buffer. All integers are little-endian;
// a string is len[2] + UTF-8 bytes; a qid is type[1] version[4] path[8].
//
// The reader is the only place guest bytes are interpreted, so every way a
// message can lie (a string running past the end, a truncated integer, bytes
// that are not UTF-8) ends here as a P9ProtocolError carrying the errno the
// server answers with. Nothing else is ever thrown by it.
import os from 'node:os';
import { P9_HEADER_SIZE } from './p9-constants.js';
import { atProcessStart } from '../startup-snapshot.js';

const { EPROTO, EINVAL } = os.constants.errno;

/** A malformed message; the server answers Rlerror(errno). */
export class P9ProtocolError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
    this.name = 'P9ProtocolError';
  }
}

/** qid: the server's identity of a file (type bits, a version, a unique path). */
export interface Qid {
  readonly type: number;
  readonly version: number;
  readonly path: bigint;
}

export const QID_SIZE = 13;

// A decoder holds a native (ICU) converter, which a startup snapshot cannot
// keep: each process makes its own (src/startup-snapshot.ts).
let utf8!: TextDecoder;
atProcessStart(() => (utf8 = new TextDecoder('utf-8', { fatal: true })));
const utf8Encoder = new TextEncoder();

export class P9Reader {
  private readonly view: DataView;
  private pos: number;

  /** Reads bytes[start, end). */
  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    return this.view.getUint8(this.take(1));
  }

  u16(): number {
    return this.view.getUint16(this.take(2), true);
  }

  u32(): number {
    return this.view.getUint32(this.take(4), true);
  }

  u64(): bigint {
    return this.view.getBigUint64(this.take(8), true);
  }

  /** A u64 the server uses as a file offset or size: above 2^53 is EINVAL, not a lossy number. */
  u64AsNumber(): number {
    const value = this.u64();
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new P9ProtocolError(EINVAL, `64-bit value ${value} too large`);
    return Number(value);
  }

  string(): string {
    const length = this.u16();
    const at = this.take(length);
    try {
      return utf8.decode(this.bytes.subarray(at, at + length));
    } catch {
      throw new P9ProtocolError(EINVAL, 'string is not UTF-8');
    }
  }

  /** A zero-copy view of the next `length` bytes. */
  data(length: number): Uint8Array {
    const at = this.take(length);
    return this.bytes.subarray(at, at + length);
  }

  /** Trailing bytes are a malformed message too: a field list that does not add up. */
  expectEnd(): void {
    if (this.pos !== this.end) throw new P9ProtocolError(EPROTO, `${this.end - this.pos} trailing bytes`);
  }

  private take(length: number): number {
    if (length > this.end - this.pos) throw new P9ProtocolError(EPROTO, 'message ends inside a field');
    const at = this.pos;
    this.pos += length;
    return at;
  }
}

/**
 * Builds one message at a time in a buffer of `capacity` bytes (the largest
 * msize). The returned view stays valid until the next begin().
 * Running out of room is a server bug (replies are bounded by msize before
 * they are built), so it throws a RangeError.
 */
export class P9Writer {
  readonly buffer: Uint8Array;
  private readonly view: DataView;
  private pos = 0;
  private apart = 0;

  constructor(readonly capacity: number) {
    this.buffer = new Uint8Array(capacity);
    this.view = new DataView(this.buffer.buffer);
  }

  /** Where the next field goes (for data written straight into the buffer). */
  get position(): number {
    return this.pos;
  }

  begin(type: number, tag: number): this {
    this.view.setUint8(4, type);
    this.view.setUint16(5, tag, true);
    this.pos = P9_HEADER_SIZE;
    this.apart = 0;
    return this;
  }

  u8(value: number): this {
    this.view.setUint8(this.take(1), value);
    return this;
  }

  u16(value: number): this {
    this.view.setUint16(this.take(2), value, true);
    return this;
  }

  u32(value: number): this {
    this.view.setUint32(this.take(4), value >>> 0, true);
    return this;
  }

  u64(value: bigint | number): this {
    this.view.setBigUint64(this.take(8), BigInt.asUintN(64, BigInt(value)), true);
    return this;
  }

  string(value: string): this {
    const lengthAt = this.take(2);
    const { read, written } = utf8Encoder.encodeInto(value, this.buffer.subarray(this.pos, this.capacity));
    if (read !== value.length || written > 0xffff) throw new RangeError('9P reply string does not fit');
    this.view.setUint16(lengthAt, written, true);
    this.pos += written;
    return this;
  }

  qid(qid: Qid): this {
    return this.u8(qid.type).u32(qid.version).u64(qid.path);
  }

  bytes(data: Uint8Array): this {
    this.buffer.set(data, this.take(data.byteLength));
    return this;
  }

  /** Counts `length` bytes already placed at `position` (a read straight into the buffer). */
  skip(length: number): this {
    this.take(length);
    return this;
  }

  /** Overwrites a u32 written earlier (a count known only after the data). */
  patchU32(at: number, value: number): this {
    this.view.setUint32(at, value >>> 0, true);
    return this;
  }

  /** The message ends with `length` bytes that travel apart from it (zero-copy Rread): size[4] counts them. */
  dataApart(length: number): this {
    this.apart = length;
    return this;
  }

  /** Seals the message: writes size[4] over the header and returns its bytes. */
  finish(): Uint8Array {
    this.view.setUint32(0, this.pos + this.apart, true);
    return this.buffer.subarray(0, this.pos);
  }

  private take(length: number): number {
    if (length > this.capacity - this.pos) throw new RangeError('9P reply does not fit in msize');
    const at = this.pos;
    this.pos += length;
    return at;
  }
}

/** Encoded length of a string field. */
export function stringSize(value: string): number {
  return 2 + Buffer.byteLength(value, 'utf8');
}
