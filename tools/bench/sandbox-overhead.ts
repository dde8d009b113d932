// What the jail costs: helper start-up (spawn → first KVM_RUN) and the PIO
// exit round trip, sandbox on vs off, in one run.
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { median, parseExitStats, timedRun } from './process-timing.js';
import { measurePioRoundTrip } from './pio-roundtrip.js';
import { TSVMM_CLI as TSVMM } from '../../src/entry-points.js';

const HELLO = join(PROJECT_ROOT, 'test', 'guests', 'bin', 'real-hello.bin');

async function startupMs(extra: string[]): Promise<number> {
  const r = await timedRun(TSVMM, ['run', '--raw-payload', HELLO, '--stats', '--log-level', 'warn', ...extra]);
  return (parseExitStats<{ helperStartupMs: number }>(r.stderr)).helperStartupMs;
}

export interface SandboxOverhead {
  startupOnMs: number;
  startupOffMs: number;
  pioOnMicros: number;
  pioOffMicros: number;
}

export async function measureSandboxOverhead(rounds: number): Promise<SandboxOverhead> {
  const on: number[] = [];
  const off: number[] = [];
  for (let i = 0; i < rounds; i++) {
    on.push(await startupMs([]));
    off.push(await startupMs(['--no-sandbox']));
  }
  const pioOn = await measurePioRoundTrip(rounds);
  const pioOff = await measurePioRoundTrip(rounds, ['--no-sandbox']);
  return { startupOnMs: median(on), startupOffMs: median(off), pioOnMicros: pioOn.tsMicros, pioOffMicros: pioOff.tsMicros };
}
