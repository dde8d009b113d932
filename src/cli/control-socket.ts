// The VM's control socket (`tsvmm run --control-socket PATH`): a unix socket
// that takes one JSON command per line and answers one JSON line each:
//   {"command":"status"|"pause"|"resume"|"stop"}  →  {"ok":true,"state":"paused"}
// Malformed input gets {"ok":false,"error":"..."}; the VM is never affected.
//
// It listens before anything starts (so a bad PATH fails at argument time,
// before the helper and KVM), answering "starting" until the helper is
// attached. PATH is replaced only when a stale socket is there: anything else
// (a disk image, a socket someone listens on) is refused, never deleted.
import { lstatSync, rmSync, type Stats } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import type { HelperProcess } from './helper-process.js';

const COMMANDS = new Set(['status', 'pause', 'resume', 'stop']);
const MAX_LINE = 4096;

export class ControlSocketError extends Error {
  override name = 'ControlSocketError';
}

export interface ControlSocket {
  /** From now on commands go to this helper. */
  attach(helper: HelperProcess): void;
  /** Stops listening and removes the socket (if it is still ours). */
  close(): void;
}

export async function openControlSocket(path: string): Promise<ControlSocket> {
  await clearStaleSocket(path);
  let helper: HelperProcess | undefined;
  const server = createServer((socket) => {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_LINE && !buffered.includes('\n')) {
        socket.end(JSON.stringify({ ok: false, error: `line longer than ${MAX_LINE} bytes` }) + '\n');
        return;
      }
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        void answer(line).then((reply) => socket.write(JSON.stringify(reply) + '\n'));
      }
    });
  });
  const answer = async (line: string): Promise<object> => {
    let command: unknown;
    try {
      command = (JSON.parse(line) as { command?: unknown }).command;
    } catch {
      return { ok: false, error: 'not JSON: send {"command":"status|pause|resume|stop"}' };
    }
    if (typeof command !== 'string' || !COMMANDS.has(command)) return { ok: false, error: `unknown command ${JSON.stringify(command)}` };
    if (!helper) return command === 'status' ? { ok: true, state: 'starting' } : { ok: false, error: 'the VM is still starting' };
    if (command === 'stop') {
      helper.stop();
      return { ok: true, state: 'stopping' };
    }
    return { ok: true, state: await helper.control(command as 'status' | 'pause' | 'resume') };
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new ControlSocketError(`--control-socket ${path}: cannot listen: ${e.code ?? e.message}`)));
    server.listen(path, () => resolve());
  });
  // Later errors (none are expected on a listening unix socket) must not crash the frontend.
  server.on('error', () => undefined);
  server.unref();
  const ours = lstatSync(path);
  return {
    attach: (h) => (helper = h),
    close: () => {
      server.close();
      if (sameFile(statOrUndefined(path), ours)) rmSync(path, { force: true });
    },
  };
}

/** Removes a socket at `path` that nobody listens on; refuses anything else there. */
async function clearStaleSocket(path: string): Promise<void> {
  const st = statOrUndefined(path);
  if (!st) return;
  if (!st.isSocket()) throw new ControlSocketError(`--control-socket ${path}: something that is not a socket is there; refusing to replace it`);
  const listening = await new Promise<boolean>((resolve, reject) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') resolve(false);
      else reject(new ControlSocketError(`--control-socket ${path}: cannot tell whether the socket there is in use: ${e.code ?? e.message}`));
    });
  });
  if (listening) throw new ControlSocketError(`--control-socket ${path}: another process is listening on this socket`);
  if (sameFile(statOrUndefined(path), st)) rmSync(path, { force: true });
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function sameFile(a: Stats | undefined, b: Stats): boolean {
  return a !== undefined && a.dev === b.dev && a.ino === b.ino;
}
