// The one error type the boot loader throws. Everything that can go wrong
// while reading a kernel image, decompressing it or laying it out in guest
// memory ends up here with a message that says what and where; a malformed
// image never surfaces as a RangeError or a crash.

export class BootError extends Error {
  override name = 'BootError';
}

/** Runs `fn`, turning any non-BootError exception into a BootError prefixed with `context`. */
export function asBootError<T>(context: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BootError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new BootError(`${context}: ${message}`, { cause: err });
  }
}

export { hex } from '../hex.js';
