// Guest console output, written straight to a file descriptor from the vCPU
// thread. Bytes are batched per exit and flushed before the vCPU re-enters
// the guest, so a crash never loses output the guest already produced.
import { writeSync } from 'node:fs';

export class ConsoleOutput {
  private readonly buffer = Buffer.alloc(4096);
  private length = 0;
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));

  constructor(private readonly fd: number) {}

  put(byte: number): void {
    if (this.length === this.buffer.length) this.flush();
    this.buffer[this.length++] = byte;
  }

  flush(): void {
    let offset = 0;
    while (offset < this.length) {
      try {
        offset += writeSync(this.fd, this.buffer, offset, this.length - offset);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') Atomics.wait(this.sleeper, 0, 0, 1); // non-blocking fd is full: back off 1 ms
        else if (code === 'EPIPE' || code === 'EBADF') break; // nobody reads the console any more
        else throw e;
      }
    }
    this.length = 0;
  }
}
