// The `blk-path` benchmark section: tsvmm's virtio-blk data path against
// QEMU's (qemu-storage-daemon over vhost-user), driven by the same guest-side
// driver thread, without KVM (blk-data-path.ts), at queue depths 1 and 32,
// alternating round by round; tsvmm also on Node's own loop, as it served
// devices before its blocking loop (bus/blocking-loop.ts), for the before/after.
import { measureBlkDataPath, type BlkPathResult } from './blk-data-path.js';
import { measureQemuBlkDataPath } from './blk-data-path-qemu.js';
import { median } from './process-timing.js';

export const BLK_PATH_DEPTHS = [1, 32] as const;

export interface BlkPathComparison {
  depth: number;
  tsvmm: BlkPathResult[];
  tsvmmOnLibuv: BlkPathResult[];
  qemu: BlkPathResult[];
}

export async function compareBlkDataPath(rounds: number, requests: number): Promise<BlkPathComparison[]> {
  const out: BlkPathComparison[] = [];
  for (const depth of BLK_PATH_DEPTHS) {
    const row: BlkPathComparison = { depth, tsvmm: [], tsvmmOnLibuv: [], qemu: [] };
    for (let i = 0; i < rounds; i++) {
      row.tsvmm.push(await measureBlkDataPath({ depth, requests, engine: 'io_uring', loop: 'blocking' }));
      row.tsvmmOnLibuv.push(await measureBlkDataPath({ depth, requests, engine: 'io_uring', loop: 'libuv' }));
      row.qemu.push(await measureQemuBlkDataPath({ depth, requests }));
    }
    out.push(row);
  }
  return out;
}

/** Medians of one side's runs. */
export function summarizeBlkPath(runs: readonly BlkPathResult[]): { iops: number; cpuUs: number; share: number; interrupts: number; engine: string } {
  return {
    iops: median(runs.map((r) => r.iops)),
    cpuUs: median(runs.map((r) => r.vmmCpuUsPerRequest)),
    share: median(runs.map((r) => r.vmmCpuShare)),
    interrupts: median(runs.map((r) => r.interruptsPerRequest)),
    engine: runs[0].engine,
  };
}
