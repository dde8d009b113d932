// A helper or device process, before anything else opens a descriptor and
// before the jail, closes every descriptor that came through exec but was not
// handed over on purpose. Node's own descriptors are close-on-exec and stay.
//
// One fcntl(F_GETFD) per descriptor: reading each one's /proc/self/fdinfo
// (open, read, close, a regular expression: jail-launch.ts openFds, which
// the frontend's early start uses because it loads no native code) took
// 50-90 ms of the helper's start in the nested L1, on the way to the guest's
// first instruction.
import fs from 'node:fs';
import { F_GETFD, FD_CLOEXEC, fcntl } from '../../ffi/libc.js';

/** Closes the inherited descriptors above stdio that are neither close-on-exec, nor in `keep`, nor the IPC channel; returns them. */
export function closeStrayFds(keep: Iterable<number>): number[] {
  const kept = new Set(keep);
  const channelFd = (process.channel as { fd?: number } | undefined)?.fd;
  if (channelFd !== undefined && channelFd >= 0) kept.add(channelFd);
  const profiling = writesPerfFiles(process.execArgv);
  const stray: number[] = [];
  for (const name of fs.readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd <= 2 || kept.has(fd)) continue;
    // -1: gone since the listing (the listing's own descriptor, or another thread's).
    const flags = fcntl(fd, F_GETFD, 0) as number;
    if (flags >= 0 && (flags & FD_CLOEXEC) === 0 && !(profiling && isPerfFile(fd))) stray.push(fd);
  }
  for (const fd of stray) fs.closeSync(fd);
  return stray;
}

/**
 * V8 started with --perf-basic-prof or --perf-prof (TSVMM_HELPER_NODE_ARGS)
 * has already opened its map or dump file for perf, without close-on-exec.
 * Closed, V8 would go on writing to whatever took the number next: in the
 * nested L1 that ended the helper with SIGSEGV once the guest ran.
 */
function writesPerfFiles(execArgv: readonly string[]): boolean {
  return execArgv.some((a) => a.startsWith('--perf-basic-prof') || a.startsWith('--perf-prof'));
}

/** V8's perf files: /tmp/perf-PID.map (--perf-basic-prof), jit-PID.dump (--perf-prof). */
function isPerfFile(fd: number): boolean {
  let target: string;
  try {
    target = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return false;
  }
  return target.endsWith(`/perf-${process.pid}.map`) || target.endsWith(`/jit-${process.pid}.dump`);
}
