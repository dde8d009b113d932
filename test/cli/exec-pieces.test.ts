// The host-side pieces of `tsvmm exec` (src/cli/exec-command.ts): the working
// directory's travel on the kernel command line, the guest console kept for
// the log, and the console ports' pipes copied to tsvmm's streams.
import { execFileSync } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { openPipe } from '../support/pipe.js';
import { ConsoleOutputs } from '../../src/cli/console-outputs.js';
import { kernelParamValue, oneShareProcess } from '../../src/cli/exec-command.js';
import { GuestConsoleLog } from '../../src/cli/guest-console-log.js';

const quietLog = pino({ level: 'silent' });

describe('kernelParamValue', () => {
  it('keeps a plain path and escapes what the kernel or the shell would change, as /init undoes it', () => {
    expect(kernelParamValue('/home/ci/src-1.2_x')).toBe('/home/ci/src-1.2_x');
    const odd = '/tmp/a b"c\\d\'é\n';
    const escaped = kernelParamValue(odd);
    expect(escaped).toMatch(/^[A-Za-z0-9_@%+=:,./\\-]+$/); // one word, no quotes
    // What the guest's /init does with it: printf %b (here the host's, same semantics).
    expect(execFileSync('sh', ['-c', 'printf "%b" "$1"', 'sh', escaped]).toString('utf8')).toBe(odd);
  });
});

describe('oneShareProcess', () => {
  const modes: Record<string, number> = { '/': 0o755, '/root': 0o700, '/root/src': 0o755, '/home': 0o755, '/home/ci': 0o751 };
  const modeOf = (dir: string) => modes[dir];

  it('serves both shares from one process unless, as root, a directory above the working directory keeps others out', () => {
    expect(oneShareProcess('/home/ci/src', 0, modeOf)).toBe(true);
    expect(oneShareProcess('/root/src/app', 0, modeOf)).toBe(false);
    expect(oneShareProcess('/', 0, modeOf)).toBe(true);
    // An ordinary user passes the directories above its own working directory.
    expect(oneShareProcess('/root/src/app', 1000, modeOf)).toBe(true);
  });
});

describe('GuestConsoleLog', () => {
  it('logs the console line by line at debug and keeps the last lines, an unfinished one at the end', () => {
    const logged: string[] = [];
    const log = pino({ level: 'debug' }, { write: (s: string) => void logged.push(JSON.parse(s).guestConsole) });
    const c = new GuestConsoleLog(log);
    c.write('boot\r\nKernel panic - not syncing: x\n');
    for (let i = 0; i < 40; i++) c.write(`line ${i}\n`);
    c.write('tail without newline');
    c.end();
    expect(logged.slice(0, 2)).toEqual(['boot', 'Kernel panic - not syncing: x']);
    expect(c.lastLines.length).toBe(30);
    expect(c.lastLines.at(-1)).toBe('tail without newline');
    expect(c.lastLines.at(-2)).toBe('line 39');
  });
});

const nonBlockingPipe = () => openPipe({ nonBlocking: true });

describe('ConsoleOutputs', () => {
  it("says when a stream's reader went away (EPIPE), stops copying, and still finishes", async () => {
    const [readEnd, writeEnd] = nonBlockingPipe();
    const out = new PassThrough();
    const broken: string[] = [];
    const outputs = new ConsoleOutputs([{ stream: 'stdout', fd: readEnd }], { stdout: out, stderr: new PassThrough() }, quietLog, (s) => broken.push(s));
    out.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    out.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })); // reported once
    expect(broken).toEqual(['stdout']);
    expect(outputs.broken).toBe('stdout');
    await outputs.finished(); // the pipe was closed: nothing left to wait for
    // The writer (the helper's port) now gets EPIPE instead of filling the pipe.
    await new Promise((r) => setTimeout(r, 20));
    expect(() => writeSync(writeEnd, 'x')).toThrow(/EPIPE/);
    closeSync(writeEnd);
  });

  it('copies each pipe to its stream, every byte, and finishes when the writers are gone', async () => {
    const pipes = [0, 1].map(() => nonBlockingPipe());
    const out = new PassThrough();
    const err = new PassThrough();
    const got = { out: [] as Buffer[], err: [] as Buffer[] };
    out.on('data', (d: Buffer) => got.out.push(d));
    err.on('data', (d: Buffer) => got.err.push(d));
    const outputs = new ConsoleOutputs(
      [
        { stream: 'stdout', fd: pipes[0][0] },
        { stream: 'stderr', fd: pipes[1][0] },
      ],
      { stdout: out, stderr: err },
      quietLog,
    );
    const data = Buffer.alloc(50_000, 0).map((_, i) => (i * 7) & 0xff);
    let sent = 0;
    // The write end is non-blocking: write what fits, let the reader drain, go on.
    while (sent < data.length) {
      try {
        sent += writeSync(pipes[0][1], data, sent, data.length - sent);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    writeSync(pipes[1][1], 'to stderr\n');
    closeSync(pipes[0][1]);
    closeSync(pipes[1][1]);
    await outputs.finished();
    outputs.close();
    expect(Buffer.concat(got.out).equals(data)).toBe(true);
    expect(Buffer.concat(got.err).toString()).toBe('to stderr\n');
  });
});
