// The vCPU's console output (src/vmm/console-output.ts): written at every
// exit, or held until the vCPU is interrupted (its timer, a kick) or the
// buffer fills; nothing is lost or reordered either way.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { openPipe } from '../support/pipe.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleOutput } from '../../src/vmm/console-output.js';

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

  it('holds bytes past every exit until a flush, however long they wait', () => {
    const out = new ConsoleOutput(open(), true);
    put(out, 'Linux ');
    out.flushIfDue();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    out.flushIfDue();
    expect(written()).toBe('');
    put(out, 'version');
    out.flush(); // a sweep, a kick, a pause, an exit for good
    expect(written()).toBe('Linux version');
    put(out, '\n');
    out.flushIfDue();
    expect(written()).toBe('Linux version');
    out.flush();
    expect(written()).toBe('Linux version\n');
  });

  it('writes a full buffer at once, holding or not', () => {
    const out = new ConsoleOutput(open(), true);
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
    const out = new ConsoleOutput(writeEnd, false, () => told++);
    put(out, 'lost');
    out.flushIfDue();
    expect(told).toBe(1);
    put(out, 'also lost');
    out.flush();
    expect(told).toBe(1);
  });
});
