// Guest console output, written straight to a file descriptor from the vCPU
// thread, batched: bytes collect while the guest runs and go out in one write.
//
// Flushing at every exit costs a write per byte while Linux prints (its
// serial driver exits once per byte, to read the line status), and a wake-up
// of whoever reads the pipe. In a nested L1 that was ~2 s of a 5 s boot's
// guest run (BENCHMARKS.md, "Start-up"). So a held output writes only when
// the vCPU is interrupted (its own timer, ring-sweep.ts: at most 16 ms apart,
// 2 ms while console input waits for the guest's echo), when its buffer is
// full, and on every path out of the guest for good (its exit, a stop, a
// pause, a crash of the loop); only a helper killed outright loses what it
// held, at most the last ~16 ms.
//
// It used to hold for 5 ms, checked before each KVM_RUN: a clock read at
// every exit, and a write every 5 ms of output. In the nested L1 that check
// and those writes were the costliest step between two exits while Linux
// printed, and the guest's run from its console's start to init took ~0.2 s
// longer (BENCHMARKS.md, "Start-up").
import { writeSync } from 'node:fs';
import { EXIT_STATUS, type VmExit } from '../kvm/vm-exit.js';

/** How a VM ends when its console's reader goes away (EPIPE), as a program would end of SIGPIPE. */
export const CONSOLE_READER_GONE: VmExit = {
  kind: 'output-closed',
  status: EXIT_STATUS.outputClosed,
  message: "nobody reads the guest's console any more (tsvmm's output was closed)",
};

export class ConsoleOutput {
  private readonly buffer = Buffer.alloc(4096);
  private length = 0;
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));
  /** Nobody reads the descriptor any more: what comes is dropped. */
  private closed = false;

  /**
   * `held`: bytes wait for flush() (the owner's interruptions, above);
   * otherwise every flushIfDue() writes what there is (one write per exit).
   * `onClosed` is called once when the reader has gone (EPIPE), as SIGPIPE
   * would tell a program.
   */
  constructor(
    private readonly fd: number,
    private readonly held = false,
    private readonly onClosed: () => void = () => {},
  ) {}

  put(byte: number): void {
    if (this.length === this.buffer.length) this.flush();
    this.buffer[this.length++] = byte;
  }

  /** Before the guest runs again: writes the bytes, unless they are held. */
  flushIfDue(): void {
    if (this.length !== 0 && !this.held) this.flush();
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
