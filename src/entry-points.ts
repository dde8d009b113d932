// The scripts tsvmm runs as processes and threads. `npm run build` bundles
// each into one file (tools/build/bundle.ts: Node's per-module loading cost
// is most of tsvmm's start-up) with a V8 code cache (tools/build/code-cache.ts);
// TSVMM_NO_BUNDLE=1 runs tsc's output instead (its source maps make stack
// traces readable).
//
// They run under no Node or V8 flag of their own. Any V8 flag changes V8's
// flag hash, and V8 then rejects node's built-in code cache: node compiles
// its own internal modules from source. With the helper's old `--expose-gc
// --max-semi-space-size=1`, a Worker's start took ~67 ms natively instead of
// ~45, and in the nested L1 a vCPU thread's start spent ~1.3 s of CPU on
// that compilation. The helper's gc() is taken at run time instead
// (helper/collect-garbage.ts). The profiling flags of TSVMM_HELPER_NODE_ARGS
// (cli/process-launch.ts) pay that price knowingly.
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from './project-root.js';

export type EntryPoint = 'tsvmm' | 'helper' | 'vcpu-worker' | 'device-process';

/** tsc's output for each entry point, relative to the project root: what the bundles are built from. */
export const COMPILED_ENTRY_POINTS: Readonly<Record<EntryPoint, string>> = {
  tsvmm: 'dist/src/cli/main.js',
  helper: 'dist/src/helper/main.js',
  'vcpu-worker': 'dist/src/vmm/vcpu-worker.js',
  'device-process': 'dist/src/device-process/main.js',
};

/**
 * A bundle that is no process or thread of its own: the CLI's first act, the
 * early start of the helper and device processes (cli/early-start.ts),
 * which bin/tsvmm.cjs loads before the CLI's own bundle. It has no code cache: checking one loads koffi
 * (tools/build/run-bundle.cjs), which is what it comes before.
 */
export const EARLY_START_BUNDLE = 'tsvmm-early';

/**
 * A bundle the helper's stub runs before the helper's own: it gives back
 * node's start-up pages before the big bundle's load touches more
 * (helper/early-release.ts). No code cache, as for the CLI's early start.
 */
export const HELPER_EARLY_BUNDLE = 'helper-early';

/** Every bundle `npm run build` makes, by what it is built from. */
export const COMPILED_BUNDLES: Readonly<Record<EntryPoint | typeof EARLY_START_BUNDLE | typeof HELPER_EARLY_BUNDLE, string>> = {
  ...COMPILED_ENTRY_POINTS,
  [EARLY_START_BUNDLE]: 'dist/src/cli/early-start.js',
  [HELPER_EARLY_BUNDLE]: 'dist/src/helper/early-release.js',
};
export type BundleName = keyof typeof COMPILED_BUNDLES;

/** A bundle whose stub runs another one first. */
export const BUNDLES_RUN_FIRST: Readonly<Partial<Record<BundleName, BundleName>>> = {
  helper: HELPER_EARLY_BUNDLE,
};

export const BUNDLE_DIR = join(PROJECT_ROOT, 'dist', 'bundle');

/** What runs a bundle: a stub that loads the code with its cache (tools/build/run-bundle.cjs). */
export function bundleFile(name: BundleName): string {
  return join(BUNDLE_DIR, `${name}.cjs`);
}

/** The bundled code itself. */
export function bundleCodeFile(name: BundleName): string {
  return join(BUNDLE_DIR, `${name}.code.cjs`);
}

/** The code cache the build made for it (tools/build/code-cache.ts). */
export function codeCacheFile(name: EntryPoint): string {
  return join(BUNDLE_DIR, `${name}.v8-cache`);
}

/**
 * The processes that start from a V8 startup snapshot of their bundle
 * (src/startup-snapshot.ts): the CLI when run as a program (bin/tsvmm), and
 * device processes. Not the helper: started from one, it held ~9 MiB more
 * through a guest's run (the blob Node keeps, a heap deserialized whole;
 * BENCHMARKS.md, "Start-up"), and its RSS is held against QEMU's. Not a vCPU
 * thread: a Worker starts from Node's own.
 */
export const SNAPSHOT_ENTRY_POINTS = ['tsvmm', 'device-process'] as const satisfies readonly EntryPoint[];
export type SnapshotEntryPoint = (typeof SNAPSHOT_ENTRY_POINTS)[number];

/** The startup snapshot the build made of an entry point's bundle (tools/build/startup-snapshot.ts). */
export function startupSnapshotFile(name: SnapshotEntryPoint): string {
  return join(BUNDLE_DIR, `${name}.snapshot.blob`);
}

/**
 * Where the build that made the startup snapshots ran (the real path of the
 * project's root) and with which node: a snapshot holds the build's paths
 * and starts only under the node that made it. Used only from there and
 * with that node, not newer than the file; a checkout reached another way
 * (moved, bind-mounted) or another node runs the scripts instead.
 */
export const SNAPSHOT_ROOT_FILE = join(BUNDLE_DIR, 'snapshot-root');
/** The shell function bin/tsvmm starts the helper with, written with the snapshots (tools/build/helper-launch-script.ts). */
export const HELPER_LAUNCH_SCRIPT = join(BUNDLE_DIR, 'helper-launch.sh');

let snapshotsUsable: boolean | undefined;
function snapshotsBuiltHere(): boolean {
  if (snapshotsUsable === undefined) {
    try {
      const [root, node] = readFileSync(SNAPSHOT_ROOT_FILE, 'utf8').split('\n');
      snapshotsUsable =
        root === realpathSync(PROJECT_ROOT) && node === process.execPath && statSync(node).mtimeMs <= statSync(SNAPSHOT_ROOT_FILE).mtimeMs;
    } catch {
      snapshotsUsable = false;
    }
  }
  return snapshotsUsable;
}

/**
 * node's arguments for a process of an entry point: its startup snapshot
 * when the build made one here, else `nodeFlags` (a profiler's, which want
 * the code itself: no snapshot then) and its script. TSVMM_NO_SNAPSHOT=1
 * runs the script, for measuring.
 */
export function entryPointArgs(name: EntryPoint, nodeFlags: readonly string[] = []): string[] {
  const snapshot = (SNAPSHOT_ENTRY_POINTS as readonly string[]).includes(name) ? startupSnapshotFile(name as SnapshotEntryPoint) : undefined;
  const fromSnapshot = snapshot !== undefined && nodeFlags.length === 0 && process.env.TSVMM_NO_SNAPSHOT !== '1' && process.env.TSVMM_NO_BUNDLE !== '1' && snapshotsBuiltHere() && existsSync(snapshot);
  return fromSnapshot ? ['--snapshot-blob', snapshot] : [...nodeFlags, entryPointScript(name)];
}

/** The file to run for an entry point: its bundle when there is one. */
export function entryPointScript(name: EntryPoint): string {
  const bundled = bundleFile(name);
  if (process.env.TSVMM_NO_BUNDLE !== '1' && existsSync(bundled)) return bundled;
  return join(PROJECT_ROOT, COMPILED_ENTRY_POINTS[name]);
}

/** The CLI as a program (a shell launcher: from its startup snapshot), for tools and tests that run tsvmm as a user would. */
export const TSVMM_CLI = join(PROJECT_ROOT, 'bin', 'tsvmm');
/** The CLI as a Node script (`node bin/tsvmm.cjs`: from its bundle and code cache), for tests that preload code into it. */
export const TSVMM_CLI_SCRIPT = join(PROJECT_ROOT, 'bin', 'tsvmm.cjs');
