// The VM's control socket (`tsvmm run --control-socket PATH`): a unix socket
// that takes one JSON command per line and answers one JSON line each:
//   {"command":"status"|"pause"|"resume"|"stop"}  →  {"ok":true,"state":"paused"}
// Malformed input gets {"ok":false,"error":"..."}; the VM is never affected.
import { createServer, type Server } from 'node:net';
import { rmSync } from 'node:fs';
import type { HelperProcess } from './helper-process.js';

const COMMANDS = new Set(['status', 'pause', 'resume', 'stop']);
const MAX_LINE = 4096;

export function serveControlSocket(path: string, helper: HelperProcess): Server {
  rmSync(path, { force: true });
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
    if (command === 'stop') {
      helper.stop();
      return { ok: true, state: 'stopping' };
    }
    return { ok: true, state: await helper.control(command as 'status' | 'pause' | 'resume') };
  };
  server.listen(path);
  server.unref();
  return server;
}
