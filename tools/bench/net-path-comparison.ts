// The `net-path` benchmark section: tsvmm's virtio-net data path against
// QEMU's, both over a stream backend (what passt is reached through) and,
// as root, both over a tap, driven by the same guest-side driver thread,
// without KVM (net-data-path.ts): each direction, with full-size frames at
// the default MTU and at passt's, and ping; the two NICs alternating round
// by round.
import { measureNetDataPath, type NetPathResult } from './net-data-path.js';
import { measureQemuNetDataPath } from './net-data-path-qemu.js';
import type { NetWorkload } from './net-driver-worker.js';
import { NET_FRAMES, NET_FRAME_SIZES, PING_FRAME_BYTES, PINGS, type NetPathBackend } from './net-path-fixture.js';
import { measurePingFloor, type PingFloorResult } from './net-ping-floor.js';
import { median } from './process-timing.js';
import { BENCH_TAP, withBenchTap } from './tap-far-end.js';

export interface NetPathComparison {
  backend: NetPathBackend;
  workload: NetWorkload;
  frameBytes: number;
  tsvmm: NetPathResult[];
  qemu: NetPathResult[];
  /** ping only: the same system calls from C (net-ping-floor.c), a run per round. */
  floor: PingFloorResult[];
}

/** `backends`: stream always; tap only where the run may make one (bench-tap.ts). */
export async function compareNetDataPath(rounds: number, backends: readonly NetPathBackend[], progress: (what: string) => void): Promise<NetPathComparison[]> {
  const out: NetPathComparison[] = [];
  const loads = backends.flatMap((backend) => [
    ...NET_FRAME_SIZES.flatMap((frameBytes) => (['send', 'receive'] as const).map((workload) => ({ backend, workload, frameBytes, frames: NET_FRAMES(frameBytes) }))),
    { backend, workload: 'ping' as const, frameBytes: PING_FRAME_BYTES, frames: PINGS },
  ]);
  for (const load of loads) {
    const { backend, workload, frameBytes } = load;
    const row: NetPathComparison = { backend, workload, frameBytes, tsvmm: [], qemu: [], floor: [] };
    for (let i = 0; i < rounds; i++) {
      progress(`${backend}, ${workload}, ${frameBytes}-byte frames, round ${i + 1} of ${rounds}: tsvmm`);
      row.tsvmm.push(await measureNetDataPath(load));
      progress(`${backend}, ${workload}, ${frameBytes}-byte frames, round ${i + 1} of ${rounds}: QEMU`);
      row.qemu.push(await measureQemuNetDataPath(load));
      if (workload === 'ping') {
        progress(`${backend}, ping, round ${i + 1} of ${rounds}: the C floor`);
        row.floor.push(backend === 'tap' ? await withBenchTap(async () => measurePingFloor(BENCH_TAP)) : measurePingFloor());
      }
    }
    out.push(row);
  }
  return out;
}

/** Medians of one side's runs. */
export function summarizeNetPath(runs: readonly NetPathResult[]): { rate: number; cpuUs: number; share: number } {
  return {
    rate: median(runs.map((r) => r.framesPerSecond)),
    cpuUs: median(runs.map((r) => r.vmmCpuUsPerFrame)),
    share: median(runs.map((r) => r.vmmCpuShare)),
  };
}

/** Medians of the C floor's runs. */
export function summarizePingFloor(runs: readonly PingFloorResult[]): { rate: number; cpuUs: number } {
  return {
    rate: median(runs.map((r) => r.roundTripsPerSecond)),
    cpuUs: median(runs.map((r) => r.deviceUserUsPerRoundTrip + r.deviceSystemUsPerRoundTrip)),
  };
}
