// A single-producer single-consumer byte ring in a SharedArrayBuffer: the
// main thread queues console input, the vCPU thread takes it when the UART
// has room. Indices grow monotonically; Atomics order the data accesses.

const HEAD = 0; // written by the producer
const TAIL = 1; // written by the consumer

export class InputRing {
  private readonly indices: Int32Array;
  private readonly data: Uint8Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.indices = new Int32Array(buffer, 0, 2);
    this.data = new Uint8Array(buffer, 8);
  }

  static create(capacity = 4096): InputRing {
    return new InputRing(new SharedArrayBuffer(8 + capacity));
  }

  get capacity(): number {
    return this.data.length;
  }

  get available(): number {
    return (Atomics.load(this.indices, HEAD) - Atomics.load(this.indices, TAIL)) | 0;
  }

  /** Producer: queues as much of `bytes` as fits; returns how many. */
  push(bytes: Uint8Array): number {
    const head = Atomics.load(this.indices, HEAD);
    const free = this.capacity - ((head - Atomics.load(this.indices, TAIL)) | 0);
    const n = Math.min(free, bytes.length);
    for (let i = 0; i < n; i++) this.data[((head + i) >>> 0) % this.capacity] = bytes[i];
    Atomics.store(this.indices, HEAD, (head + n) | 0);
    return n;
  }

  /** Consumer: takes up to `max` bytes into `out`; returns how many. */
  take(out: Uint8Array, max: number): number {
    const tail = Atomics.load(this.indices, TAIL);
    const n = Math.min(max, out.length, (Atomics.load(this.indices, HEAD) - tail) | 0);
    for (let i = 0; i < n; i++) out[i] = this.data[((tail + i) >>> 0) % this.capacity];
    Atomics.store(this.indices, TAIL, (tail + n) | 0);
    return n;
  }
}
