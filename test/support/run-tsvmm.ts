// Runs the real tsvmm CLI (compiled, from dist/) as a child process, with a
// deadline after which the VMM and its guest are killed: a test never hangs
// and never leaves a VM behind.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { TSVMM_CLI } from '../../src/entry-points.js';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { deadline } from './deadline.js';

export interface TsvmmResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** tsvmm as its users run it: the program (from the CLI's startup snapshot). */
export const TSVMM_BIN = TSVMM_CLI;
export const GUEST_BIN = join(PROJECT_ROOT, 'test', 'guests', 'bin');

export interface RunTsvmmOptions {
  timeoutMs?: number;
  input?: string;
  env?: NodeJS.ProcessEnv;
  onStderrLine?: (line: string) => void;
  onStdout?: (all: string) => void;
  onSpawn?: (pid: number) => void;
  /** A command that runs tsvmm, e.g. ['ip', 'netns', 'exec', NS]. */
  wrapper?: string[];
  /** tsvmm's working directory (default: the test's). */
  cwd?: string;
}

export function runTsvmm(args: string[], opts: RunTsvmmOptions = {}): Promise<TsvmmResult> {
  return new Promise((resolve, reject) => {
    const argv = [...(opts.wrapper ?? []), TSVMM_BIN, ...args];
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
    });
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('latin1');
      opts.onStdout?.(stdout);
    });
    let partial = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!opts.onStderrLine) return;
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      lines.forEach(opts.onStderrLine);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? deadline(30_000));
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, timedOut });
    });
    if (opts.input !== undefined) child.stdin.write(opts.input);
    child.stdin.end();
  });
}

/** The CLI refused bad input as it should: status 2, one clear line naming the fault, no stack trace, no hang. */
export function expectCleanError(r: TsvmmResult, message: RegExp): void {
  expect(r.timedOut).toBe(false);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
}
