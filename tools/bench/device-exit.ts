// What a device exit costs with one vCPU and with several: the same
// real-mode payloads with --cpus 1, where the UART lives in the vCPU thread,
// and --cpus 2, where it is served on the VMM's main thread
// (src/vmm/shared-platform-devices.ts). The second vCPU waits for a start-up
// IPI that never comes: only where the UART is served differs.
//  - 100k OUTs to COM1's scratch register: with two vCPUs each is forwarded
//    to the main thread;
//  - 100k INs from its line status register (Linux's console reads it before
//    every byte): with two vCPUs the vCPU thread answers them from the UART's
//    register mirror (src/bus/register-mirror.ts).
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { median, parseExitStats, timedRun } from './process-timing.js';
import { TSVMM_CLI as TSVMM } from '../../src/entry-points.js';

const PAYLOADS = {
  scratchWrite: join(PROJECT_ROOT, 'test', 'guests', 'bin', 'real-pio-device-loop.bin'),
  statusRead: join(PROJECT_ROOT, 'test', 'guests', 'bin', 'real-pio-status-loop.bin'),
};

/** µs per exit, medians, with one vCPU and with two. */
export interface DeviceExitCost {
  oneVcpu: number;
  twoVcpus: number;
}

export type DeviceExitResult = Record<keyof typeof PAYLOADS, DeviceExitCost>;

async function microsPerExit(payload: string, cpus: number): Promise<number> {
  const r = await timedRun(TSVMM, ['run', '--raw-payload', payload, '--cpus', String(cpus), '--stats', '--log-level', 'warn']);
  if (r.status !== 0) throw new Error(`${payload} with ${cpus} vCPUs: status ${r.status}\n${r.stderr.slice(-2000)}`);
  const stats = parseExitStats<{ totalExits: number; runSeconds: number }>(r.stderr);
  return (stats.runSeconds / stats.totalExits) * 1e6;
}

export async function measureDeviceExits(rounds: number): Promise<DeviceExitResult> {
  const samples = { scratchWrite: { 1: [] as number[], 2: [] as number[] }, statusRead: { 1: [] as number[], 2: [] as number[] } };
  for (let i = 0; i < rounds; i++)
    for (const kind of ['scratchWrite', 'statusRead'] as const)
      for (const cpus of [1, 2] as const) samples[kind][cpus].push(await microsPerExit(PAYLOADS[kind], cpus));
  const cost = (kind: keyof typeof PAYLOADS) => ({ oneVcpu: median(samples[kind][1]), twoVcpus: median(samples[kind][2]) });
  return { scratchWrite: cost('scratchWrite'), statusRead: cost('statusRead') };
}
