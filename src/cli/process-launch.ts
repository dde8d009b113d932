// Starting tsvmm's own processes: the helper and the device processes.
// Node's start-up and their code take ~100 ms natively and over a second in
// a nested L1, and need nothing of the VM: the frontend starts them before
// it knows the VM (for `run` and `exec` as its first act, early-start.ts),
// while its own code loads and it parses the command line and opens the
// files. Their descriptors follow over a socket of their own (SCM_RIGHTS:
// Node's IPC cannot carry files, /dev/kvm or memfds; hand-descriptors.ts),
// their configuration over the IPC channel. Nothing here loads native code
// (koffi): the early start comes before that.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { FrontendMessage, HelperMessage } from '../helper/helper-protocol.js';
import { join } from 'node:path';
import { tsvmmCacheDir } from '../cache-dir.js';
import { entryPointArgs } from '../entry-points.js';
import { DESCRIPTOR_SOCKET_FD } from '../sandbox/descriptor-socket.js';
import { buildJailLaunch, pickEnvironment, type JailLaunchOptions } from '../sandbox/jail-launch.js';

/**
 * Flags TSVMM_HELPER_NODE_ARGS and TSVMM_DEVICE_NODE_ARGS may add:
 * profiling, tracing and the V8 heap and thread settings. Nothing that loads code (`--require`, `--import`,
 * loaders): tsvmm's processes run only tsvmm's own.
 */
const PROFILING_FLAG_PREFIXES = ['--cpu-prof', '--heap-prof', '--prof', '--perf-', '--trace-', '--max-semi-space-size=', '--max-old-space-size=', '--single-threaded'];

/**
 * The helper's Node flags: none of its own (entry-points.ts says why), only
 * any in TSVMM_HELPER_NODE_ARGS (space-separated; for profiling the helper,
 * e.g. `--cpu-prof --cpu-prof-dir=DIR` with --no-sandbox, or
 * `--perf-basic-prof`). The user's NODE_OPTIONS never reach it
 * (jail-launch.ts); this is the explicit way.
 */
export function helperNodeArgs(from: NodeJS.ProcessEnv = process.env): string[] {
  return extraNodeArgs(from, 'TSVMM_HELPER_NODE_ARGS');
}

/** The same for device processes (disks and shares in their own process), from TSVMM_DEVICE_NODE_ARGS. */
export function deviceProcessNodeArgs(from: NodeJS.ProcessEnv = process.env): string[] {
  return extraNodeArgs(from, 'TSVMM_DEVICE_NODE_ARGS');
}

function extraNodeArgs(from: NodeJS.ProcessEnv, variable: string): string[] {
  const extra = (from[variable] ?? '').split(' ').filter(Boolean);
  const refused = extra.find((flag) => !PROFILING_FLAG_PREFIXES.some((p) => flag.startsWith(p)));
  if (refused !== undefined)
    throw new ProcessLaunchError(`${variable}: ${refused} is not a flag tsvmm's processes take (allowed: ${PROFILING_FLAG_PREFIXES.join(' ')}...)`);
  return extra;
}

/**
 * glibc malloc with a fixed trim threshold (its default, 128 KiB). Left
 * dynamic, freeing the kernel image's buffer (an mmap'ed chunk of ~14 MiB)
 * raises the mmap threshold to that size and the trim threshold to twice it,
 * so every later allocation below 14 MiB stays in the arenas and freed memory
 * is not given back: ~4 MiB more resident for the whole run. Setting the
 * threshold turns the dynamic adjustment off. A value the user set wins.
 */
export const HELPER_MALLOC_TRIM_THRESHOLD = String(128 * 1024);
/**
 * Knobs for A/B measurements that the helper and the device processes take
 * from the user's environment: which loop the data path waits in
 * (bus/blocking-loop.ts; `libuv`), starting without the code caches
 * (tools/build/run-bundle.cjs), without the data-path warm-up
 * (devices/data-path-warm-up.ts), where a lone vCPU runs (helper/main.ts
 * `VCPU_THREAD`; `worker`) and the helper's first page release
 * (helper/early-release.ts; `0`). The device processes get nothing else of it.
 */
export const MEASUREMENT_KNOBS = ['TSVMM_DEVICE_LOOP', 'TSVMM_NO_CODE_CACHE', 'TSVMM_NO_WARM_UP', 'TSVMM_VCPU_THREAD', 'TSVMM_EARLY_PAGE_RELEASE'] as const;
/**
 * All of the user's environment the helper gets (jail-launch.ts: never the
 * whole of it): the sandbox tests' probe selector (src/helper/test-hooks.ts)
 * and the measurement knobs.
 */
export const HELPER_ENV_PASSED = ['TSVMM_TEST_HOOK', ...MEASUREMENT_KNOBS] as const;

/** The helper's whole environment. */
export function helperEnvironment(from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return {
    ...pickEnvironment(HELPER_ENV_PASSED, from),
    MALLOC_TRIM_THRESHOLD_: from.MALLOC_TRIM_THRESHOLD_ ?? HELPER_MALLOC_TRIM_THRESHOLD,
    // Where its bundle finds, or leaves, the user's code cache (tools/build/run-bundle.cjs).
    TSVMM_CODE_CACHE_DIR: join(tsvmmCacheDir(from), 'code-cache'),
  };
}

/** A tsvmm process could not be started or given its work. */
export class ProcessLaunchError extends Error {
  override name = 'ProcessLaunchError';
}

export interface ProcessEnd {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** It could not be started at all (e.g. no unshare). */
  readonly spawnError?: Error;
}

type Stdio = NonNullable<JailLaunchOptions['stdio']>;

/** A started helper as the frontend drives it once it has been given its work: a spawned ChildProcess, or the launcher's (launched-helper.ts). */
export interface HelperChild {
  readonly pid?: number;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly connected: boolean;
  send(message: FrontendMessage): boolean;
  kill(signal?: NodeJS.Signals): boolean;
  on(event: 'message', listener: (message: HelperMessage) => void): this;
}

/** A helper started before its VM is known, by the frontend (ProcessLaunch) or by the launcher before it (LaunchedHelper). */
export interface HelperLaunch {
  readonly sandbox: boolean;
  /** Descriptors the frontend inherited, kept from it (see ProcessLaunch). */
  readonly inheritedFds: readonly number[];
  /** When it was started (epoch ms). */
  readonly spawnedAt: number;
  readonly pid: number | undefined;
  /** Resolves when it has exited and its output is drained. */
  readonly ended: Promise<ProcessEnd>;
  /** True when it can be handed its descriptors now; else resolves true once it can, false if it ended (or was discarded) first. */
  connection(): true | Promise<boolean>;
  /** The frontend's end of its descriptor socket, or undefined once it has ended. */
  descriptorSocketFd(): number | undefined;
  /** It is the caller's now: it keeps tsvmm running until it ends. */
  adopt(): HelperChild;
  /** Ends it unused. */
  discard(): void;
  /** When connection() said false: why, for the debug log. */
  readonly whyNot?: string;
}

/**
 * A started tsvmm process that has not been given its work yet: its
 * descriptors come over the socket at its DESCRIPTOR_SOCKET_FD, then its
 * configuration over the IPC channel (the fd after it).
 */
export class ProcessLaunch implements HelperLaunch {
  readonly child: ChildProcess;
  /** When it was spawned (epoch ms). */
  readonly spawnedAt: number;
  /** Resolves when it has exited and its pipes are drained; seen even if that was before adoption. */
  readonly ended: Promise<ProcessEnd>;
  private readonly descriptorSocket: Socket;
  private adopted = false;
  private readonly killUnused = () => this.discard();

  /**
   * `sandbox`: inside fresh namespaces (jail-launch.ts), or a plain node for
   * --no-sandbox. The caller has marked close-on-exec the descriptors the
   * frontend inherited (`inheritedFds`; jail-launch.ts, "Stray
   * descriptors"), so that none follows.
   */
  constructor(
    readonly entry: 'helper' | 'device-process',
    readonly sandbox: boolean,
    readonly inheritedFds: readonly number[],
    how: { stdio: Stdio; nodeArgs: string[]; env: NodeJS.ProcessEnv },
  ) {
    const nodeArgs = entryPointArgs(entry, how.nodeArgs);
    const launch = buildJailLaunch({ nodeArgs, stdio: how.stdio, extraStdio: ['pipe', 'ipc'], env: how.env });
    // A stdio 'pipe' is a unix socketpair: the descriptor socket.
    if (launch.stdio.indexOf('ipc') !== DESCRIPTOR_SOCKET_FD + 1) throw new Error(`${entry} launch: the descriptor socket is not at its fd`);
    const [command, args] = sandbox ? [launch.command, launch.args] : [process.execPath, nodeArgs];
    this.spawnedAt = performance.timeOrigin + performance.now();
    this.child = spawn(command, args, { stdio: launch.stdio as StdioOptions, env: launch.env });
    this.ended = new Promise((resolve) => {
      let spawnError: Error | undefined;
      this.child.on('error', (e) => (spawnError = e));
      this.child.on('close', (code, signal) => resolve({ code, signal, spawnError }));
    });
    this.descriptorSocket = this.child.stdio[DESCRIPTOR_SOCKET_FD] as Socket;
    // Nothing is read from it; a process that dies closes it.
    this.descriptorSocket.on('error', () => {});
    // Until adopted it must not keep tsvmm alive: a bad command line ends tsvmm at once.
    this.setRef(false);
    process.once('exit', this.killUnused);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Spawned with its sockets: it can take its descriptors at once. */
  connection(): true {
    return true;
  }

  /** The frontend's end of the socket the process takes its descriptors from, or undefined once it has ended. */
  descriptorSocketFd(): number | undefined {
    const fd = (this.descriptorSocket as Socket & { _handle?: { fd?: number } })._handle?.fd;
    return fd === undefined || fd < 0 ? undefined : fd;
  }

  /** The process, now the caller's: it keeps tsvmm running until it ends. */
  adopt(): ChildProcess {
    this.adopted = true;
    process.off('exit', this.killUnused);
    this.setRef(true);
    this.descriptorSocket.destroy();
    return this.child;
  }

  /** Ends a process that will not be used (the command line turned out otherwise). */
  discard(): void {
    if (this.adopted) return;
    process.off('exit', this.killUnused);
    this.child.kill('SIGKILL');
  }

  private setRef(on: boolean): void {
    const handles = [this.child, this.child.channel, ...this.child.stdio] as ({ ref?: () => void; unref?: () => void } | null | undefined)[];
    for (const h of handles) (on ? h?.ref : h?.unref)?.call(h);
  }
}

/**
 * The helper: console input, console output and log on pipes the frontend
 * relays (it writes to no file, and so can run with RLIMIT_FSIZE at its
 * disks' size).
 */
export function launchHelper(sandbox: boolean, inheritedFds: readonly number[]): ProcessLaunch {
  return new ProcessLaunch('helper', sandbox, inheritedFds, { stdio: ['pipe', 'pipe', 'pipe'], nodeArgs: helperNodeArgs(), env: helperEnvironment() });
}

/** A device process (device-processes.ts): only its log, on a pipe. */
export function launchDeviceProcess(sandbox: boolean, inheritedFds: readonly number[]): ProcessLaunch {
  return new ProcessLaunch('device-process', sandbox, inheritedFds, {
    stdio: ['ignore', 'ignore', 'pipe'],
    nodeArgs: deviceProcessNodeArgs(),
    env: pickEnvironment(MEASUREMENT_KNOBS),
  });
}
