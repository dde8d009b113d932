// One run of the guest-side driver (blk-driver-worker.ts) against whatever
// device sits behind its eventfds, with the device side's CPU sampled
// over the driver's measured requests: from the moment it reports its
// warm-up over to the moment it reports done.
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { write } from '../../ffi/libc.js';
import type { BlkDriverMessage, BlkDriverSetup } from './blk-driver-worker.js';
import { cpuBetween, type CpuSnapshot } from './vmm-cpu.js';

export type BlkDriverDone = Extract<BlkDriverMessage, { type: 'done' }>;

export interface BlkDriverRun {
  done: BlkDriverDone;
  /** CPU seconds of every thread `deviceCpu` sampled. */
  deviceCpuSeconds: number;
}

export async function runBlkDriver(
  setup: BlkDriverSetup,
  options: {
    /** The device side's threads; `driverTid` must be left out when the driver runs in the same process. */
    deviceCpu: (driverTid: number) => CpuSnapshot;
    /** Default: a minute plus a millisecond a request, far beyond any device's pace. */
    timeoutMs?: number;
    /** Rejects if the device side dies: the driver would otherwise wait for its interrupt forever. */
    deviceFailure?: Promise<never>;
  },
): Promise<BlkDriverRun> {
  const worker = new Worker(fileURLToPath(new URL('./blk-driver-worker.js', import.meta.url)), { workerData: setup });
  let driverTid = 0;
  let before: CpuSnapshot = { seconds: new Map(), vcpus: new Set() };
  const timeoutMs = options.timeoutMs ?? 60_000 + setup.warmup + setup.requests;
  let timer: NodeJS.Timeout | undefined;
  try {
    const done = await Promise.race([
      new Promise<BlkDriverDone>((resolve, reject) => {
        worker.on('message', (m: BlkDriverMessage) => {
          if (m.type === 'measuring') {
            driverTid = m.tid;
            before = options.deviceCpu(driverTid);
          } else resolve(m);
        });
        worker.on('error', reject);
        worker.on('exit', (code) => reject(new Error(`the driver thread exited (${code}) before it finished`)));
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the driver did not finish ${setup.requests} requests in ${timeoutMs} ms`)), timeoutMs);
      }),
      ...(options.deviceFailure ? [options.deviceFailure] : []),
    ]);
    const after = options.deviceCpu(driverTid);
    const { vcpu, rest } = cpuBetween(before, after);
    return { done, deviceCpuSeconds: vcpu + rest }; // no vCPU here: every thread sampled is the device's
  } finally {
    clearTimeout(timer);
    const stopped = worker.terminate();
    // A driver blocked reading its interrupt eventfd only sees the termination once the read returns.
    write(setup.interruptFd, new Uint8Array(new BigUint64Array([1n]).buffer), 8);
    await stopped;
  }
}
