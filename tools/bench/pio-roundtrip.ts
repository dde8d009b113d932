// PIO exit round trip: the same real-mode payload (100k OUTs) under tsvmm's
// TypeScript exit loop and under a minimal C exit loop compiled here.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { median, parseExitStats, timedRun } from './process-timing.js';
import { TSVMM_CLI as TSVMM } from '../../src/entry-points.js';

const PAYLOAD = join(PROJECT_ROOT, 'test', 'guests', 'bin', 'real-pio-loop.bin');

export interface PioResult {
  exits: number;
  cMicros: number;
  tsMicros: number;
  ratio: number;
}

export async function measurePioRoundTrip(rounds: number, extraArgs: string[] = []): Promise<PioResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-bench-'));
  const cBinary = join(dir, 'pio-loop');
  execFileSync(process.env.CC ?? 'cc', ['-O2', '-o', cBinary, join(PROJECT_ROOT, 'tools', 'bench', 'pio-loop.c')]);
  const c: number[] = [];
  const ts: number[] = [];
  let exits = 0;
  // Alternate the two so that load changes hit both alike.
  for (let i = 0; i < rounds; i++) {
    const cr = JSON.parse(execFileSync(cBinary, [PAYLOAD], { encoding: 'utf8' })) as { exits: number; runSeconds: number };
    c.push((cr.runSeconds / cr.exits) * 1e6);
    const tr = await timedRun(TSVMM, ['run', '--raw-payload', PAYLOAD, '--stats', '--log-level', 'warn', ...extraArgs]);
    const stats = parseExitStats<{ totalExits: number; runSeconds: number }>(tr.stderr);
    exits = stats.totalExits;
    ts.push((stats.runSeconds / stats.totalExits) * 1e6);
  }
  const cMicros = median(c);
  const tsMicros = median(ts);
  return { exits, cMicros, tsMicros, ratio: tsMicros / cMicros };
}
