// Cost of one MMIO access to the test device when the VMM serves it and when
// a device process does (ioregionfd protocol, forwarded in userspace):
// 20000 reads, and 20000 writes (posted), each its own exit.
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { median, parseExitStats, timedRun } from './process-timing.js';
import { TSVMM_CLI as TSVMM } from '../../src/entry-points.js';

const ACCESSES = 20000;

async function microsPerAccess(kind: 'read' | 'write', machine: string): Promise<number> {
  const r = await timedRun(TSVMM, [
    'run', '--raw-payload', join(PROJECT_ROOT, 'test', 'guests', 'bin', `real-pm-${kind}-loop.bin`),
    '--machine', join(PROJECT_ROOT, 'test', 'machines', `${machine}.json`), '--no-coalesced', '--stats', '--log-level', 'warn',
  ]);
  if (r.status !== 0) throw new Error(`access-loop guest failed: ${r.stderr}`);
  const stats = parseExitStats<{ runSeconds: number }>(r.stderr);
  return (stats.runSeconds / ACCESSES) * 1e6;
}

export interface AccessCosts {
  inline: { read: number; write: number };
  separate: { read: number; write: number };
}

export async function measureAccessCosts(rounds: number): Promise<AccessCosts> {
  const samples: Record<string, number[]> = { ir: [], iw: [], sr: [], sw: [] };
  for (let i = 0; i < rounds; i++) {
    samples.ir.push(await microsPerAccess('read', 'test-devices'));
    samples.iw.push(await microsPerAccess('write', 'test-devices'));
    samples.sr.push(await microsPerAccess('read', 'test-device-separate'));
    samples.sw.push(await microsPerAccess('write', 'test-device-separate'));
  }
  return {
    inline: { read: median(samples.ir), write: median(samples.iw) },
    separate: { read: median(samples.sr), write: median(samples.sw) },
  };
}
