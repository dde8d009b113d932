// A pipe for tests: [read end, write end], close-on-exec, non-blocking if asked.
import { O_CLOEXEC, O_NONBLOCK, check, pipe2 } from '../../ffi/libc.js';

export function openPipe(options: { nonBlocking?: boolean } = {}): [readEnd: number, writeEnd: number] {
  const fds = new Int32Array(2);
  check(pipe2(fds, O_CLOEXEC | (options.nonBlocking ? O_NONBLOCK : 0)) as number, 'pipe2');
  return [fds[0], fds[1]];
}
