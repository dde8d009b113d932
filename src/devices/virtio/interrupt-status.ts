// A virtio-mmio transport's InterruptStatus register (virtio v1.2 §4.2.2) in
// one word of shared memory, so that the thread serving the device raises
// reasons and a vCPU thread answers the driver's InterruptStatus read and
// InterruptACK write itself. Linux's virtio_mmio does both on every
// interrupt; without this each was a round trip to the device's thread
// (src/bus/ioregion-client.ts). Every change is one compare-and-swap over
// the whole word, so any thread may touch it at any time.
//
// Low byte: the reasons pending (VIRTIO_MMIO_INT_VRING, _CONFIG). Next byte:
// the reasons raised since the driver last read the register. An ACK clears
// only reasons the driver has read: a reason raised after its read stays set
// even when the ACK names it, so the interrupt that announced it still finds
// it (the guest then looks at its rings once more, never once too few).
import { SHARED_REGISTERS_BYTES } from './register-snapshot.js';

const PENDING = 0xff;
const RAISED_SHIFT = 8;
const SIGNALLED = 1 << 16;

export class VirtioInterruptStatus {
  private readonly word: Int32Array;

  /**
   * `shared`: the word's memory (a fresh SharedArrayBuffer by default; for
   * another process, a mapped page: interrupt-status-page.ts), with room
   * after the word for the register snapshot (register-snapshot.ts). Atomics
   * work on either; hand it to whoever answers the driver.
   */
  constructor(readonly shared: ArrayBufferLike = new SharedArrayBuffer(SHARED_REGISTERS_BYTES)) {
    this.word = new Int32Array(shared, 0, 1);
  }

  /** The reasons pending. */
  get pending(): number {
    return Atomics.load(this.word, 0) & PENDING;
  }

  /** The device raises `reasons` (before it signals the interrupt). */
  raise(reasons: number): void {
    const bits = reasons & PENDING;
    for (;;) {
      const old = Atomics.load(this.word, 0);
      if (Atomics.compareExchange(this.word, 0, old, old | bits | (bits << RAISED_SHIFT)) === old) return;
    }
  }

  /**
   * The device raises `reasons` after publishing what they announce, and
   * sends an interrupt only if this says so: false while one sent earlier
   * has not been answered by the driver's read of the register.
   */
  raiseNeedsSignal(reasons: number): boolean {
    const bits = reasons & PENDING;
    for (;;) {
      const old = Atomics.load(this.word, 0);
      if (Atomics.compareExchange(this.word, 0, old, old | bits | (bits << RAISED_SHIFT) | SIGNALLED) === old) return (old & SIGNALLED) === 0;
    }
  }

  /** An interrupt goes out for reasons raised before their news was published (raise()): it is always sent, and counts as sent. */
  markSignalled(): void {
    Atomics.or(this.word, 0, SIGNALLED);
  }

  /** Reasons pending and not raised since the driver's last read: the ones an ACK would clear. */
  get clearable(): number {
    const w = Atomics.load(this.word, 0);
    return w & PENDING & ~(w >>> RAISED_SHIFT);
  }

  /** The driver reads the register: the reasons pending, which it may now acknowledge. */
  read(): number {
    for (;;) {
      const old = Atomics.load(this.word, 0);
      if (Atomics.compareExchange(this.word, 0, old, old & PENDING) === old) return old & PENDING;
    }
  }

  /** The driver writes InterruptACK with `reasons`; returns the reasons still pending. */
  acknowledge(reasons: number): number {
    for (;;) {
      const old = Atomics.load(this.word, 0);
      const next = old & ~(reasons & PENDING & ~(old >>> RAISED_SHIFT));
      if (Atomics.compareExchange(this.word, 0, old, next) === old) return next & PENDING;
    }
  }

  /** Device reset. */
  clear(): void {
    Atomics.store(this.word, 0, 0);
  }
}
