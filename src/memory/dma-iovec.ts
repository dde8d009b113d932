// A preallocated array of struct iovec { void *iov_base; size_t iov_len; } in
// stable host memory, ready to hand to preadv/pwritev, io_uring (READV/WRITEV)
// or Linux AIO (PREADV/PWRITEV) by address. Filling it allocates nothing.
//
// 64-bit fields are written as two 32-bit halves (no BigInt on the hot path);
// host addresses and lengths are below 2^53, so numbers represent them exactly.
import { IOVEC_SIZE, memcpyAddr } from '../../ffi/block-io.js';

const TWO32 = 0x1_0000_0000;

/** What a block backend needs from an iovec list. */
export interface IoVecList {
  /** Host address of the first struct iovec. */
  readonly address: number;
  /** Number of entries in use. */
  readonly count: number;
  /** Sum of the lengths of the entries in use. */
  readonly length: number;
  base(i: number): number;
  len(i: number): number;
}

export class IoVecArray implements IoVecList {
  readonly address: number;
  readonly capacity: number;
  count = 0;
  length = 0;
  private readonly words: Uint32Array;

  /**
   * `memory` is a Uint8Array over stable host memory at `address` (for example
   * a slice of a HostBuffer) with room for `capacity` entries.
   */
  constructor(memory: Uint8Array, address: number, capacity: number) {
    if (memory.byteLength < capacity * IOVEC_SIZE) throw new RangeError('iovec memory too small');
    if (address % 8 !== 0 || memory.byteOffset % 8 !== 0) throw new RangeError('iovec memory must be 8-byte aligned');
    this.address = address;
    this.capacity = capacity;
    this.words = new Uint32Array(memory.buffer, memory.byteOffset, capacity * 4);
  }

  reset(): void {
    this.count = 0;
    this.length = 0;
  }

  /** Appends an entry; false when full. Merges with the previous entry when contiguous. */
  push(base: number, len: number): boolean {
    const n = this.count;
    if (n > 0) {
      const prevBase = this.base(n - 1);
      const prevLen = this.len(n - 1);
      if (prevBase + prevLen === base) {
        this.setLen(n - 1, prevLen + len);
        this.length += len;
        return true;
      }
    }
    if (n >= this.capacity) return false;
    const w = this.words;
    const i = n * 4;
    w[i] = base % TWO32;
    w[i + 1] = Math.floor(base / TWO32);
    w[i + 2] = len % TWO32;
    w[i + 3] = Math.floor(len / TWO32);
    this.count = n + 1;
    this.length += len;
    return true;
  }

  /** Appends `from`'s entries, leaving out its first `skip` bytes; false when this list fills up. */
  appendFrom(from: IoVecList, skip = 0): boolean {
    for (let i = 0; i < from.count; i++) {
      const l = from.len(i);
      if (skip >= l) {
        skip -= l;
        continue;
      }
      if (!this.push(from.base(i) + skip, l - skip)) return false;
      skip = 0;
    }
    return true;
  }

  base(i: number): number {
    const w = this.words;
    return w[i * 4] + w[i * 4 + 1] * TWO32;
  }

  len(i: number): number {
    const w = this.words;
    return w[i * 4 + 2] + w[i * 4 + 3] * TWO32;
  }

  /** Shortens the list by `bytes` from the end. */
  trimEnd(bytes: number): void {
    let left = bytes;
    while (left > 0 && this.count > 0) {
      const last = this.count - 1;
      const l = this.len(last);
      if (l <= left) {
        left -= l;
        this.length -= l;
        this.count = last;
      } else {
        this.setLen(last, l - left);
        this.length -= left;
        left = 0;
      }
    }
  }

  private setLen(i: number, len: number): void {
    this.words[i * 4 + 2] = len % TWO32;
    this.words[i * 4 + 3] = Math.floor(len / TWO32);
  }
}

/**
 * Copies `n` bytes between host memory at `host` and the bytes of `list`
 * from its byte `skip` on: into the list when `intoList`, else out of it
 * (a bounce buffer, a backend's own buffer).
 */
export function copyIoVecs(list: IoVecList, skip: number, host: number, n: number, intoList: boolean): void {
  for (let i = 0; i < list.count && n > 0; i++) {
    const len = list.len(i);
    if (skip >= len) {
      skip -= len;
      continue;
    }
    const k = Math.min(len - skip, n);
    const at = list.base(i) + skip;
    if (intoList) memcpyAddr(at, host, k);
    else memcpyAddr(host, at, k);
    host += k;
    n -= k;
    skip = 0;
  }
}
