// Where vCPU threads come from. Starting a Worker means a new V8 isolate
// loading the vCPU code: ~100 ms natively, over a second in a nested L1. A
// thread started early (`prestart`, once the helper's own code has loaded:
// src/helper/early-vcpu-thread.ts) does that while the helper waits for its
// configuration, loads the kernel and creates the VM; `start` then hands it
// its vCPU.
import { Worker } from 'node:worker_threads';
import { entryPointScript } from '../entry-points.js';
import type { VcpuStart, VcpuWorkerData } from './vcpu-protocol.js';
import { markStartup } from '../startup-marks.js';

interface WaitingThread {
  readonly worker: Worker;
  /** It ended (or failed to load) before it was given a vCPU. */
  dead: boolean;
}

export class VcpuThreads {
  private readonly waiting: WaitingThread[] = [];

  /** Starts `count` threads that load their code and wait for a vCPU. */
  prestart(count: number): void {
    for (let i = 0; i < count; i++) {
      const thread: WaitingThread = { worker: new Worker(entryPointScript('vcpu-worker')), dead: false };
      const died = () => (thread.dead = true);
      thread.worker.once('error', died).once('exit', died);
      if (i === 0) thread.worker.once('online', () => markStartup('vcpuThreadOnline'));
      // A waiting thread must not keep a helper that is done alive.
      thread.worker.unref();
      this.waiting.push(thread);
    }
  }

  /** Threads started and not yet given a vCPU. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** A thread running the vCPU `data` describes: a waiting one, or a new one. */
  start(data: VcpuWorkerData): Worker {
    let thread = this.waiting.shift();
    while (thread?.dead) thread = this.waiting.shift();
    // A thread that died while waiting would never report: a new one reports whatever it meets.
    const worker = thread?.worker ?? new Worker(entryPointScript('vcpu-worker'));
    worker.ref();
    const start: VcpuStart = { type: 'start', data };
    worker.postMessage(start);
    return worker;
  }

  /** Ends the threads nobody took (fewer vCPUs than prestarted, or the VM never came). */
  discardWaiting(): void {
    for (const t of this.waiting.splice(0)) void t.worker.terminate();
  }
}
