// A guest scatter/gather list: (address, length, direction) triples in
// preallocated typed arrays. Devices fill one per request from a descriptor
// chain; the DmaMapper turns it into host iovecs. Values are stored as
// doubles so that a hostile 64-bit address or length survives unmangled
// until the mapper rejects it.
import { DmaAccess } from './dma-translator.js';

export class DmaSgList {
  readonly capacity: number;
  count = 0;
  readonly addr: Float64Array;
  readonly len: Float64Array;
  readonly access: Uint8Array;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.addr = new Float64Array(capacity);
    this.len = new Float64Array(capacity);
    this.access = new Uint8Array(capacity);
  }

  reset(): void {
    this.count = 0;
  }

  /** Appends one element; false when the list is full. */
  push(addr: number, len: number, access: DmaAccess): boolean {
    const n = this.count;
    if (n >= this.capacity) return false;
    this.addr[n] = addr;
    this.len[n] = len;
    this.access[n] = access;
    this.count = n + 1;
    return true;
  }
}
