// The vCPU's console output (src/vmm/console-output.ts): written at every
// exit, or held a few milliseconds with its batch number published for the
// ring watch; nothing is lost or reordered either way.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { openPipe } from '../support/pipe.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleOutput } from '../../src/vmm/console-output.js';

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

describe('ConsoleOutput', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-console-'));
  const file = join(dir, 'out');
  let fd = -1;
  const open = () => (fd = openSync(file, 'w+'));
  const written = () => readFileSync(file, 'latin1');
  const put = (out: ConsoleOutput, text: string) => [...text].forEach((c) => out.put(c.charCodeAt(0)));
  afterEach(() => closeSync(fd));
  afterEach(() => rmSync(file, { force: true }));

  it('writes at every exit when it does not hold', () => {
    const out = new ConsoleOutput(open());
    put(out, 'boot');
    expect(written()).toBe('');
    out.flushIfDue();
    expect(written()).toBe('boot');
  });

  it('holds bytes until they are old enough, or until a flush', () => {
    const out = new ConsoleOutput(open(), { holdMs: 60_000 });
    put(out, 'Linux ');
    out.flushIfDue();
    expect(written()).toBe('');
    put(out, 'version');
    out.flush(); // an exit for good, a sweep, a kick, a pause
    expect(written()).toBe('Linux version');
    put(out, '\n');
    out.flush();

    const soon = new ConsoleOutput(fd, { holdMs: 1 });
    put(soon, 'due');
    sleep(5);
    soon.flushIfDue();
    expect(written()).toBe('Linux version\ndue');
  });

  it('writes a full buffer at once, holding or not', () => {
    const out = new ConsoleOutput(open(), { holdMs: 60_000 });
    const text = 'x'.repeat(4096) + 'tail';
    put(out, text);
    expect(written()).toBe('x'.repeat(4096));
    out.flush();
    expect(written()).toBe(text);
  });

  it('tells once when the reader has gone (EPIPE), then drops what comes, as SIGPIPE would end a program', () => {
    const [readEnd, writeEnd] = openPipe();
    closeSync(readEnd);
    fd = writeEnd; // closed after the test
    let told = 0;
    const out = new ConsoleOutput(writeEnd, undefined, () => told++);
    put(out, 'lost');
    out.flushIfDue();
    expect(told).toBe(1);
    put(out, 'also lost');
    out.flush();
    expect(told).toBe(1);
  });
});
