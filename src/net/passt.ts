// `--net user`: rootless user-mode networking by passt (Debian package
// `passt`). The frontend starts it outside the jail, connected to the NIC by
// a socketpair (`passt --fd`, QEMU's stream framing: src/net/stream-backend.ts);
// the NIC's end goes to whoever serves the device. passt answers the guest's
// DHCP, DNS and ARP itself, carries its TCP/UDP through the host's sockets,
// maps the gateway address to the host's loopback, and forwards host ports
// to the guest (`-t`/`-u`). It quits when the NIC's end closes, so a VMM that
// dies leaves no passt behind.
//
// Which passt: $TSVMM_PASST, else the one `npm run passt` builds from Debian
// 13's source (tools/passt/build.sh), else the system's. Debian 12's own
// (0.0~git20230309) has --fd, -t/-u with HOSTPORT:GUESTPORT and ADDR/, and
// foreground mode, and carries the guest's own connections, but it dies
// (SIGSEGV) on the first connection to a forwarded port. passt wants a host
// interface with a default route to copy addresses from; without one it
// exits ("External interface not usable"), which is reported.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import { join } from 'node:path';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_STREAM, check, setNonBlocking, socketpair } from '../../ffi/libc.js';
import { tsvmmCacheDir } from '../cache-dir.js';
import { findProgram, isExecutable } from '../find-program.js';
import type { Logger } from '../log.js';
import type { PortForward } from './net-spec.js';

export class PasstError extends Error {
  override name = 'PasstError';
}

export interface PasstConnection {
  /** The NIC's end of the socketpair (non-blocking, close-on-exec). */
  readonly fd: number;
  readonly process: ChildProcess;
}

/** passt's options for the forwards: `-t [ADDR/]HOSTPORT:GUESTPORT`, `-u` likewise. */
export function passtArguments(forwards: readonly PortForward[]): string[] {
  return forwards.flatMap((f) => [f.protocol === 'tcp' ? '-t' : '-u', `${f.hostAddress ? `${f.hostAddress}/` : ''}${f.hostPort}:${f.guestPort}`]);
}

/** Starts passt for one NIC; what it prints goes to the log. */
export function startPasst(name: string, forwards: readonly PortForward[], log: Logger): PasstConnection {
  const passt = findPasst();
  if (!passt) throw new PasstError('--net user needs passt: `npm run passt` builds it (or install the Debian package passt)');
  if (passt.system && forwards.length > 0)
    log.warn({ net: name, passt: passt.path }, 'this passt may be Debian 12\'s, which crashes on forwarded connections: `npm run passt` builds one that does not');
  const sv = new Int32Array(2);
  check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) as number, 'socketpair');
  const [nicEnd, passtEnd] = [sv[0], sv[1]];
  let child: ChildProcess;
  try {
    setNonBlocking(nicEnd);
    // -f: stay in the foreground (ours to watch); -q: no banner; fd 3 is passt's end.
    const args = ['-f', '-q', '--fd', '3', ...passtArguments(forwards)];
    child = spawn(passt.path, args, { stdio: ['ignore', 'ignore', 'pipe', passtEnd] });
  } catch (e) {
    closeSync(nicEnd);
    throw e;
  } finally {
    closeSync(passtEnd);
  }
  const said: string[] = [];
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    // Debian's passt tries syslog first and says so on every line.
    for (const line of text.split('\n')) if (line && !NOISE.test(line)) said.push(line), log.debug({ net: name }, `passt: ${line}`);
    said.splice(0, Math.max(0, said.length - 5));
  });
  child.on('error', (e) => log.error({ net: name }, `passt could not start: ${e.message}`));
  child.on('exit', (code, signal) => {
    if (code === 0) return;
    const why = said.filter((l) => !/Changing to nobody/.test(l)).join('; ');
    log.error({ net: name, code, signal }, `passt for ${name} stopped (${signal ?? `status ${code}`})${why ? `: ${why}` : ''}`);
  });
  // The VMM ends when its guest does, not when passt does.
  child.unref();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  return { fd: nicEnd, process: child };
}

/** Lines passt prints that say nothing: Debian 12's tries syslog first; a build without its AVX2 twin says so. */
const NOISE = /^(Failed to send .* to syslog|Can't run AVX2 build, using non-AVX2 version.*)$/;

export function findPasst(): { path: string; system: boolean } | undefined {
  const chosen = process.env.TSVMM_PASST;
  if (chosen) {
    if (!isExecutable(chosen)) throw new PasstError(`TSVMM_PASST=${chosen} is not an executable file`);
    return { path: chosen, system: false };
  }
  const built = join(tsvmmCacheDir(), 'passt', 'passt');
  if (isExecutable(built)) return { path: built, system: false };
  const system = findProgram('passt');
  return system ? { path: system, system: true } : undefined;
}

