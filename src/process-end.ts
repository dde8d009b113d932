// The end of a tsvmm process whose work is done and whose output is written
// (stdout, stderr and the log are synchronous here; the helper's last
// message has gone out): _exit(2), as Firecracker ends its VMM. process.exit
// first emits 'exit', stops the platform's threads, runs the C++ exit
// handlers and destructors, and only then asks the kernel, which releases the
// VM, guest RAM, threads and descriptors either way: ~5 ms more natively,
// tens of ms in a nested L1, on the way to the command's exit status.
//
// Node writes a profile (--cpu-prof, --heap-prof, --prof) or V8 coverage
// (NODE_V8_COVERAGE) in its own exit: a process that collects one ends with
// process.exit, so that it does.
import { _exit } from '../ffi/libc.js';

const PROFILER_FLAGS = /--(cpu-prof|heap-prof|prof)\b/;

function collectsAtExit(): boolean {
  return process.env.NODE_V8_COVERAGE !== undefined || process.execArgv.some((flag) => PROFILER_FLAGS.test(flag)) || PROFILER_FLAGS.test(process.env.NODE_OPTIONS ?? '');
}

export function endProcess(status: number): never {
  if (collectsAtExit()) process.exit(status);
  _exit(status);
  throw new Error('_exit returned'); // it does not
}
