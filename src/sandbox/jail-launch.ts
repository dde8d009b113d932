// How the frontend starts the helper inside fresh namespaces.
//
// Node runs several threads before the first line of JavaScript, and the
// kernel refuses unshare(CLONE_NEWUSER) to a multi-threaded process (and
// CLONE_NEWNS/CLONE_NEWPID only make sense before the threads exist), so the
// namespaces are made by util-linux `unshare` before node starts:
//
//   unshare --mount --pid --fork --kill-child --net --ipc --uts --cgroup \
//           [--user --map-root-user] -- node [node args] helper.js [args]
//
// --mount    own mount table (unshare makes it private); the helper pivots into an empty tmpfs
// --pid      the helper is pid 1 of an empty pid namespace: no other process to signal or see
// --fork     required by --pid: the namespace's first process is unshare's child
// --kill-child  the helper gets SIGKILL if unshare dies (the frontend killed it)
// --net      only a (down) loopback interface: no network at all
// --ipc, --uts, --cgroup  no System V IPC, hostname or cgroup paths shared with the host
// --user --map-root-user  only when the frontend is not root: an unprivileged user
//            namespace in which the helper is root (uid 0 inside = the user outside),
//            which is what makes the other namespaces and pivot_root possible
//
// Descriptors can reach the child through spawn's stdio array (`fds`):
// unshare execs node without closing them. tsvmm's own processes take theirs
// later, over a socket passed that way (src/cli/process-launch.ts). Exit
// status and death signal come back through unshare, which re-raises the
// helper's fatal signal on itself (SIGSYS stays SIGSYS).
//
// Only those descriptors, and only the environment the caller lists, may reach
// the helper and the device processes (security audit, issue 11):
//
// * Stray descriptors. libuv's spawn dup2()s the stdio entries into place and
//   closes nothing else in the child: it relies on every other descriptor
//   being close-on-exec. Node's own are (libuv opens everything O_CLOEXEC), but
//   a descriptor the frontend *inherited* is not: `bash -c 'exec 200</etc/shadow;
//   exec tsvmm run ...'` hands fd 200 to node, node to unshare, unshare to the
//   helper, and the jailed process could read() it (checked empirically with
//   node 20: fds 200 and 50 went through; a few low ones did not, by luck of
//   what node's start-up does with them). Two fixes, one on each side:
//   markInheritedFdsCloseOnExec() in the frontend before each spawn
//   (close-on-exec.ts), and closeStrayFds() (close-stray-fds.ts) in the
//   child before it jails itself. close_range(3, ~0U) cannot be used in the
//   child: node's event loop (epoll, eventfds, signal pipes) and the IPC
//   channel already live there, at unpredictable numbers.
//   What tells them apart is the flag itself: everything node opened is
//   close-on-exec, and a descriptor without the flag at that point came
//   through exec, so it is either one the launch listed or a stray. The flags
//   are read from /proc, so this file loads no native code: the frontend
//   starts the helper before koffi has loaded (cli/early-start.ts); marking a
//   descriptor takes fcntl (close-on-exec.ts).
// * Environment. The children get buildJailLaunch's env (what the caller
//   names) plus TSVMM_HELPER_FDS for `fds`, never process.env: the user's secrets, and
//   NODE_OPTIONS (--require would run code in the helper), stay outside.
import { spawnSync, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const DEFAULT_UNSHARE = '/usr/bin/unshare';
/** Environment variable carrying `name=fd,...` to the helper. */
export const HELPER_FDS_ENV = 'TSVMM_HELPER_FDS';

type StdioEntry = 'pipe' | 'inherit' | 'ignore' | 'ipc' | number;

export interface JailLaunchOptions {
  /** The helper's entry script (absolute path); none when nodeArgs name what to run (a startup snapshot, or the script itself). */
  readonly script?: string;
  readonly scriptArgs?: readonly string[];
  /** Default: the running node (process.execPath). */
  readonly nodePath?: string;
  readonly nodeArgs?: readonly string[];
  /** Create a user namespace (default: only when the frontend is not root). */
  readonly userNamespace?: boolean;
  /** Default: /usr/bin/unshare, else `unshare` on PATH. */
  readonly unsharePath?: string;
  /** Descriptors for the helper by name (frontend fd numbers); they become fds 3, 4, ... */
  readonly fds?: Readonly<Record<string, number>>;
  /** The helper's fds 0-2 (default: pipe, pipe, inherit). 'ipc' on one of them is allowed by Node only at index ≥ 3. */
  readonly stdio?: readonly [StdioEntry, StdioEntry, StdioEntry];
  /** Extra stdio entries after the named fds, e.g. 'ipc' for process.send(). */
  readonly extraStdio?: readonly StdioEntry[];
  /** The child's whole environment, besides TSVMM_HELPER_FDS (default: empty; never process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

export interface JailLaunch {
  readonly command: string;
  readonly args: string[];
  readonly stdio: StdioOptions;
  readonly env: NodeJS.ProcessEnv;
  /** The fd number each named descriptor has in the helper. */
  readonly childFds: Readonly<Record<string, number>>;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export function findUnshare(explicit?: string): string | undefined {
  if (explicit) return explicit;
  if (fs.existsSync(DEFAULT_UNSHARE)) return DEFAULT_UNSHARE;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = path.join(dir || '.', 'unshare');
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** The unshare(1) options for the helper's namespaces. */
export function namespaceFlags(userNamespace: boolean): string[] {
  const flags = ['--mount', '--pid', '--fork', '--kill-child', '--net', '--ipc', '--uts', '--cgroup'];
  if (userNamespace) flags.push('--user', '--map-root-user');
  return flags;
}

/** The command, argv, stdio and env for child_process.spawn() of a jailed helper. */
export function buildJailLaunch(options: JailLaunchOptions): JailLaunch {
  const unshare = findUnshare(options.unsharePath);
  if (!unshare) throw new Error('cannot jail the helper: util-linux `unshare` not found (install util-linux, or run with --no-sandbox)');
  const userNamespace = options.userNamespace ?? !isRoot();
  const named = Object.entries(options.fds ?? {});
  const childFds: Record<string, number> = {};
  named.forEach(([name], i) => {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`helper fd name "${name}" must be [A-Za-z0-9_.-]`);
    childFds[name] = 3 + i;
  });
  const stdio: StdioEntry[] = [...(options.stdio ?? ['pipe', 'pipe', 'inherit']), ...named.map(([, fd]) => fd), ...(options.extraStdio ?? [])];
  return {
    command: unshare,
    args: [
      ...namespaceFlags(userNamespace),
      '--',
      options.nodePath ?? process.execPath,
      ...(options.nodeArgs ?? []),
      ...(options.script === undefined ? [] : [options.script]),
      ...(options.scriptArgs ?? []),
    ],
    stdio,
    env: named.length ? { ...options.env, [HELPER_FDS_ENV]: Object.entries(childFds).map(([n, fd]) => `${n}=${fd}`).join(',') } : { ...options.env },
    childFds,
  };
}

/** In the helper: the named descriptors the frontend passed (from TSVMM_HELPER_FDS). */
export function helperFds(env: NodeJS.ProcessEnv = process.env): Record<string, number> {
  const out: Record<string, number> = {};
  for (const pair of (env[HELPER_FDS_ENV] ?? '').split(',').filter(Boolean)) {
    const [name, fd] = pair.split('=');
    if (!name || !/^\d+$/.test(fd ?? '')) throw new Error(`malformed ${HELPER_FDS_ENV} entry "${pair}"`);
    out[name] = Number(fd);
  }
  return out;
}

/**
 * The variables of `from` named in `names` (those set), for a child's
 * environment: an allow-list, so that nothing else of the user's reaches it.
 */
export function pickEnvironment(names: readonly string[], from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = from[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** One open descriptor of this process, and whether it is close-on-exec. */
export interface OpenFd {
  readonly fd: number;
  readonly cloexec: boolean;
}

/**
 * The descriptors that exec would pass on although nobody listed them: above
 * stdio (0-2), not close-on-exec, and not in `keep`.
 */
export function strayFds(open: readonly OpenFd[], keep: Iterable<number> = []): number[] {
  const kept = new Set(keep);
  return open.filter(({ fd, cloexec }) => fd > 2 && !cloexec && !kept.has(fd)).map(({ fd }) => fd);
}

/** O_CLOEXEC, which /proc/PID/fdinfo's `flags` carries for a close-on-exec descriptor (octal there). */
const O_CLOEXEC = 0o2000000;

/** Room for an fdinfo's first lines: `pos:` and `flags:` come first (an eventfd's or epoll's lines follow). */
const FDINFO_HEAD = 128;

/**
 * This process's open descriptors, from /proc/self/fd and each one's fdinfo
 * (the listing's own fd, closed by then, drops out; so does one another
 * thread closes meanwhile). It runs before the helper's spawn, on the
 * frontend's way to the guest: three system calls per descriptor into one
 * buffer, not readFileSync's five and a string each (natively ~1.3 ms for
 * a fresh node's ~19 descriptors against ~2.7).
 */
export function openFds(): OpenFd[] {
  const out: OpenFd[] = [];
  const head = Buffer.allocUnsafe(FDINFO_HEAD);
  for (const name of fs.readdirSync('/proc/self/fd')) {
    let length: number;
    try {
      const info = fs.openSync(`/proc/self/fdinfo/${name}`, 'r');
      try {
        length = fs.readSync(info, head, 0, FDINFO_HEAD, null);
      } finally {
        fs.closeSync(info);
      }
    } catch {
      continue;
    }
    const flags = /^flags:\s*([0-7]+)$/m.exec(head.toString('latin1', 0, length));
    if (flags) out.push({ fd: Number(name), cloexec: (parseInt(flags[1], 8) & O_CLOEXEC) !== 0 });
  }
  return out;
}

export type JailSupport = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * Tries the namespaces for real: runs `unshare <flags> -- node -e 0` and, when
 * that fails, says why in one line (sysctls that disable user namespaces,
 * AppArmor's restriction, a missing unshare, no permission).
 */
export function checkJailSupport(options: { userNamespace?: boolean; unsharePath?: string; nodePath?: string } = {}): JailSupport {
  const unshare = findUnshare(options.unsharePath);
  if (!unshare) return { ok: false, reason: 'util-linux `unshare` not found; install util-linux or run with --no-sandbox' };
  const userNamespace = options.userNamespace ?? !isRoot();
  const r = spawnSync(unshare, [...namespaceFlags(userNamespace), '--', options.nodePath ?? process.execPath, '-e', '0'], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  if (r.status === 0) return { ok: true };
  const said = `${r.error?.message ?? ''} ${r.stderr ?? ''}`.trim().split('\n')[0];
  return { ok: false, reason: `${said || `unshare exited with ${r.status ?? r.signal}`}${hostHint(userNamespace)}` };
}

function readSysctl(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function hostHint(userNamespace: boolean): string {
  if (!userNamespace) return ' — creating mount/pid/net namespaces needs root (or run the frontend unprivileged to use a user namespace)';
  if (readSysctl('/proc/sys/user/max_user_namespaces') === '0') return ' — user namespaces are disabled: sysctl user.max_user_namespaces=0';
  if (readSysctl('/proc/sys/kernel/unprivileged_userns_clone') === '0') return ' — unprivileged user namespaces are disabled: sysctl kernel.unprivileged_userns_clone=1 enables them';
  if (readSysctl('/proc/sys/kernel/apparmor_restrict_unprivileged_userns') === '1') {
    return ' — AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1): add an AppArmor profile for node/unshare or run as root';
  }
  return ' — the host does not allow this process to create the namespaces (container seccomp/LSM policy?)';
}

/** The pids of `pid`'s children (to find the helper under unshare --fork). Empty when unknown. */
export function childPids(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}
