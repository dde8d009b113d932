// How tsvmm's processes end (src/process-end.ts) and why nothing is lost
// when they do: the status reaches the parent, nothing of Node's own exit
// runs (unless a profiler's flag asks for it), and the log file has every
// line written before (log-file-stream.ts).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openLogFileStream } from '../../src/cli/log-file-stream.js';
import { PROJECT_ROOT } from '../../src/project-root.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-process-end-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('endProcess', () => {
  it("ends with the given status at once: no 'exit' handler, no timer, no worker keeps it", () => {
    // Needs the compiled tree (npm test builds it first), as the helper does.
    const module = join(PROJECT_ROOT, 'dist', 'src', 'process-end.js');
    const script = `
      const { endProcess } = await import(${JSON.stringify(module)});
      const { Worker } = await import('node:worker_threads');
      new Worker('setInterval(() => {}, 1000)', { eval: true });
      setInterval(() => {}, 1000);
      process.on('exit', () => process.stdout.write('exit handler ran'));
      process.stdout.write('before;');
      endProcess(3);`;
    const env = { ...process.env, NODE_V8_COVERAGE: undefined, NODE_OPTIONS: undefined };
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000, env });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('before;');
    expect(r.status).toBe(3);
    // Under a profiler it ends through Node's exit, which writes the main
    // thread's profile (CPU.<date>.<time>.<pid>.<thread id>.<n>.cpuprofile;
    // the worker writes one of its own too when it got to run by then).
    const profiles = join(dir, 'profiles');
    const p = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profiles}`, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000, env });
    expect(p.status).toBe(3);
    expect(readdirSync(profiles).filter((f) => f.endsWith('.cpuprofile') && f.split('.')[4] === '0')).toHaveLength(1);
  });
});

describe('the log file stream', () => {
  it('has each chunk in the file when write() returns, appended after what was there', () => {
    const file = join(dir, 'tsvmm.log');
    const first = openLogFileStream(file);
    first.write('one\n');
    expect(readFileSync(file, 'utf8')).toBe('one\n');
    first.destroy();
    const second = openLogFileStream(file);
    second.write(Buffer.from('two\n'));
    expect(readFileSync(file, 'utf8')).toBe('one\ntwo\n');
    second.destroy();
  });
});
