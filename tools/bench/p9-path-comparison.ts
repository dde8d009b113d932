// The `p9-path` benchmark section: tsvmm's virtio-9p data path against
// QEMU's, driven by the same guest-side 9p client thread, without KVM
// (p9-data-path.ts), for a `find`-like walk and `cat`-like reads, the two
// servers alternating round by round.
import { measureP9DataPath, type P9PathResult } from './p9-data-path.js';
import { measureQemuP9DataPath } from './p9-data-path-qemu.js';
import type { P9Workload } from './p9-driver-worker.js';
import { P9_REQUESTS } from './p9-path-fixture.js';
import { median } from './process-timing.js';

export const P9_PATH_WORKLOADS: readonly P9Workload[] = ['walk', 'read'];

export interface P9PathComparison {
  workload: P9Workload;
  tsvmm: P9PathResult[];
  qemu: P9PathResult[];
}

export async function compareP9DataPath(rounds: number, progress: (what: string) => void): Promise<P9PathComparison[]> {
  const out: P9PathComparison[] = [];
  for (const workload of P9_PATH_WORKLOADS) {
    const row: P9PathComparison = { workload, tsvmm: [], qemu: [] };
    const requests = P9_REQUESTS[workload];
    for (let i = 0; i < rounds; i++) {
      progress(`${workload}, round ${i + 1} of ${rounds}: tsvmm`);
      row.tsvmm.push(await measureP9DataPath({ workload, requests }));
      progress(`${workload}, round ${i + 1} of ${rounds}: QEMU`);
      row.qemu.push(await measureQemuP9DataPath({ workload, requests }));
    }
    out.push(row);
  }
  return out;
}

/** Medians of one side's runs. */
export function summarizeP9Path(runs: readonly P9PathResult[]): { rate: number; cpuUs: number; share: number; measured?: { rate: number; cpuUs: number; qtestCpuUs: number } } {
  const qemu = runs.every((r) => r.measuredCpuUsPerRequest !== undefined);
  return {
    rate: median(runs.map((r) => r.requestsPerSecond)),
    cpuUs: median(runs.map((r) => r.vmmCpuUsPerRequest)),
    share: median(runs.map((r) => r.vmmCpuShare)),
    ...(qemu
      ? {
          measured: {
            rate: median(runs.map((r) => r.measuredRequestsPerSecond!)),
            cpuUs: median(runs.map((r) => r.measuredCpuUsPerRequest!)),
            qtestCpuUs: median(runs.map((r) => r.qtestCpuUsPerRequest!)),
          },
        }
      : {}),
  };
}
