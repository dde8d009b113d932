// With several vCPUs, each vCPU thread has its own client for a forwarded
// region but all of them share its one socket (the device end serves it in
// order). The lock keeps one request and its response together: a vCPU takes
// it for the whole exchange, the others wait in Atomics.wait (a futex).
// Uncontended, it costs one compare-and-swap and one store. It also carries
// the region's death: once one client gives up on the socket (a peer that
// stopped answering may still answer late), no other client may read from it;
// and whether the device has answered at all (its first answer may be slow:
// ioregion-client.ts), for every client once one has had an answer.
const FREE = 0;
const HELD = 1;
/** Held with others waiting: the holder must wake one on release. */
const CONTENDED = 2;

export class RegionLock {
  private readonly word: Int32Array;
  private readonly deadFlag: Int32Array;
  private readonly answeredFlag: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(12)) {
    this.word = new Int32Array(buffer, 0, 1);
    this.deadFlag = new Int32Array(buffer, 4, 1);
    this.answeredFlag = new Int32Array(buffer, 8, 1);
  }

  /** The device has answered one of the clients. */
  markAnswered(): void {
    Atomics.store(this.answeredFlag, 0, 1);
  }

  get answered(): boolean {
    return Atomics.load(this.answeredFlag, 0) !== 0;
  }

  /** True for the caller that marked it dead first. */
  markDead(): boolean {
    return Atomics.exchange(this.deadFlag, 0, 1) === 0;
  }

  get isDead(): boolean {
    return Atomics.load(this.deadFlag, 0) !== 0;
  }

  acquire(): void {
    let seen = Atomics.compareExchange(this.word, 0, FREE, HELD);
    if (seen === FREE) return;
    // Mark it contended and sleep until the holder releases it (Drepper's futex mutex).
    if (seen !== CONTENDED) seen = Atomics.exchange(this.word, 0, CONTENDED);
    while (seen !== FREE) {
      Atomics.wait(this.word, 0, CONTENDED);
      seen = Atomics.exchange(this.word, 0, CONTENDED);
    }
  }

  release(): void {
    if (Atomics.exchange(this.word, 0, FREE) === CONTENDED) Atomics.notify(this.word, 0, 1);
  }
}
