// The helper's in-process jail: the steps a node process takes, after the
// launcher has put it in fresh namespaces (jail-launch.ts), to shut itself in.
// Each step is a small function; enterJail() runs them in the only order that
// works (each needs privileges the next one takes away):
//
//   1. inspect   read what is needed from /proc while it is still there
//   2. pivot     private mounts, tmpfs root, optional read-only binds,
//                pivot_root, detach the old root, root remounted read-only
//   3. rlimits   open files, file size, core dumps (, processes)
//   4. bounding  drop the capability bounding set and ambient set (needs CAP_SETPCAP)
//   5. ids       real root only: setgroups([]), setresgid, setresuid (all threads),
//                then the parent-death signal again (the uid change clears it)
//   6. caps      capset(0): no effective/permitted/inheritable capabilities
//   7. dumpable  PR_SET_DUMPABLE 0 (no ptrace attach, no core, root-owned /proc/<pid>)
//   8. nnp       PR_SET_NO_NEW_PRIVS
//   9. seccomp   the compiled policy with SECCOMP_FILTER_FLAG_TSYNC (all threads)
//
// Every failure is a JailError whose message is one line a frontend can show.
import fs from 'node:fs';
import path from 'node:path';
import { EEXIST, errnoName, koffi } from '../../ffi/libc.js';
import * as sys from '../../ffi/sandbox.js';
import { encodeProgram, type SockFilter } from './bpf.js';
import { helperPolicy } from './helper-policy.js';
import { precompiledProgram } from './precompiled-filters.js';
import { compilePolicy, type SeccompMode } from './seccomp-compiler.js';
import type { SeccompPolicy } from './seccomp-policy.js';
import { isInitialNamespaceMap, parseIdMap } from './namespace-id-map.js';

export class JailError extends Error {
  constructor(
    readonly step: string,
    message: string,
    readonly errno?: number,
  ) {
    super(`${step} failed: ${message}`);
    this.name = 'JailError';
  }
}

function fail(step: string, call: string, explain: Record<string, string> = {}): never {
  const errno = koffi.errno();
  const name = errnoName(errno);
  const why = explain[name];
  throw new JailError(step, `${call}: ${name}${why ? ` — ${why}` : ''}`, errno);
}

// ---- 1. inspect -------------------------------------------------------------------------

export interface ProcessFacts {
  /** This process's pid in the host's pid namespace (what kernel audit logs show). */
  readonly hostPid: number;
  /** True in the initial user namespace (real root is real root). */
  readonly initialUserNamespace: boolean;
  readonly uid: number;
  readonly gid: number;
  /** Mount namespace ids of this process and of host pid 1, when readable. */
  readonly mountNamespace: string;
  readonly initMountNamespace?: string;
}

/** Reads, while /proc is still reachable, the facts later steps need. */
export function inspectProcess(): ProcessFacts {
  const read = (p: string) => {
    try {
      return fs.readlinkSync(p);
    } catch {
      return undefined;
    }
  };
  let initialUserNamespace = true;
  try {
    initialUserNamespace = isInitialNamespaceMap(parseIdMap(fs.readFileSync('/proc/self/uid_map', 'utf8')));
  } catch {
    // no /proc: assume the worst case for the checks below (treated as real root)
  }
  return {
    hostPid: Number(read('/proc/self') ?? process.pid),
    initialUserNamespace,
    uid: process.getuid!(),
    gid: process.getgid!(),
    mountNamespace: read('/proc/self/ns/mnt') ?? 'unknown',
    initMountNamespace: read('/proc/1/ns/mnt'),
  };
}

/** Refuses to touch mounts in the host's mount namespace (that would change the host). */
export function assertOwnMountNamespace(facts: ProcessFacts): void {
  if (facts.initMountNamespace !== undefined && facts.initMountNamespace === facts.mountNamespace) {
    throw new JailError(
      'mount namespace check',
      'the helper shares the mount namespace of host pid 1 — it was not launched through jail-launch (unshare --mount); refusing to pivot_root the host',
    );
  }
}

// ---- 2. pivot ---------------------------------------------------------------------------

export interface RootOptions {
  /**
   * Host paths to show read-only (nosuid, nodev) at the same path in the jail,
   * for Workers started after the jail that load modules from disk (their
   * code and node_modules). When any are given, the node binary
   * (process.execPath) is bound too: koffi's loader in each new Worker reads its
   * ELF header to choose between its glibc and musl builds, and without it
   * silently loads the musl build into this glibc process (measured).
   */
  readonly readOnlyBinds?: readonly string[];
  /**
   * Host directories to show writable (nosuid, nodev) at the same path in the
   * jail: the directories a virtio-9p share serves (`--share DIR`). Like
   * readOnlyBinds, any of them binds the node binary too.
   */
  readonly writableBinds?: readonly string[];
  /** An existing directory to mount the new root's tmpfs on before pivoting (default /tmp). */
  readonly stagingDir?: string;
}

/** A root holding shared directories (virtio-9p) at their own paths, read-only ones read-only, and nothing else. */
export function sharedDirectoryRoot(shares: readonly { path: string; readOnly: boolean }[]): RootOptions {
  return { readOnlyBinds: shares.filter((s) => s.readOnly).map((s) => s.path), writableBinds: shares.filter((s) => !s.readOnly).map((s) => s.path) };
}

const OLD_ROOT = '.old-root';

/**
 * Replaces the filesystem with an empty read-only tmpfs (plus `readOnlyBinds`):
 * mounts become private, a tmpfs is mounted on the staging dir, pivot_root
 * makes it "/" with the old root under /.old-root, binds are made from there,
 * the old root is detached (MNT_DETACH) and removed, "/" is remounted
 * read-only, and the cwd is "/".
 */
export function pivotToEmptyRoot(options: RootOptions = {}): void {
  const step = 'pivot_root';
  const staging = options.stagingDir ?? '/tmp';
  // Resolve symlinks now: after the pivot an absolute link would resolve inside the tmpfs.
  const readOnly = options.readOnlyBinds ?? [];
  const writable = options.writableBinds ?? [];
  const requested = [...readOnly.map((p) => ({ p, writable: false })), ...writable.map((p) => ({ p, writable: true }))];
  const binds = (requested.length > 0 ? [...requested, { p: process.execPath, writable: false }] : [])
    .map(({ p, writable }) => {
      try {
        const real = fs.realpathSync(p);
        return { real, isDir: fs.statSync(real).isDirectory(), writable };
      } catch {
        throw new JailError(step, `${writable ? 'writable' : 'read-only'} bind source ${p} does not exist`);
      }
    })
    // Outer directories first: a bind made inside another must not be hidden by it (a read-only share inside a writable one).
    .sort((a, b) => depth(a.real) - depth(b.real));

  if (sys.mount(null, '/', null, sys.MS_REC | sys.MS_PRIVATE, null) < 0) {
    fail(step, 'making mounts private', {
      EPERM: 'the helper is not in its own mount namespace (or lacks CAP_SYS_ADMIN there)',
      EACCES: 'the helper is not in its own mount namespace (or lacks CAP_SYS_ADMIN there)',
    });
  }
  if (binds.some((b) => b.real === '/')) return pivotToHostRoot(staging, binds);
  if (sys.mount('tmpfs', staging, 'tmpfs', sys.MS_NOSUID | sys.MS_NODEV | sys.MS_NOEXEC, 'size=64k,nr_inodes=256,mode=0755') < 0) {
    fail(step, `mounting tmpfs on ${staging}`, { ENOENT: `${staging} does not exist; pass stagingDir`, EPERM: 'not permitted in this mount namespace' });
  }
  if (sys.mkdir(path.join(staging, OLD_ROOT), 0o700) < 0) fail(step, 'mkdir old root');
  if (sys.pivotRoot(staging, path.join(staging, OLD_ROOT)) < 0) {
    fail(step, 'pivot_root', {
      EPERM: 'the helper is not in its own mount namespace',
      EINVAL: 'the current root cannot be pivoted (an initramfs rootfs, or a shared mount)',
      EBUSY: 'the staging directory is already a root',
    });
  }
  if (sys.chdir('/') < 0) fail(step, 'chdir /');

  for (const { real, isDir, writable } of binds) {
    makePath(real, isDir);
    if (sys.mount(`/${OLD_ROOT}${real}`, real, null, sys.MS_BIND | sys.MS_REC, null) < 0) fail(step, `bind ${real}`);
    remountBind(real, writable, real);
  }

  if (sys.umount2(`/${OLD_ROOT}`, sys.MNT_DETACH) < 0) fail(step, 'detaching the old root');
  if (sys.rmdir(`/${OLD_ROOT}`) < 0) fail(step, 'removing the old root mount point');
  const roRoot = sys.MS_REMOUNT | sys.MS_RDONLY | sys.MS_NOSUID | sys.MS_NODEV | sys.MS_NOEXEC;
  if (sys.mount(null, '/', null, roRoot, null) < 0) fail(step, 'remounting / read-only');
  if (sys.chdir('/') < 0) fail(step, 'chdir /');
}

/**
 * The jail's root when the host's "/" itself is shared (`tsvmm exec`): the
 * host's whole tree, read-only. Recursive, mounts below included: in a user
 * namespace the kernel refuses a bind that would leave out locked mounts
 * below it, and a working directory on another file system (a tmpfs /tmp)
 * must be there to be bound writable. The other binds are made on it at their
 * own paths, which exist there already. pivot_root(".", ".") stacks the old
 * root on the new one and the detach takes it away: no directory for the old
 * root is made in the host's file system.
 */
function pivotToHostRoot(staging: string, binds: readonly { real: string; isDir: boolean; writable: boolean }[]): void {
  const step = 'pivot_root';
  if (sys.mount('/', staging, null, sys.MS_BIND | sys.MS_REC, null) < 0) fail(step, "binding the host's /");
  for (const { real, writable } of binds) {
    if (real === '/') continue;
    // Bound onto itself inside the staged tree: the path on the old root may
    // lie under the staging directory, which the staged tree now hides (a
    // working directory in /tmp).
    const target = path.join(staging, real);
    if (sys.mount(target, target, null, sys.MS_BIND | sys.MS_REC, null) < 0) fail(step, `bind ${real}`);
    remountBind(target, writable, real);
  }
  if (sys.chdir(staging) < 0) fail(step, `chdir ${staging}`);
  if (sys.pivotRoot('.', '.') < 0) fail(step, 'pivot_root', { EINVAL: 'the current root cannot be pivoted (an initramfs rootfs, or a shared mount)' });
  if (sys.umount2('.', sys.MNT_DETACH) < 0) fail(step, 'detaching the old root');
  if (sys.chdir('/') < 0) fail(step, 'chdir /');
  remountBind('/', false, '/');
}

/** How many names deep a path is ("/" is 0). */
function depth(path: string): number {
  return path.split('/').filter(Boolean).length;
}

/** Remounts a bind nosuid,nodev and, unless `writable`, read-only. */
function remountBind(target: string, writable: boolean, what: string): void {
  const flags = sys.MS_REMOUNT | sys.MS_BIND | (writable ? 0 : sys.MS_RDONLY) | sys.MS_NOSUID | sys.MS_NODEV;
  // In a user namespace a remount must keep flags the source mount has locked
  // (typically noexec); retry with it rather than read the source's flags.
  if (sys.mount(null, target, null, flags, null) < 0 && sys.mount(null, target, null, flags | sys.MS_NOEXEC, null) < 0) {
    fail('pivot_root', `remount ${what} ${writable ? 'nosuid,nodev' : 'read-only'}`);
  }
}

/** mkdir -p inside the new root for a bind target (an empty file for a file bind). */
function makePath(target: string, isDir: boolean): void {
  const parts = target.split('/').filter(Boolean);
  let cur = '';
  parts.forEach((part, i) => {
    cur += '/' + part;
    const last = i === parts.length - 1;
    if (last && !isDir) {
      fs.closeSync(fs.openSync(cur, 'a'));
      return;
    }
    if (sys.mkdir(cur, 0o755) < 0 && koffi.errno() !== EEXIST) fail('pivot_root', `mkdir ${cur}`);
  });
}

// ---- 3. rlimits -------------------------------------------------------------------------

export interface ResourceLimits {
  /** RLIMIT_NOFILE (default 1024). Fds already open above it stay open. */
  readonly openFiles?: number;
  /**
   * RLIMIT_FSIZE in bytes (default 0). The kernel applies it to every write at
   * or past this offset in any regular file, not only to growth, and sends
   * SIGXFSZ (Node dies of it): a helper that writes to a disk image file must
   * get at least the size of its largest writable image.
   */
  readonly maxFileSize?: number | bigint;
  /** RLIMIT_CORE (default 0: no core dumps of guest memory). */
  readonly coreSize?: number;
  /**
   * RLIMIT_NPROC (default: unchanged). It counts every thread of the target
   * uid system-wide, so a low value breaks Worker creation unpredictably; the
   * seccomp policy already refuses fork and non-thread clones.
   */
  readonly processes?: number;
}

export function applyResourceLimits(limits: ResourceLimits = {}): void {
  const set = (resource: number, name: string, value: number | bigint) => {
    const rl = Buffer.alloc(16);
    rl.writeBigUInt64LE(BigInt(value), 0);
    rl.writeBigUInt64LE(BigInt(value), 8);
    if (sys.setrlimit(resource, rl) < 0) fail('setrlimit', `${name}=${value}`, { EPERM: 'raising a hard limit needs CAP_SYS_RESOURCE' });
  };
  set(sys.RLIMIT_NOFILE, 'RLIMIT_NOFILE', limits.openFiles ?? 1024);
  set(sys.RLIMIT_FSIZE, 'RLIMIT_FSIZE', limits.maxFileSize ?? 0);
  set(sys.RLIMIT_CORE, 'RLIMIT_CORE', limits.coreSize ?? 0);
  if (limits.processes !== undefined) set(sys.RLIMIT_NPROC, 'RLIMIT_NPROC', limits.processes);
}

// ---- 4-8. privileges --------------------------------------------------------------------

/** Drops every capability from the bounding set and clears the ambient set. */
export function dropCapabilityBoundingSet(): void {
  for (let cap = 0; cap < 64; cap++) {
    const inSet = sys.prctl(sys.PR_CAPBSET_READ, cap, 0, 0, 0);
    if (inSet < 0) break; // EINVAL: past the kernel's last capability
    if (inSet === 1 && sys.prctl(sys.PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      fail('capability bounding set', `PR_CAPBSET_DROP ${cap}`, { EPERM: 'needs CAP_SETPCAP: drop the bounding set before the uid' });
    }
  }
  if (sys.prctl(sys.PR_CAP_AMBIENT, sys.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) fail('capability bounding set', 'PR_CAP_AMBIENT_CLEAR_ALL');
}

export interface JailUser {
  readonly uid: number;
  readonly gid: number;
}

// <linux/prctl.h>; not yet in ffi/sandbox.ts (owned elsewhere): candidates to move there.
const PR_SET_PDEATHSIG = 1;
const PR_GET_PDEATHSIG = 2;

/**
 * setgroups([]), setresgid(gid×3), setresuid(uid×3) through glibc, which applies
 * them to every thread of the process. With PR_SET_KEEPCAPS off, leaving uid 0
 * also empties every thread's permitted and effective capabilities.
 *
 * The kernel clears the parent-death signal when the effective uid/gid
 * changes (commit_creds), which would silently undo `unshare --kill-child`:
 * killing unshare would no longer kill the helper (measured). The signal is
 * read before and set again after. A parent that dies in between (a few
 * syscalls) goes unnoticed: in its pid namespace the helper's getppid() is
 * always 0, so there is nothing to re-check.
 */
export function dropPrivileges(user: JailUser): void {
  const step = 'dropping uid/gid';
  if (user.uid === 0 || user.gid === 0) throw new JailError(step, 'the jail user must not be root (uid/gid 0)');
  const deathSignal = Buffer.alloc(4);
  if (sys.prctl(PR_GET_PDEATHSIG, koffi.address(deathSignal), 0, 0, 0) < 0) fail(step, 'PR_GET_PDEATHSIG');
  if (sys.prctl(sys.PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) fail(step, 'PR_SET_KEEPCAPS 0');
  if (sys.setgroups(0, null) < 0) fail(step, 'setgroups([])', { EPERM: 'not root in the initial user namespace' });
  if (sys.setresgid(user.gid, user.gid, user.gid) < 0) fail(step, `setresgid(${user.gid})`, { EINVAL: `gid ${user.gid} is not mapped in this user namespace` });
  if (sys.setresuid(user.uid, user.uid, user.uid) < 0) fail(step, `setresuid(${user.uid})`, { EINVAL: `uid ${user.uid} is not mapped in this user namespace`, EAGAIN: 'RLIMIT_NPROC of the target uid reached' });
  if (process.getuid!() !== user.uid || process.geteuid!() !== user.uid || process.getgid!() !== user.gid) {
    throw new JailError(step, `ids did not change (uid ${process.getuid!()}, gid ${process.getgid!()})`);
  }
  const signal = deathSignal.readInt32LE(0);
  if (signal !== 0 && sys.prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0) < 0) fail(step, `PR_SET_PDEATHSIG ${signal} (restoring unshare --kill-child)`);
}

/**
 * capset() with all sets empty. This acts on the calling thread only (the
 * kernel has no process-wide capset); see enterJail for what that means in a
 * user namespace.
 */
export function clearCapabilities(): void {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(sys.LINUX_CAPABILITY_VERSION_3, 0);
  const data = Buffer.alloc(24);
  if (sys.capset(header, data) < 0) fail('clearing capabilities', 'capset');
}

export function setNotDumpable(): void {
  if (sys.prctl(sys.PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) fail('PR_SET_DUMPABLE', 'prctl');
}

export function setNoNewPrivileges(): void {
  if (sys.prctl(sys.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail('PR_SET_NO_NEW_PRIVS', 'prctl');
}

// ---- 9. seccomp -------------------------------------------------------------------------

/**
 * Installs `program` for every thread of the process (SECCOMP_FILTER_FLAG_TSYNC).
 * Threads created later inherit the filter from their creator. TSYNC fails
 * when a thread already runs under a filter that is not an ancestor of ours.
 */
export function installSeccompFilter(program: readonly SockFilter[]): void {
  const step = 'seccomp';
  const r = sys.seccompSetModeFilter(sys.SECCOMP_FILTER_FLAG_TSYNC, encodeProgram(program));
  if (r > 0) throw new JailError(step, `thread ${r} runs under a different seccomp filter, TSYNC cannot cover it`);
  if (r < 0) {
    fail(step, `SECCOMP_SET_MODE_FILTER (${program.length} instructions)`, {
      EACCES: 'PR_SET_NO_NEW_PRIVS is not set and the helper lacks CAP_SYS_ADMIN',
      EINVAL: 'the kernel rejected the program or does not support seccomp filters/TSYNC',
      ENOMEM: 'too many filters or instructions installed on this process',
    });
  }
}

// ---- all together -----------------------------------------------------------------------

export interface JailOptions {
  /** 'kill' (default), 'log' (violations allowed and logged), or 'off' (no filter; debugging only). */
  readonly seccomp?: SeccompMode | 'off';
  /** The policy to compile (default: helperPolicy()). */
  readonly policy?: SeccompPolicy;
  /** Ids to drop to when running as real root (default 65534/65534, "nobody"). */
  readonly user?: JailUser;
  readonly limits?: ResourceLimits;
  readonly root?: RootOptions;
}

export interface JailReport {
  readonly hostPid: number;
  readonly userNamespace: boolean;
  readonly uid: number;
  readonly gid: number;
  readonly seccomp: SeccompMode | 'off';
  readonly policy?: string;
  readonly filterInstructions?: number;
}

/**
 * Runs every jail step in order. Call it once, from the main thread, after
 * every module the process will need is imported (the filesystem is gone
 * afterwards) and after the fds it needs are open (it can open none).
 *
 * Real root (initial user namespace): all threads drop to `user` and lose
 * every capability. Root in a user namespace (unprivileged launch): only uid 0
 * is mapped, so ids stay; the calling thread's capabilities are cleared but
 * threads that already exist keep theirs inside the user namespace — which
 * owns nothing but the helper's own empty namespaces, and every thread is
 * under the same seccomp filter (no mount, unshare, setns, ptrace, capset).
 */
export function enterJail(options: JailOptions = {}): JailReport {
  const mode = options.seccomp ?? 'kill';
  // Compile first: a policy error should surface before anything irreversible.
  const policy = options.policy ?? helperPolicy();
  const program = mode === 'off' ? undefined : (precompiledProgram(policy, mode) ?? compilePolicy(policy, mode));

  const facts = inspectProcess();
  assertOwnMountNamespace(facts);
  pivotToEmptyRoot(options.root);
  applyResourceLimits(options.limits);
  dropCapabilityBoundingSet();
  const realRoot = facts.initialUserNamespace && facts.uid === 0;
  if (realRoot) dropPrivileges(options.user ?? { uid: 65534, gid: 65534 });
  clearCapabilities();
  setNotDumpable();
  setNoNewPrivileges();
  if (program) installSeccompFilter(program);
  return {
    hostPid: facts.hostPid,
    userNamespace: !facts.initialUserNamespace,
    uid: process.getuid!(),
    gid: process.getgid!(),
    seccomp: mode,
    policy: program ? policy.name : undefined,
    filterInstructions: program?.length,
  };
}

