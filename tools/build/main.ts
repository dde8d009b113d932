// Writes the bundle of each entry point to dist/bundle/ (bundle.ts says why),
// with the stub that runs it and its code cache (code-cache.ts), and the
// startup snapshots of the CLI and device processes (startup-snapshot.ts).
// Usage (npm run build does it): node dist/tools/build/main.js

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BUNDLE_DIR, COMPILED_BUNDLES, HELPER_LAUNCH_SCRIPT, COMPILED_ENTRY_POINTS, SNAPSHOT_ENTRY_POINTS, bundleCodeFile, type BundleName, type EntryPoint } from '../../src/entry-points.js';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { BundleError, bundle } from './bundle.js';
import { makeCodeCache, stampBuildId, writeLoader, writeStub } from './code-cache.js';
import { helperLaunchScript } from './helper-launch-script.js';
import { makeStartupSnapshot, recordSnapshotRoot, removeStartupSnapshots } from './startup-snapshot.js';

const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

try {
  mkdirSync(BUNDLE_DIR, { recursive: true });
  removeStartupSnapshots();
  rmSync(HELPER_LAUNCH_SCRIPT, { force: true });
  writeLoader();
  for (const name of Object.keys(COMPILED_BUNDLES) as BundleName[]) {
    const file = bundleCodeFile(name);
    const result = bundle(join(PROJECT_ROOT, COMPILED_BUNDLES[name]), file);
    writeFileSync(file, stampBuildId(result.text));
    writeStub(name);
    process.stdout.write(`bundle ${relative(PROJECT_ROOT, file)}: ${result.modules} modules, ${result.externals} external imports, ${kib(result.text.length)}\n`);
  }
  // Once every bundle is there: the helper's run starts a vCPU thread.
  for (const name of Object.keys(COMPILED_ENTRY_POINTS) as EntryPoint[]) process.stdout.write(`code cache of ${name}: ${kib(makeCodeCache(name))}\n`);
  for (const name of SNAPSHOT_ENTRY_POINTS) process.stdout.write(`startup snapshot of ${name}: ${kib(makeStartupSnapshot(name))}\n`);
  // The launcher's start of the helper goes with the snapshots: used where, and only where, they are.
  writeFileSync(HELPER_LAUNCH_SCRIPT, helperLaunchScript());
  recordSnapshotRoot();
} catch (e) {
  process.stderr.write(`bundle: ${e instanceof BundleError ? e.message : ((e as Error).stack ?? e)}\n`);
  process.exit(1);
}
