// A helper the launcher started (bin/tsvmm; src/cli/launched-helper.ts says
// why) has no frontend yet: its standard streams are /dev/null, and so are
// the descriptors where a spawned helper has its descriptor socket and IPC
// channel. Once its code has loaded it connects to the socket its frontend
// listens on, five times, and puts each connection where a spawned helper
// has that stream: fds 0-2 (console input, console output, log),
// DESCRIPTOR_SOCKET_FD and the IPC channel after it, which Node then sets
// up as it does for a child it spawned. From there on the helper cannot
// tell the two starts apart.
import * as childProcess from 'node:child_process';
import { fstatSync, lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { close, dup3, check, ECONNREFUSED, ENOENT } from '../../ffi/libc.js';
import { connectUnixStream, UnixSocketError } from '../net/unix-socket.js';
import { closeStrayFds } from '../sandbox/close-stray-fds.js';
import { DESCRIPTOR_SOCKET_FD } from '../sandbox/descriptor-socket.js';

/** Where the launcher tells the helper its frontend will listen. */
export const FRONTEND_SOCKET_ENV = 'TSVMM_FRONTEND_SOCKET';

/** The IPC channel's fd, as spawn's 'ipc' entry after the descriptor socket puts it. */
export const CHANNEL_FD = DESCRIPTOR_SOCKET_FD + 1;

/**
 * How long a helper waits for its frontend to listen. The frontend listens
 * as its own start begins (~0.4 s in a nested L1) and kills a helper it does
 * not use; one that died before that takes the helper with it (the launcher
 * starts it with a parent-death signal). This bounds the rest.
 */
const LISTEN_WAIT_MS = 60_000;
const RETRY_MS = 2;

/** Connects to the frontend at `path` and takes the connections as the helper's streams. */
export function connectToFrontend(path: string): void {
  // Node's start put its own descriptors (libuv's signal pipe, say) at the
  // lowest numbers free: the launcher holds these with /dev/null for us.
  for (let fd = 0; fd <= CHANNEL_FD; fd++)
    if (!isDevNull(fd)) throw new Error(`fd ${fd} is not the launcher's /dev/null: it cannot take the frontend's connection`);
  const deadline = Date.now() + LISTEN_WAIT_MS;
  for (let fd = 0; fd <= CHANNEL_FD; fd++) {
    const connection = connectWhenListening(path, deadline);
    check(dup3(connection, fd, 0) as number, 'dup3');
    close(connection);
  }
  // What Node's own start does for a child spawned with an 'ipc' entry.
  (childProcess as unknown as { _forkChild(fd: number, serialization: string): void })._forkChild(CHANNEL_FD, 'json');
  // What the launcher's shell had open came along (a shell can close only
  // fds 0-9): it goes now, as spawn would have kept it from a spawned helper.
  closeStrayFds([DESCRIPTOR_SOCKET_FD]);
}

/** /dev/null's device number (1:3). */
const DEV_NULL_RDEV = (1 << 8) | 3;

function isDevNull(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isCharacterDevice() && st.rdev === DEV_NULL_RDEV;
  } catch {
    return false;
  }
}

/**
 * Connects once the frontend listens: its socket's directory, once there,
 * must be this user's and closed to others, so that no other user's process
 * can stand in for the frontend (the frontend makes it as its own start
 * begins, maybe after this helper's code has loaded).
 */
function connectWhenListening(path: string, deadline: number): number {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const directory = dirname(path);
  for (;;) {
    try {
      const st = lstatSync(directory);
      if (!st.isDirectory() || st.uid !== process.getuid!() || (st.mode & 0o077) !== 0)
        throw new Error(`the frontend's socket directory ${directory} is not this user's alone`);
      return connectUnixStream(path, { blocking: true });
    } catch (e) {
      // Not there yet (the directory, or the socket in it), or not listening yet.
      const errno = e instanceof UnixSocketError ? e.errno : (e as NodeJS.ErrnoException).code === 'ENOENT' ? ENOENT : undefined;
      if ((errno !== ENOENT && errno !== ECONNREFUSED) || Date.now() > deadline) throw e;
    }
    Atomics.wait(pause, 0, 0, RETRY_MS);
  }
}
