// The frontend's first act: for `tsvmm run` and `tsvmm exec` the helper
// process starts now and loads its code alongside the frontend
// (helper-launch.ts). The guess comes from the raw words; the parsed command
// line decides (takeEarlyHelper): a helper started for the wrong mode is
// discarded. With one CPU there is nothing to overlap with, only contention:
// in a 1-vCPU nested L1 a tiny guest's run took 0.8 s longer (medians of 5)
// with the early start, and 0.7 s less with 2 vCPUs.
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
import { HelperLaunch } from './helper-launch.js';

/** The words before `--` (after it come the guest's, which may say anything). */
function ownWords(argv: readonly string[]): readonly string[] {
  const end = argv.indexOf('--');
  return end < 0 ? argv : argv.slice(0, end);
}

function startEarly(): HelperLaunch | undefined {
  // For measuring what the early start buys (BENCHMARKS.md, "Start-up").
  if (process.env.TSVMM_EARLY_HELPER === '0' || availableParallelism() < 2) return undefined;
  const words = ownWords(process.argv.slice(2));
  if (words[0] !== 'run' && words[0] !== 'exec') return undefined;
  if (words.some((w) => w === '--help' || w === '-h' || w === '--version')) return undefined;
  try {
    const stray = strayFds(openFds());
    const inherited = stray.length > 0 ? markInheritedFdsCloseOnExec(stray) : [];
    return new HelperLaunch(!words.includes('--no-sandbox'), inherited);
  } catch {
    return undefined; // started again once the command line is known, and its error reported then
  }
}

/** Where the first run of this module leaves what it started, for the CLI's bundle. */
const STARTED = Symbol.for('tsvmm.early-helper');
interface Started {
  launch: HelperLaunch | undefined;
}
const started: Started = ((globalThis as unknown as Record<symbol, Started | undefined>)[STARTED] ??= { launch: startEarly() });

/** The helper started early, if it was started for this mode; otherwise none (and an unsuitable one is ended). */
export function takeEarlyHelper(sandbox: boolean): HelperLaunch | undefined {
  const launch = started.launch;
  started.launch = undefined;
  if (launch && launch.sandbox !== sandbox) {
    launch.discard();
    return undefined;
  }
  return launch;
}
