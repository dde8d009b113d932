// QEMU's qtest protocol, as a client: one line per command, "OK [value]"
// per reply (docs/devel/qtest.rst in QEMU's tree). No interrupt line is
// intercepted, so no other line comes. `command` waits for its reply in a
// blocking read; `post` does not wait, and `collect` takes the replies come
// so far without blocking (a driver that must keep a backend's socket
// drained while QEMU answers: QEMU's main loop blocks writing to a full
// `-netdev stream` socket).
import { koffi } from '../../ffi/koffi.js';
import { EAGAIN, MSG_DONTWAIT, read, recv, write } from '../../ffi/libc.js';

export class QtestChannel {
  private readonly buffer = new Uint8Array(4096);
  private start = 0;
  private end = 0;
  /** Commands sent so far. */
  commands = 0;
  /** Posted commands whose replies have not been collected. */
  private unanswered = 0;

  constructor(private readonly fd: number) {}

  /** Sends a command and returns its reply's value (what follows "OK "). */
  command(line: string): string {
    this.collect(true);
    this.send(line);
    return this.reply(line);
  }

  /** Sends a command whose reply `collect` will take. */
  post(line: string): void {
    this.send(line);
    this.unanswered++;
  }

  /** Posted commands whose replies `collect` has not taken yet. */
  get awaiting(): number {
    return this.unanswered;
  }

  /** Takes the replies to posted commands: those come so far, or (`all`) every one, waiting for them. */
  collect(all = false): void {
    while (this.unanswered > 0) {
      if (!all && this.buffer.subarray(this.start, this.end).indexOf(10) < 0 && !this.fill(false)) return;
      this.reply('a posted command');
      this.unanswered--;
    }
  }

  private send(line: string): void {
    const bytes = Buffer.from(`${line}\n`);
    if ((write(this.fd, bytes, bytes.length) as number) !== bytes.length) throw new Error(`qtest: write failed (errno ${koffi.errno()})`);
    this.commands++;
  }

  private reply(line: string): string {
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
      this.fill(true);
    }
  }

  /** Reads what QEMU has sent; false when nothing was there (only without `wait`). */
  private fill(wait: boolean): boolean {
    this.buffer.copyWithin(0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
    if (this.end === this.buffer.length) throw new Error('qtest: a reply line too long');
    const room = this.buffer.subarray(this.end);
    const n = (wait ? read(this.fd, room, room.length) : recv(this.fd, room, room.length, MSG_DONTWAIT)) as number;
    if (n < 0 && !wait && koffi.errno() === EAGAIN) return false;
    if (n <= 0) throw new Error(`qtest: QEMU closed the socket (${n < 0 ? `errno ${koffi.errno()}` : 'end of file'})`);
    this.end += n;
    return true;
  }
}
