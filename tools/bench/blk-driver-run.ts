// One run of the virtio-blk guest-side driver (blk-driver-worker.ts) against
// whatever device sits behind its eventfds (driver-thread.ts).
import { write } from '../../ffi/libc.js';
import type { BlkDriverMessage, BlkDriverSetup } from './blk-driver-worker.js';
import { runDriverThread, type DriverRun } from './driver-thread.js';
import type { CpuSnapshot } from './vmm-cpu.js';

export type BlkDriverDone = Extract<BlkDriverMessage, { type: 'done' }>;

export function runBlkDriver(
  setup: BlkDriverSetup,
  options: {
    /** The device side's threads; `driverTid` must be left out when the driver runs in the same process. */
    deviceCpu: (driverTid: number) => CpuSnapshot;
    /** Default: a minute plus a millisecond a request, far beyond any device's pace. */
    timeoutMs?: number;
    /** Rejects if the device side dies: the driver would otherwise wait for its interrupt forever. */
    deviceFailure?: Promise<never>;
  },
): Promise<DriverRun<BlkDriverDone>> {
  return runDriverThread<BlkDriverDone>(new URL('./blk-driver-worker.js', import.meta.url), setup, {
    ...options,
    timeoutMs: options.timeoutMs ?? 60_000 + setup.warmup + setup.requests,
    // A driver blocked reading its interrupt eventfd.
    unblock: () => write(setup.interruptFd, new Uint8Array(new BigUint64Array([1n]).buffer), 8),
  });
}
