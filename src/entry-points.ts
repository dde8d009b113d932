// The scripts tsvmm runs as processes and threads. `npm run build` bundles
// each into one file (tools/build/bundle.ts: Node's per-module loading cost
// is most of tsvmm's start-up) with a V8 code cache (tools/build/code-cache.ts);
// TSVMM_NO_BUNDLE=1 runs tsc's output instead (its source maps make stack
// traces readable).
import { existsSync } from 'node:fs';
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
 * The helper's: a 1 MiB young generation (it allocates little once the guest
 * runs) and gc(), so that it can drop the kernel image after loading.
 */
const HELPER_NODE_ARGS = ['--expose-gc', '--max-semi-space-size=1'];

/**
 * Node's options in the process each entry point runs in (a vCPU thread runs
 * in the helper's). V8 takes a code cache only under the flags it was made
 * with, so the build makes each under these.
 */
export const ENTRY_POINT_NODE_ARGS: Readonly<Record<EntryPoint, readonly string[]>> = {
  tsvmm: [],
  helper: HELPER_NODE_ARGS,
  'vcpu-worker': HELPER_NODE_ARGS,
  'device-process': [],
};

export const BUNDLE_DIR = join(PROJECT_ROOT, 'dist', 'bundle');

/** What runs an entry point's bundle: a stub that loads the code with its cache (tools/build/run-bundle.cjs). */
export function bundleFile(name: EntryPoint): string {
  return join(BUNDLE_DIR, `${name}.cjs`);
}

/** The bundled code itself. */
export function bundleCodeFile(name: EntryPoint): string {
  return join(BUNDLE_DIR, `${name}.code.cjs`);
}

/** The code cache the build made for it (tools/build/code-cache.ts). */
export function codeCacheFile(name: EntryPoint): string {
  return join(BUNDLE_DIR, `${name}.v8-cache`);
}

/** The file to run for an entry point: its bundle when there is one. */
export function entryPointScript(name: EntryPoint): string {
  const bundled = bundleFile(name);
  if (process.env.TSVMM_NO_BUNDLE !== '1' && existsSync(bundled)) return bundled;
  return join(PROJECT_ROOT, COMPILED_ENTRY_POINTS[name]);
}

/** The CLI's launcher, for tools and tests that run tsvmm as a user would. */
export const TSVMM_CLI = join(PROJECT_ROOT, 'bin', 'tsvmm.cjs');
