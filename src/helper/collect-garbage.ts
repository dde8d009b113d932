// A full garbage collection on demand, without starting node with
// --expose-gc: a V8 flag given at start makes V8 reject node's built-in code
// cache (entry-points.ts). The flag is set only while a fresh context is
// made, which then has gc(), and set back at once: V8's flag hash is its old
// value again for every later compilation. Flags are the process's: take the
// function before any other thread starts (a vCPU thread compiles node's
// modules as it starts). Node calls a flag change after start undefined; taken
// once the vCPU threads had started instead, 2 of 10 boots of a distribution
// kernel in the nested L1 triple-faulted (2026-12-05; cause not found).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's gc(), which collects all of the calling isolate's garbage. */
export function takeGcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as () => void;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}
