// eventfds as the two directions of a device's signalling: an interrupt the
// device raises (KVM reads it as an irqfd) and a doorbell the guest rings (KVM
// writes it as an ioeventfd, as it does a register write it only counts).
// Both work across threads and processes.
import { koffi } from '../../ffi/koffi.js';
import { EAGAIN, read, write } from '../../ffi/libc.js';
import type { InterruptLine } from './device.js';
import { watchFd } from './fd-watch.js';

/** Raises an edge by adding 1 to an eventfd (an irqfd on the KVM side). */
export class EventfdInterrupt implements InterruptLine {
  private readonly one = new Uint8Array(new BigUint64Array([1n]).buffer);

  constructor(readonly fd: number) {}

  /** EAGAIN (counter saturated) means an edge is already pending: fine. */
  trigger(): void {
    if ((write(this.fd, this.one, 8) as number) < 0 && koffi.errno() !== EAGAIN) throw new Error(`eventfd write failed: errno ${koffi.errno()}`);
  }

  /** Edge-triggered: raising the line is an edge, lowering it is a no-op. */
  setLevel(level: boolean): void {
    if (level) this.trigger();
  }
}

/**
 * Calls `onRing` on this thread's event loop each time the (non-blocking)
 * eventfd fires; batched per wake-up. Where the loop reports each write once
 * (edge-triggered), the counter is never read: one system call less per
 * doorbell, and a counter that cannot wrap (2^64 writes).
 */
export function watchEventfd(fd: number, onRing: () => void): { close(): void } {
  const counter = new Uint8Array(8);
  const watch = watchFd(fd, { readable: true, edgeTriggered: true }, () => {
    if (watch.edgeTriggered || (read(fd, counter, 8) as number) === 8) onRing();
  });
  return { close: () => watch.close() };
}

/** Watches one doorbell per virtqueue; `onRing(queue)` when that queue's eventfd fires. */
export function watchDoorbells(fds: readonly number[], onRing: (queue: number) => void): { close(): void } {
  const watches = fds.map((fd, queue) => watchEventfd(fd, () => onRing(queue)));
  return { close: () => watches.forEach((w) => w.close()) };
}

/**
 * Guest writes KVM only counts (an ioeventfd with a datamatch), taken when
 * wanted rather than watched.
 */
export class EventfdCounter {
  private readonly counter = new BigUint64Array(1);
  private readonly bytes = new Uint8Array(this.counter.buffer);

  constructor(readonly fd: number) {}

  /** The writes since the last call (the counter is reset), 0 for none; never blocks. */
  take(): number {
    return (read(this.fd, this.bytes, 8) as number) === 8 ? Number(this.counter[0]) : 0;
  }
}
