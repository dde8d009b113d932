// The end of a tsvmm process whose work is done and whose output is written
// (stdout, stderr and the log are synchronous here; the helper's last
// message has gone out): _exit(2), as Firecracker ends its VMM. process.exit
// first emits 'exit', stops the platform's threads, runs the C++ exit
// handlers and destructors, and only then asks the kernel, which releases the
// VM, guest RAM, threads and descriptors either way: ~5 ms more natively,
// tens of ms in a nested L1, on the way to the command's exit status.
import { _exit } from '../ffi/libc.js';

export function endProcess(status: number): never {
  _exit(status);
  throw new Error('_exit returned'); // it does not
}
