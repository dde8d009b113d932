// The guest's serial console when it is not tsvmm's output (`tsvmm exec`):
// each line goes to the log at debug level, and the last few are kept to
// explain a guest that died (a kernel panic, an init that failed).
import { Writable } from 'node:stream';
import type { Logger } from '../log.js';

const KEPT_LINES = 30;
/** A line longer than this is logged in pieces (a guest may never send a newline). */
const MAX_LINE = 4096;

export class GuestConsoleLog extends Writable {
  readonly lastLines: string[] = [];
  private partial = '';

  constructor(private readonly log: Logger) {
    super({ decodeStrings: true });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    const lines = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = lines.pop()!;
    while (this.partial.length > MAX_LINE) {
      lines.push(this.partial.slice(0, MAX_LINE));
      this.partial = this.partial.slice(MAX_LINE);
    }
    for (const line of lines) this.line(line);
    done();
  }

  /** Takes what is left of an unfinished line. */
  override end(): this {
    if (this.partial) this.line(this.partial);
    this.partial = '';
    return this;
  }

  private line(raw: string): void {
    const line = raw.replace(/\r/g, '');
    this.log.debug({ guestConsole: line }, 'guest console');
    this.lastLines.push(line);
    if (this.lastLines.length > KEPT_LINES) this.lastLines.shift();
  }
}
