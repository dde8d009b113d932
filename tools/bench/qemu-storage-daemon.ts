// QEMU's own virtio-blk outside a VM: qemu-storage-daemon exporting a raw
// image as a vhost-user-blk server on a unix socket in a temporary directory,
// on its default main loop (no iothread). Its stderr goes to a file there,
// so that any failure, however late, can say what the daemon said.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const QEMU_STORAGE_DAEMON = 'qemu-storage-daemon';

/** How the daemon's file driver submits I/O: io_uring, or its thread pool when io_uring is refused. */
export type DaemonAio = 'io_uring' | 'threads';

export interface StorageDaemon {
  readonly pid: number;
  readonly socketPath: string;
  readonly aio: DaemonAio;
  /** What the daemon has written to stderr so far. */
  log(): string;
  /** Rejects when the daemon exits: race it against anything that waits on the daemon. */
  exited(): Promise<never>;
  /** `error` with the daemon's stderr appended. */
  withLog(error: unknown): Error;
  /** Ends the daemon (SIGTERM, then SIGKILL) and removes its directory. */
  stop(): Promise<void>;
}

/** QEMU 7.2's words when io_uring cannot be had: refused at open, or given up for its thread pool. */
const IO_URING_REFUSED = /Unable to use io_uring|failed to init linux io_uring|io_uring was specified, but is not supported/;
const IO_URING_GIVEN_UP = /Unable to use linux io_uring, falling back to thread pool/;

export async function startStorageDaemon(image: string, options: { startTimeoutMs?: number } = {}): Promise<StorageDaemon> {
  const timeoutMs = options.startTimeoutMs ?? 10_000;
  let daemon: StorageDaemon;
  try {
    daemon = await start(image, 'io_uring', timeoutMs);
  } catch (e) {
    if (!(e instanceof DaemonStartError) || !IO_URING_REFUSED.test(e.log)) throw e;
    return await start(image, 'threads', timeoutMs);
  }
  if (!IO_URING_GIVEN_UP.test(daemon.log())) return daemon;
  // The daemon runs on, with its thread pool: say so rather than call it io_uring.
  return { ...daemon, aio: 'threads' };
}

class DaemonStartError extends Error {
  constructor(
    message: string,
    readonly log: string,
  ) {
    super(`${message}; its stderr:\n${log.trim() || '(empty)'}`);
  }
}

async function start(image: string, aio: DaemonAio, timeoutMs: number): Promise<StorageDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-qsd-'));
  const socketPath = join(dir, 'vhost-user-blk.sock');
  const logPath = join(dir, 'stderr.log');
  const log = () => {
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };
  const logFd = openSync(logPath, 'w');
  let child: ChildProcess;
  try {
    child = spawn(
      QEMU_STORAGE_DAEMON,
      [
        '--blockdev', `driver=file,node-name=file0,filename=${image},aio=${aio},cache.direct=off`,
        '--blockdev', 'driver=raw,node-name=disk0,file=file0',
        '--export', `type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=${socketPath},writable=on,num-queues=1`,
      ],
      { stdio: ['ignore', logFd, logFd] },
    );
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
      if (exitStatus !== undefined) throw new DaemonStartError(`${QEMU_STORAGE_DAEMON} (aio=${aio}) exited (${exitStatus}) before it listened`, log());
      if (Date.now() > deadline) throw new DaemonStartError(`${QEMU_STORAGE_DAEMON} (aio=${aio}) did not create ${socketPath} within ${timeoutMs} ms`, log());
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    pid: child.pid!,
    socketPath,
    aio,
    log,
    exited: () => exit.then((status) => Promise.reject(new Error(`${QEMU_STORAGE_DAEMON} exited (${status})`))),
    withLog: (error) => new Error(`${error instanceof Error ? error.message : String(error)}; ${QEMU_STORAGE_DAEMON}'s stderr:\n${log().trim() || '(empty)'}`, { cause: error }),
    stop,
  };
}
