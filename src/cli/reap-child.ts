// Collecting the exit of a child libuv did not spawn (the helper the launcher
// started: launched-helper.ts), which libuv's own SIGCHLD handling leaves
// alone. Deferred in the bundles (tools/build/bundle.ts): the frontend's
// early start loads no native code.
import { constants } from 'node:os';
import { waitpid, WNOHANG } from '../../ffi/libc.js';

export interface ReapedChild {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** The child's exit if it has ended (and it is reaped now); undefined while it runs, or when it is not this process's child. */
export function reapChild(pid: number): ReapedChild | undefined {
  const status = new Int32Array(1);
  if ((waitpid(pid, status, WNOHANG) as number) !== pid) return undefined;
  const s = status[0];
  const termSignal = s & 0x7f;
  if (termSignal === 0) return { code: (s >> 8) & 0xff, signal: null };
  const name = Object.entries(constants.signals).find(([, n]) => n === termSignal)?.[0];
  return { code: null, signal: (name ?? 'SIGKILL') as NodeJS.Signals };
}
