// A huge-page tmpfs for a caller that may not mount one (an ordinary user:
// shared-ram-file.ts says why guest RAM wants one). `unshare` makes a user
// namespace in which the caller is root, with a mount namespace of its own;
// a shell there mounts a tmpfs with huge=advise and opens a file on it. This
// process opens the same file through /proc/PID/fd (the shell is its own
// child, in a namespace its user owns), then lets the shell end. The tmpfs
// lives on while a descriptor of the file does; no path outside the shell's
// mount namespace, which ends with it, ever reached it.
//
// ~30 ms natively: the frontend starts it once the device plan asks for
// shared RAM and takes the file when it opens the VM's descriptors. Where
// the host refuses (no unprivileged user namespaces, AppArmor's restriction
// of their capabilities, no `unshare`), the answer says why.
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { findUnshare } from '../sandbox/jail-launch.js';

/** Long enough for a loaded machine; the shell's work is three system calls and an exec of mount(8). */
const TIMEOUT_MS = 10_000;

/**
 * Mounts the tmpfs over /tmp in the new mount namespace (which only the
 * shell sees), opens the file as fd 3, says so, and waits for stdin to close.
 */
function script(options: readonly [string, string][]): string {
  return `mount -t tmpfs -o ${options.map(([key, value]) => `${key}=${value}`).join(',')} tsvmm-guest-ram /tmp && exec 3<>/tmp/guest-ram && echo ready && read -r _`;
}

/**
 * A file on a tmpfs mounted with `options` (shared-ram-file.ts says which:
 * huge=advise among them) in a user namespace of its own (fd,
 * close-on-exec, empty), or why there is none.
 */
export function userNamespaceTmpfsFile(options: readonly [string, string][]): Promise<number | string> {
  const unshare = findUnshare();
  if (!unshare) return Promise.resolve('no util-linux unshare');
  return new Promise((resolve) => {
    let said = '';
    let done = false;
    const child = spawn(unshare, ['--user', '--map-root-user', '--mount', '--', '/bin/sh', '-c', script(options)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const finish = (answer: number | string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.stdin!.end(); // the shell's read returns: it ends, and its namespaces with it
      if (typeof answer === 'string') child.kill('SIGKILL');
      resolve(answer);
    };
    const timer = setTimeout(() => finish(`unshare gave no file within ${TIMEOUT_MS} ms`), TIMEOUT_MS);
    child.on('error', (e) => finish(`unshare: ${e.message}`));
    child.stderr!.on('data', (d: Buffer) => (said += d.toString()));
    child.stdout!.once('data', () => {
      try {
        finish(openSync(`/proc/${child.pid}/fd/3`, 'r+'));
      } catch (e) {
        finish(`opening the namespace's file: ${(e as Error).message}`);
      }
    });
    child.on('close', (code, signal) => finish(`${said.trim().split('\n').pop() || 'no reason given'} (unshare ended with ${code ?? signal})`));
    child.stdin!.on('error', () => {}); // the shell may be gone before stdin is closed
  });
}
