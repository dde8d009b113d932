// tsvmm's own start-up: from the command's start to the guest's first
// instruction (the first KVM_RUN) and to its exit, for a tiny real-mode
// guest that exits at once, next to Node's own start (`node -e 0`) in the
// same run. Also with the helper started only after the command line is
// parsed (TSVMM_EARLY_HELPER=0), and with every process compiling its code
// as if it had no code cache (TSVMM_NO_CODE_CACHE=1), to show what each buys.
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { median, parseExitStats, timedRun } from './process-timing.js';
import { TSVMM_CLI as TSVMM } from '../../src/entry-points.js';

const HELLO = join(PROJECT_ROOT, 'test', 'guests', 'bin', 'real-hello.bin');

/** Node's start as the launcher gets it: bin/tsvmm.cjs drops NODE_EXTRA_CA_CERTS (it says why). */
const LAUNCHER_ENV: NodeJS.ProcessEnv = { ...process.env, NODE_EXTRA_CA_CERTS: undefined };

/** Medians of one way of starting. */
export interface StartupTimes {
  toFirstRunMs: number;
  toExitMs: number;
}

/** The ways of starting compared, by the environment each sets. */
const WAYS = { default: {}, lateHelper: { TSVMM_EARLY_HELPER: '0' }, noCodeCache: { TSVMM_NO_CODE_CACHE: '1' } } as const;
type Way = keyof typeof WAYS;

export type StartupCosts = { nodeMs: number } & Record<Way, StartupTimes>;

async function tsvmmRun(env: NodeJS.ProcessEnv): Promise<StartupTimes> {
  const r = await timedRun(TSVMM, ['run', '--raw-payload', HELLO, '--stats', '--log-level', 'warn'], { env: { ...process.env, ...env }, timeoutMs: 120_000 });
  const stats = parseExitStats<{ firstEntryEpochMs: number }>(r.stderr);
  return { toFirstRunMs: stats.firstEntryEpochMs - r.spawnedAtEpochMs, toExitMs: r.seconds * 1000 };
}

const medians = (runs: StartupTimes[]): StartupTimes => ({ toFirstRunMs: median(runs.map((r) => r.toFirstRunMs)), toExitMs: median(runs.map((r) => r.toExitMs)) });

export async function measureStartup(rounds: number): Promise<StartupCosts> {
  const node: number[] = [];
  const ways = Object.keys(WAYS) as Way[];
  const runs = new Map<Way, StartupTimes[]>(ways.map((way) => [way, []]));
  await tsvmmRun({}); // warm the page cache
  for (let i = 0; i < rounds; i++) {
    node.push((await timedRun(process.execPath, ['-e', '0'], { env: LAUNCHER_ENV })).seconds * 1000);
    for (const way of ways) runs.get(way)!.push(await tsvmmRun(WAYS[way]));
  }
  return { nodeMs: median(node), ...(Object.fromEntries(ways.map((way) => [way, medians(runs.get(way)!)])) as Record<Way, StartupTimes>) };
}
