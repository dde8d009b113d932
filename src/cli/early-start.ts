// The frontend's first act: for `tsvmm run` and `tsvmm exec` the helper
// process starts now and loads its code alongside the frontend
// (process-launch.ts), and for `exec`, where each process can have a CPU of
// its own, so do the processes of its two shares (the host's tree and the
// working directory: device-processes.ts). The guess comes from the raw
// words; the parsed command line decides (takeEarlyHelper,
// takeEarlyDeviceProcesses): a process started for the wrong mode, or not
// needed, is discarded.
//
// Only with CPUs to spare: what starts early competes with the frontend's
// own start. In a 1-vCPU nested L1 a tiny guest's run took 0.8 s longer
// (medians of 5) with the helper's early start, and 0.7 s less with 2
// vCPUs. With 2 vCPUs, exec's share processes started early too served
// ~0.5 s sooner but slowed the helper and the frontend by as much: `exec --
// true` took 6.86 s against 6.66 s (medians of 6, BENCHMARKS.md
// "Start-up"; two processes then, one now). So exec's share process starts
// early only when the frontend, the helper and it have a CPU each.
//
// Earlier still, from the startup snapshot: bin/tsvmm has started the
// helper itself before this Node (launched-helper.ts), and this takes it,
// listening for it to connect; a process started by the launcher but not
// wanted, or not usable, is ended and, for the helper, one spawned instead.
//
// How early: bin/tsvmm.cjs runs this module as a bundle of its own
// (EARLY_START_BUNDLE in entry-points.ts), before it reads the CLI's bundle,
// checks its code cache (which loads koffi) and runs tsvmm's FFI
// declarations; then the CLI's bundle, whose main.ts imports it first, runs
// it again and takes what the first run started. So what it imports loads
// no native code, but for close-on-exec.ts, which the bundles defer until it
// is called (tools/build/bundle.ts), and which is called only when the
// frontend inherited a descriptor that must not follow the helper.
import { availableParallelism } from 'node:os';
import { markInheritedFdsCloseOnExec } from '../sandbox/close-on-exec.js';
import { openFds, strayFds } from '../sandbox/jail-launch.js';
import { discardLaunchedHelper, LAUNCHED_HELPER_ENV, LaunchedHelper, parseLaunchedHelper, type LaunchedHelperSpec } from './launched-helper.js';
import { launchDeviceProcess, launchHelper, type HelperLaunch, type ProcessLaunch } from './process-launch.js';
import { atProcessStart } from '../startup-snapshot.js';

/** Device processes `tsvmm exec` always has: the one serving its two shares (exec-command.ts). */
export const EXEC_DEVICE_PROCESSES = 1;

/**
 * Whether exec's share process starts early: TSVMM_EARLY_DEVICES=1 or 0
 * says so (for measuring it), else when the CPUs are enough for the
 * frontend, the helper and each of them.
 */
export function startsDeviceProcessesEarly(env: NodeJS.ProcessEnv = process.env, cpus = availableParallelism()): boolean {
  const forced = env.TSVMM_EARLY_DEVICES;
  return forced === '1' || (forced !== '0' && cpus >= 2 + EXEC_DEVICE_PROCESSES);
}

/** The words before `--` (after it come the guest's, which may say anything). */
function ownWords(argv: readonly string[]): readonly string[] {
  const end = argv.indexOf('--');
  return end < 0 ? argv : argv.slice(0, end);
}

interface Started {
  helper: HelperLaunch | undefined;
  deviceProcesses: ProcessLaunch[];
  /** What the early start did, for the debug log (earlyStartReport). */
  report: EarlyStartReport;
}

/** What the early start did: which processes it started and what it marked close-on-exec, or why it started none. */
export type EarlyStartReport =
  | {
      started: { helper: number | undefined; deviceProcesses: (number | undefined)[] };
      markedCloseOnExec: readonly number[];
      /** The helper bin/tsvmm started before this Node: taken, or why not (then one was spawned). */
      launcherHelper?: 'taken' | string;
    }
  | { skipped: string }
  | { failed: string };

function startEarly(): Started {
  // bin/tsvmm may have started the helper already (launched-helper.ts); no child of this frontend's may see the variable.
  const launched = parseLaunchedHelper(process.env[LAUNCHED_HELPER_ENV]);
  delete process.env[LAUNCHED_HELPER_ENV];
  const none = (report: EarlyStartReport): Started => {
    if (launched) discardLaunchedHelper(launched);
    return { helper: undefined, deviceProcesses: [], report };
  };
  // For measuring what the early start buys (BENCHMARKS.md, "Start-up"); `1` starts it even on one CPU (for tests).
  if (process.env.TSVMM_EARLY_HELPER === '0') return none({ skipped: 'TSVMM_EARLY_HELPER=0' });
  if (availableParallelism() < 2 && process.env.TSVMM_EARLY_HELPER !== '1') return none({ skipped: 'one CPU' });
  const words = ownWords(process.argv.slice(2));
  if ((words[0] !== 'run' && words[0] !== 'exec') || words.some((w) => w === '--help' || w === '-h' || w === '--version'))
    return none({ skipped: 'no VM to run' });
  const sandbox = !words.includes('--no-sandbox');
  const started: Started = { helper: undefined, deviceProcesses: [], report: { failed: 'not started' } };
  try {
    const stray = strayFds(openFds());
    const inherited = stray.length > 0 ? markInheritedFdsCloseOnExec(stray) : [];
    const fromLauncher = launched && takeLaunchedHelper(launched);
    started.helper = fromLauncher instanceof LaunchedHelper ? fromLauncher : launchHelper(sandbox, inherited);
    if (words[0] === 'exec' && startsDeviceProcessesEarly())
      for (let i = 0; i < EXEC_DEVICE_PROCESSES; i++) started.deviceProcesses.push(launchDeviceProcess(sandbox, inherited));
    started.report = {
      started: { helper: started.helper.pid, deviceProcesses: started.deviceProcesses.map((p) => p.child.pid) },
      markedCloseOnExec: inherited,
      ...(fromLauncher === undefined ? {} : { launcherHelper: fromLauncher instanceof LaunchedHelper ? 'taken' : fromLauncher }),
    };
  } catch (e) {
    // Started again once the command line is known, and its error reported then.
    started.report = { failed: (e as Error).message };
  }
  return started;
}

/** The helper the launcher started, listened for; or, when it cannot be (it is ended then), why not. */
function takeLaunchedHelper(spec: LaunchedHelperSpec): LaunchedHelper | string {
  try {
    return new LaunchedHelper(spec);
  } catch (e) {
    discardLaunchedHelper(spec);
    return (e as Error).message;
  }
}

/** Where the first run of this module leaves what it started, for the CLI's bundle. */
const STARTED = Symbol.for('tsvmm.early-start');
let started!: Started;
// As the process starts: from the CLI's startup snapshot, before koffi's binding, which a native call here makes at once (ffi/deferred-koffi.ts).
atProcessStart(() => (started = (globalThis as unknown as Record<symbol, Started | undefined>)[STARTED] ??= startEarly()));

/** What the early start did (the command's debug log says it: a failed one costs the VM's start its head start). */
export function earlyStartReport(): EarlyStartReport {
  return started.report;
}

/** The helper started early, if it was started for this mode; otherwise none (and an unsuitable one is ended). */
export function takeEarlyHelper(sandbox: boolean): HelperLaunch | undefined {
  const launch = started.helper;
  started.helper = undefined;
  if (launch && launch.sandbox !== sandbox) {
    launch.discard();
    return undefined;
  }
  return launch;
}

/** The device processes started early for this mode (possibly none; unsuitable ones are ended). The caller discards what it does not use. */
export function takeEarlyDeviceProcesses(sandbox: boolean): ProcessLaunch[] {
  const launches = started.deviceProcesses;
  started.deviceProcesses = [];
  const unsuitable = launches.filter((l) => l.sandbox !== sandbox);
  unsuitable.forEach((l) => l.discard());
  return launches.filter((l) => l.sandbox === sandbox);
}
