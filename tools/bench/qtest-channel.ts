// QEMU's qtest protocol, as a client over a blocking socket: one line per
// command, "OK [value]" per reply (docs/devel/qtest.rst in QEMU's tree). No
// interrupt line is intercepted, so no other line comes.
import { koffi } from '../../ffi/koffi.js';
import { read, write } from '../../ffi/libc.js';

export class QtestChannel {
  private readonly buffer = new Uint8Array(4096);
  private start = 0;
  private end = 0;
  /** Commands sent so far. */
  commands = 0;

  constructor(private readonly fd: number) {}

  /** Sends a command and returns its reply's value (what follows "OK "). */
  command(line: string): string {
    const bytes = Buffer.from(`${line}\n`);
    if ((write(this.fd, bytes, bytes.length) as number) !== bytes.length) throw new Error(`qtest: write failed (errno ${koffi.errno()})`);
    this.commands++;
    const reply = this.line();
    if (!reply.startsWith('OK')) throw new Error(`qtest: ${line} → ${reply}`);
    return reply.slice(3);
  }

  private line(): string {
    for (;;) {
      const nl = this.buffer.subarray(this.start, this.end).indexOf(10);
      if (nl >= 0) {
        const text = Buffer.from(this.buffer.subarray(this.start, this.start + nl)).toString('latin1');
        this.start += nl + 1;
        return text;
      }
      this.buffer.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
      if (this.end === this.buffer.length) throw new Error('qtest: a reply line too long');
      const n = read(this.fd, this.buffer.subarray(this.end), this.buffer.length - this.end) as number;
      if (n <= 0) throw new Error(`qtest: QEMU closed the socket (${n < 0 ? `errno ${koffi.errno()}` : 'end of file'})`);
      this.end += n;
    }
  }
}
