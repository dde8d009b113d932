// A QEMU program the benchmarks drive over a unix socket it listens on
// (qemu-storage-daemon's vhost-user export, qemu-system's qtest server):
// started with its stderr in a file of a temporary directory, so that any
// failure, however late, can say what it said, and awaited until its socket
// exists.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ListeningProcess {
  readonly pid: number;
  readonly socketPath: string;
  /** What the process has written to stderr so far. */
  log(): string;
  /** Rejects when the process exits: race it against anything that waits on it. */
  exited(): Promise<never>;
  /** `error` with the process's stderr appended. */
  withLog(error: unknown): Error;
  /** Ends the process (SIGTERM, then SIGKILL) and removes its directory. */
  stop(): Promise<void>;
}

export class ListeningProcessStartError extends Error {
  constructor(
    message: string,
    readonly log: string,
  ) {
    super(`${message}; its stderr:\n${log.trim() || '(empty)'}`);
  }
}

/**
 * Starts `program` with the arguments `args(socketPath)` makes; `passFds`
 * become its descriptors 3, 4, …
 */
export async function startListeningProcess(options: {
  program: string;
  /** How the process is named in messages. */
  label: string;
  socketName: string;
  args: (socketPath: string) => string[];
  passFds?: number[];
  timeoutMs: number;
}): Promise<ListeningProcess> {
  const { program, label, timeoutMs } = options;
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-bench-'));
  const socketPath = join(dir, options.socketName);
  const logPath = join(dir, 'stderr.log');
  const log = () => {
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };
  const logFd = openSync(logPath, 'w');
  let child;
  try {
    child = spawn(program, options.args(socketPath), { stdio: ['ignore', logFd, logFd, ...(options.passFds ?? [])] });
  } finally {
    closeSync(logFd);
  }
  let exitStatus: string | undefined;
  const exit = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve((exitStatus = signal ? `signal ${signal}` : `code ${code}`)));
    child.once('error', (e) => resolve((exitStatus = e.message)));
  });
  const stop = async () => {
    if (exitStatus === undefined) {
      child.kill('SIGTERM');
      if ((await Promise.race([exit, sleep(5000, 'timeout', { ref: false })])) === 'timeout') {
        child.kill('SIGKILL');
        await exit;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    for (const deadline = Date.now() + timeoutMs; !existsSync(socketPath); await sleep(10)) {
      if (exitStatus !== undefined) throw new ListeningProcessStartError(`${label} exited (${exitStatus}) before it listened`, log());
      if (Date.now() > deadline) throw new ListeningProcessStartError(`${label} did not create ${socketPath} within ${timeoutMs} ms`, log());
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    pid: child.pid!,
    socketPath,
    log,
    exited: () => exit.then((status) => Promise.reject(new Error(`${label} exited (${status})`))),
    withLog: (error) => new Error(`${error instanceof Error ? error.message : String(error)}; ${label}'s stderr:\n${log().trim() || '(empty)'}`, { cause: error }),
    stop,
  };
}
