// The floor under the net-path ping: the system calls a device thread makes
// per round trip over a stream backend or a tap, from C (net-ping-floor.c,
// compiled here once per run). QEMU's ping figures are corrected for qtest and so
// uncertain; this one is not, and neither VMM can go below it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { PING_FRAME_BYTES, PING_WARMUP, PINGS } from './net-path-fixture.js';

export interface PingFloorResult {
  roundTripsPerSecond: number;
  deviceUserUsPerRoundTrip: number;
  deviceSystemUsPerRoundTrip: number;
}

let binary: string | undefined;

function compiled(): string {
  if (binary !== undefined) return binary;
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'net-ping-floor');
  execFileSync(process.env.CC ?? 'cc', ['-O2', '-pthread', '-o', out, join(PROJECT_ROOT, 'tools', 'bench', 'net-ping-floor.c')]);
  return (binary = out);
}

/** Over a stream, or over the tap named `tap` (which must exist, made with a virtio-net header). */
export function measurePingFloor(tap?: string): PingFloorResult {
  const args = [String(PING_WARMUP), String(PINGS), String(PING_FRAME_BYTES), ...(tap === undefined ? [] : [tap])];
  return JSON.parse(execFileSync(compiled(), args, { encoding: 'utf8' })) as PingFloorResult;
}
