// Exits and run time of the MMIO test-device guest with coalesced zones on
// and off (the same guest, the same device state at the end).
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { median, parseExitStats, timedRun } from './process-timing.js';
import { TSVMM_CLI as TSVMM } from '../../src/entry-points.js';

const PAYLOAD = join(PROJECT_ROOT, 'test', 'guests', 'bin', 'real-pm-mmio.bin');
const MACHINE = join(PROJECT_ROOT, 'test', 'machines', 'test-devices.json');

export interface CoalescingResult {
  on: { exits: number; ms: number };
  off: { exits: number; ms: number };
}

async function once(zones: boolean): Promise<{ exits: number; ms: number }> {
  const r = await timedRun(TSVMM, ['run', '--raw-payload', PAYLOAD, '--machine', MACHINE, '--stats', '--log-level', 'warn', zones ? '--coalesced' : '--no-coalesced']);
  if (r.status !== 0 || r.stdout !== 'mmio ok\n') throw new Error(`test-device guest failed: ${r.stdout} ${r.stderr}`);
  const stats = parseExitStats<{ totalExits: number; runSeconds: number }>(r.stderr);
  return { exits: stats.totalExits, ms: stats.runSeconds * 1000 };
}

export async function measureCoalescing(rounds: number): Promise<CoalescingResult> {
  const on: { exits: number; ms: number }[] = [];
  const off: { exits: number; ms: number }[] = [];
  for (let i = 0; i < rounds; i++) {
    on.push(await once(true));
    off.push(await once(false));
  }
  const pick = (xs: { exits: number; ms: number }[]) => ({ exits: median(xs.map((x) => x.exits)), ms: median(xs.map((x) => x.ms)) });
  return { on: pick(on), off: pick(off) };
}
