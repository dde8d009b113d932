// A full garbage collection on demand, without starting node with
// --expose-gc: a V8 flag given at start makes V8 reject node's built-in code
// cache (entry-points.ts). The flag is set only while a fresh context is
// made, which then has gc(), and set back at once: V8's flag hash is its old
// value again for every later compilation. Flags are the process's, and
// V8 takes a code cache only under the flags it was made with: take the
// function once every thread has loaded its code (a vCPU thread compiles
// node's modules and ours as it starts).
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
