// What a device exit costs with one vCPU and with several: the same
// real-mode payload (100k OUTs to COM1's scratch register, each a full exit)
// with --cpus 1, where the UART lives in the vCPU thread, and --cpus 2, where
// it is served on the VMM's main thread and the exit forwarded to it
// (src/vmm/shared-platform-devices.ts). The second vCPU waits for a start-up
// IPI that never comes: only the forwarding differs.
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { median, parseExitStats, timedRun } from './process-timing.js';
import { TSVMM_CLI as TSVMM } from '../../src/entry-points.js';

const PAYLOAD = join(PROJECT_ROOT, 'test', 'guests', 'bin', 'real-pio-device-loop.bin');

export interface DeviceExitResult {
  /** µs per exit, medians. */
  oneVcpu: number;
  twoVcpus: number;
}

export async function measureDeviceExits(rounds: number): Promise<DeviceExitResult> {
  const samples: Record<1 | 2, number[]> = { 1: [], 2: [] };
  for (let i = 0; i < rounds; i++)
    for (const cpus of [1, 2] as const) {
      const r = await timedRun(TSVMM, ['run', '--raw-payload', PAYLOAD, '--cpus', String(cpus), '--stats', '--log-level', 'warn']);
      if (r.status !== 0) throw new Error(`device-exit payload with ${cpus} vCPUs: status ${r.status}\n${r.stderr.slice(-2000)}`);
      const stats = parseExitStats<{ totalExits: number; runSeconds: number }>(r.stderr);
      samples[cpus].push((stats.runSeconds / stats.totalExits) * 1e6);
    }
  return { oneVcpu: median(samples[1]), twoVcpus: median(samples[2]) };
}
