// QEMU's own virtio-blk outside a VM: qemu-storage-daemon exporting a raw
// image as a vhost-user-blk server on a unix socket in a temporary directory,
// on its default main loop (no iothread).
import { ListeningProcessStartError, startListeningProcess, type ListeningProcess } from './listening-process.js';

export const QEMU_STORAGE_DAEMON = 'qemu-storage-daemon';

/** How the daemon's file driver submits I/O: io_uring, or its thread pool when io_uring is refused. */
export type DaemonAio = 'io_uring' | 'threads';

export interface StorageDaemon extends ListeningProcess {
  readonly aio: DaemonAio;
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
    if (!(e instanceof ListeningProcessStartError) || !IO_URING_REFUSED.test(e.log)) throw e;
    return await start(image, 'threads', timeoutMs);
  }
  if (!IO_URING_GIVEN_UP.test(daemon.log())) return daemon;
  // The daemon runs on, with its thread pool: say so rather than call it io_uring.
  return { ...daemon, aio: 'threads' };
}

async function start(image: string, aio: DaemonAio, timeoutMs: number): Promise<StorageDaemon> {
  const daemon = await startListeningProcess({
    program: QEMU_STORAGE_DAEMON,
    label: `${QEMU_STORAGE_DAEMON} (aio=${aio})`,
    socketName: 'vhost-user-blk.sock',
    args: (socketPath) => [
      '--blockdev', `driver=file,node-name=file0,filename=${image},aio=${aio},cache.direct=off`,
      '--blockdev', 'driver=raw,node-name=disk0,file=file0',
      '--export', `type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=${socketPath},writable=on,num-queues=1`,
    ],
    timeoutMs,
  });
  return { ...daemon, aio };
}
