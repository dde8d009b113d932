// The frontend's half of keeping inherited descriptors from its children
// (jail-launch.ts, "Stray descriptors"): it marks them close-on-exec.
import { F_SETFD, FD_CLOEXEC, fcntl } from '../../ffi/libc.js';
import { openFds, strayFds } from './jail-launch.js';

/**
 * In the frontend, before spawning a helper or device process: marks
 * close-on-exec every descriptor it inherited without the flag (`stray`,
 * when the caller has listed them already), so that spawn passes only its
 * stdio entries. The frontend keeps them open for itself. Returns the fds
 * it marked.
 */
export function markInheritedFdsCloseOnExec(stray: readonly number[] = strayFds(openFds())): readonly number[] {
  for (const fd of stray) fcntl(fd, F_SETFD, FD_CLOEXEC);
  return stray;
}
