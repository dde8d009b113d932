// Giving a started tsvmm process (process-launch.ts) its descriptors: it
// gets duplicates, in order, over its descriptor socket (SCM_RIGHTS), and
// takes them by the names its configuration lists
// (sandbox/received-descriptors.ts).
import { MAX_DESCRIPTORS_PER_MESSAGE, sendDescriptors } from '../../ffi/descriptor-passing.js';
import { strerror } from '../../ffi/libc.js';
import { ProcessLaunchError, type HelperLaunch } from './process-launch.js';

/** Hands `what` (e.g. "the helper") `fds`; throws ProcessLaunchError when it has ended or the socket fails. */
export function handDescriptors(launch: Pick<HelperLaunch, 'descriptorSocketFd'>, fds: readonly number[], what: string): void {
  const socketFd = launch.descriptorSocketFd();
  if (socketFd === undefined) throw new ProcessLaunchError(`cannot hand ${what} its descriptors: it has already ended`);
  for (let at = 0; at < fds.length; at += MAX_DESCRIPTORS_PER_MESSAGE) {
    const r = sendDescriptors(socketFd, fds.slice(at, at + MAX_DESCRIPTORS_PER_MESSAGE));
    if (r < 0) throw new ProcessLaunchError(`cannot hand ${what} its descriptors: ${strerror(-r)}`);
  }
}
