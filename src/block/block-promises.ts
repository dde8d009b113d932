// Promise wrappers over the callback block API, for tests, tools and
// start-up code (each call allocates a small completion object; device
// models use the callback API directly).
import type { IoVecList } from '../memory/dma-iovec.js';
import type { BlockBackend, BlockCompletion } from './block-backend.js';

class OneShot implements BlockCompletion {
  constructor(private readonly resolve: (r: number) => void) {}
  blockComplete(_tag: number, result: number): void {
    this.resolve(result);
  }
}

function run(start: (done: BlockCompletion) => void): Promise<number> {
  return new Promise<number>((resolve) => start(new OneShot(resolve)));
}

/** Resolves with bytes read or -errno (never rejects). */
export function readv(b: BlockBackend, offset: number, iov: IoVecList): Promise<number> {
  return run((d) => b.readv(offset, iov, d, 0));
}
export function writev(b: BlockBackend, offset: number, iov: IoVecList): Promise<number> {
  return run((d) => b.writev(offset, iov, d, 0));
}
export function flush(b: BlockBackend): Promise<number> {
  return run((d) => b.flush(d, 0));
}
export function discard(b: BlockBackend, offset: number, length: number): Promise<number> {
  return run((d) => b.discard(offset, length, d, 0));
}
export function writeZeroes(b: BlockBackend, offset: number, length: number): Promise<number> {
  return run((d) => b.writeZeroes(offset, length, d, 0));
}
