// Guest console output, written straight to a file descriptor from the vCPU
// thread, batched: bytes collect while the guest runs and go out in one write.
//
// Flushing at every exit costs a write per byte while Linux prints (its
// serial driver exits once per byte, to read the line status), and a wake-up
// of whoever reads the pipe. In a nested L1 that was ~2 s of a 5 s boot's
// guest run (BENCHMARKS.md, "Start-up"). So with `holdMs` set the bytes wait
// until they are that old, or the buffer is full; a guest that stops exiting
// with bytes held is taken out of KVM_RUN by the vCPU's own timer
// (ring-sweep.ts), which writes them out. Every path out of the guest for
// good (its exit, a stop, a pause, a crash of the loop) flushes; only a
// helper killed outright loses what it held, at most the last ~16 ms.
import { writeSync } from 'node:fs';
import { EXIT_STATUS, type VmExit } from '../kvm/vm-exit.js';

/**
 * How long a vCPU holds console bytes: short enough that nobody sees the
 * wait at a prompt, long enough that a booting kernel's lines go out in a
 * few writes each, not one per byte.
 */
export const CONSOLE_HOLD_MS = 5;

/** How a VM ends when its console's reader goes away (EPIPE), as a program would end of SIGPIPE. */
export const CONSOLE_READER_GONE: VmExit = {
  kind: 'output-closed',
  status: EXIT_STATUS.outputClosed,
  message: "nobody reads the guest's console any more (tsvmm's output was closed)",
};

export interface ConsoleHolding {
  /** How long bytes may wait for company before they are written. */
  holdMs: number;
}

export class ConsoleOutput {
  private readonly buffer = Buffer.alloc(4096);
  private length = 0;
  /** performance.now() when the oldest held byte came. */
  private heldSince = 0;
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));
  /** Nobody reads the descriptor any more: what comes is dropped. */
  private closed = false;

  /**
   * Without `holding`, every flushIfDue() writes what there is (one write per
   * exit). `onClosed` is called once when the reader has gone (EPIPE), as
   * SIGPIPE would tell a program.
   */
  constructor(
    private readonly fd: number,
    private readonly holding?: ConsoleHolding,
    private readonly onClosed: () => void = () => {},
  ) {}

  put(byte: number): void {
    if (this.length === this.buffer.length) this.flush();
    if (this.length === 0 && this.holding) this.heldSince = performance.now();
    this.buffer[this.length++] = byte;
  }

  /** Before the guest runs again: writes the bytes if they have waited long enough (at once without holding). */
  flushIfDue(): void {
    if (this.length === 0) return;
    if (!this.holding || performance.now() - this.heldSince >= this.holding.holdMs) this.flush();
  }

  flush(): void {
    let offset = 0;
    while (offset < this.length && !this.closed) {
      try {
        offset += writeSync(this.fd, this.buffer, offset, this.length - offset);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') Atomics.wait(this.sleeper, 0, 0, 1); // non-blocking fd is full: back off 1 ms
        else if (code === 'EPIPE' || code === 'EBADF') {
          this.closed = true;
          this.onClosed();
        } else throw e;
      }
    }
    this.length = 0;
  }
}
