// tsvmm's own start-up: from the command's start to the guest's first
// instruction (the first KVM_RUN) and to its exit, for a tiny real-mode
// guest that exits at once, next to Node's own start (`node -e 0`) in the
// same run. Also with the helper started only after the command line is
// parsed (TSVMM_EARLY_HELPER=0), to show what starting it first buys.
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { median, parseExitStats, timedRun } from './process-timing.js';
import { TSVMM_CLI as TSVMM } from '../../src/entry-points.js';

const HELLO = join(PROJECT_ROOT, 'test', 'guests', 'bin', 'real-hello.bin');

export interface StartupCosts {
  nodeMs: number;
  toFirstRunMs: number;
  toExitMs: number;
  lateHelperToFirstRunMs: number;
  lateHelperToExitMs: number;
}

async function tsvmmRun(env: NodeJS.ProcessEnv): Promise<{ toFirstRunMs: number; toExitMs: number }> {
  const r = await timedRun(process.execPath, [TSVMM, 'run', '--raw-payload', HELLO, '--stats', '--log-level', 'warn'], { env: { ...process.env, ...env }, timeoutMs: 120_000 });
  const stats = parseExitStats<{ firstEntryEpochMs: number }>(r.stderr);
  return { toFirstRunMs: stats.firstEntryEpochMs - r.spawnedAtEpochMs, toExitMs: r.seconds * 1000 };
}

export async function measureStartup(rounds: number): Promise<StartupCosts> {
  const node: number[] = [];
  const early: { toFirstRunMs: number; toExitMs: number }[] = [];
  const late: { toFirstRunMs: number; toExitMs: number }[] = [];
  await tsvmmRun({}); // warm the page cache
  for (let i = 0; i < rounds; i++) {
    node.push((await timedRun(process.execPath, ['-e', '0'])).seconds * 1000);
    early.push(await tsvmmRun({}));
    late.push(await tsvmmRun({ TSVMM_EARLY_HELPER: '0' }));
  }
  return {
    nodeMs: median(node),
    toFirstRunMs: median(early.map((r) => r.toFirstRunMs)),
    toExitMs: median(early.map((r) => r.toExitMs)),
    lateHelperToFirstRunMs: median(late.map((r) => r.toFirstRunMs)),
    lateHelperToExitMs: median(late.map((r) => r.toExitMs)),
  };
}
