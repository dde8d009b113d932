// Imported first by main.ts, so this runs before the rest of the frontend's
// code is evaluated: for `tsvmm run` and `tsvmm exec` the helper process
// starts now and loads its code alongside the frontend (helper-launch.ts).
// The guess comes from the raw words; the parsed command line decides
// (takeEarlyHelper): a helper started for the wrong mode is discarded.
// With one CPU there is nothing to overlap with, only contention: in a
// 1-vCPU nested L1 a tiny guest's run took 0.8 s longer (medians of 5)
// with the early start, and 0.7 s less with 2 vCPUs.
import { availableParallelism } from 'node:os';
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
    return new HelperLaunch(!words.includes('--no-sandbox'));
  } catch {
    return undefined; // started again once the command line is known, and its error reported then
  }
}

let early = startEarly();

/** The helper started early, if it was started for this mode; otherwise none (and an unsuitable one is ended). */
export function takeEarlyHelper(sandbox: boolean): HelperLaunch | undefined {
  const launch = early;
  early = undefined;
  if (launch && launch.sandbox !== sandbox) {
    launch.discard();
    return undefined;
  }
  return launch;
}
