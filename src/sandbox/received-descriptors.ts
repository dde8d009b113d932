// In the helper and the device processes: their descriptors, as the
// frontend sent them over the descriptor socket (SCM_RIGHTS,
// src/cli/hand-descriptors.ts) before 'start'.
import { receiveDescriptors, MAX_DESCRIPTORS_PER_MESSAGE } from '../../ffi/descriptor-passing.js';
import { close, EAGAIN, EINTR, POLLIN, poll, strerror } from '../../ffi/libc.js';

/** Receives one descriptor per name, in order, then closes the socket. Throws on a short or malformed hand-over. */
export function receiveNamedDescriptors(socketFd: number, names: readonly string[]): Record<string, number> {
  const fds: number[] = [];
  const pollFd = Buffer.alloc(8);
  try {
    while (fds.length < names.length) {
      const got = receiveDescriptors(socketFd, Math.min(MAX_DESCRIPTORS_PER_MESSAGE, names.length - fds.length));
      if (got === -EINTR) continue;
      if (got === -EAGAIN) {
        // The socket may be non-blocking: the frontend sent before 'start', so this waits briefly at most.
        pollFd.writeInt32LE(socketFd, 0);
        pollFd.writeInt16LE(POLLIN, 4);
        poll(pollFd, 1, 1000);
        continue;
      }
      if (typeof got === 'number') throw new Error(`receiving descriptors from the frontend: ${strerror(-got)}`);
      fds.push(...got);
    }
  } catch (e) {
    fds.forEach((fd) => close(fd));
    throw e;
  } finally {
    close(socketFd);
  }
  return Object.fromEntries(names.map((name, i) => [name, fds[i]]));
}
