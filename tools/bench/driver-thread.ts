// One run of a guest-side driver thread (blk-driver-worker.ts,
// p9-driver-worker.ts) against whatever device sits behind its doorbell and
// interrupt, with the device side's CPU sampled over the driver's measured
// requests: from the moment it reports its warm-up over to the moment it
// reports done.
import { Worker } from 'node:worker_threads';
import { cpuBetween, snapshotCpu, type CpuSnapshot } from './vmm-cpu.js';

/** What a driver thread posts: its thread id once the measured requests start, then its result. */
export type DriverMessage<Done extends { type: 'done' }> = { type: 'measuring'; tid: number } | Done;

export interface DriverRun<Done> {
  done: Done;
  /** CPU seconds of every thread `deviceCpu` sampled. */
  deviceCpuSeconds: number;
}

/** The device side where it runs in this process, beside the driver: every thread but the driver's (there is no vCPU). */
export function cpuOfThisProcessBut(driverTid: number): CpuSnapshot {
  const snapshot = snapshotCpu(process.pid);
  snapshot.seconds.delete(`${process.pid}/${driverTid}`);
  return snapshot;
}

export interface DriverRunOptions {
  /** The device side's threads; `driverTid` must be left out when the driver runs in the same process. */
  deviceCpu: (driverTid: number) => CpuSnapshot;
  timeoutMs: number;
  /** Rejects if the device side dies: the driver would otherwise wait for its interrupt forever. */
  deviceFailure?: Promise<never>;
  /** Wakes a driver blocked waiting for an interrupt, so that its termination takes effect. */
  unblock: () => void;
}

export async function runDriverThread<Done extends { type: 'done' }>(workerFile: URL, setup: unknown, options: DriverRunOptions): Promise<DriverRun<Done>> {
  const worker = new Worker(workerFile, { workerData: setup });
  let driverTid = 0;
  let before: CpuSnapshot = { seconds: new Map(), systemSeconds: new Map(), guestSeconds: new Map(), vcpus: new Set() };
  let timer: NodeJS.Timeout | undefined;
  try {
    const done = await Promise.race([
      new Promise<Done>((resolve, reject) => {
        worker.on('message', (m: DriverMessage<Done>) => {
          if (m.type === 'measuring') {
            driverTid = (m as { tid: number }).tid;
            before = options.deviceCpu(driverTid);
          } else resolve(m as Done);
        });
        worker.on('error', reject);
        worker.on('exit', (code) => reject(new Error(`the driver thread exited (${code}) before it finished`)));
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the driver did not finish in ${options.timeoutMs} ms`)), options.timeoutMs);
      }),
      ...(options.deviceFailure ? [options.deviceFailure] : []),
    ]);
    const after = options.deviceCpu(driverTid);
    const { vcpu, rest } = cpuBetween(before, after);
    return { done, deviceCpuSeconds: vcpu + rest }; // no vCPU here: every thread sampled is the device's
  } finally {
    clearTimeout(timer);
    const stopped = worker.terminate();
    // A driver blocked in a system call only sees the termination once the call returns.
    options.unblock();
    await stopped;
  }
}
