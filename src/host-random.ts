// Random bytes straight from the kernel (getrandom(2)). node:crypto would do
// the same, but loading it costs every process ~5 ms of its start natively
// and ~0.1 s in the nested L1, and tsvmm needs nothing else from it.
import { EINTR, errnoName, getrandom, koffi } from '../ffi/libc.js';

/** Fills `into` with random bytes from the kernel's pool (blocks only before it is initialised at boot). */
export function fillRandom(into: Uint8Array): void {
  for (let done = 0; done < into.length; ) {
    const n = getrandom(into.subarray(done), into.length - done, 0) as number;
    if (n > 0) done += n;
    else if (n < 0 && koffi.errno() !== EINTR) throw new Error(`getrandom failed: ${errnoName(koffi.errno())}`);
  }
}

/** `bytes` random bytes as hex. */
export function randomHex(bytes: number): string {
  const b = new Uint8Array(bytes);
  fillRandom(b);
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}
