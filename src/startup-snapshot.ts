// tsvmm's CLI and device processes start from a V8 startup snapshot that
// `npm run build` makes of their bundle once its modules have loaded
// (tools/build/startup-snapshot.ts): Node deserializes the heap as it was,
// instead of running every module's top level again. In a nested L1, where
// V8's own code runs ~7x slower than natively and C ~1.3x, that turns
// ~0.4 s of JavaScript per process into C++ (BENCHMARKS.md, "Start-up").
//
// A module's top level then runs once, at build time, in the process that
// writes the snapshot; what belongs to one process (a native binding, a
// thread, a listener, the process's own start) must wait for it. These say
// when: now in an ordinary start, or as a process starts from the snapshot.
import type { startupSnapshot as StartupSnapshotApi } from 'node:v8';
import { createRequire } from 'node:module';

/** Whether this process is writing a startup snapshot (node --build-snapshot). Read as it runs, never kept in one. */
export function isBuildingSnapshot(): boolean {
  return process.execArgv.includes('--build-snapshot');
}

/** node:v8 only while building: loading it costs every ordinary process a few ms natively. */
function snapshotApi(): typeof StartupSnapshotApi {
  return (createRequire(import.meta.url)('node:v8') as typeof import('node:v8')).startupSnapshot;
}

/**
 * Runs `work` as this process starts: now, or, in a snapshot being
 * written, in each process that starts from it (before its main function,
 * in the order asked).
 */
export function atProcessStart(work: () => void): void {
  if (isBuildingSnapshot()) snapshotApi().addDeserializeCallback(work);
  else work();
}

/** An entry point's main function: run now, or made the snapshot's main function. */
export function runMain(main: () => void): void {
  if (isBuildingSnapshot()) snapshotApi().setDeserializeMainFunction(main);
  else main();
}
