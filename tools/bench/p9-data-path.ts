// The virtio-9p data path alone, without KVM: tsvmm's share device as its
// device process runs it (virtio-mmio transport, Virtio9p and its 9P2000.L
// server, the doorbell eventfd on the blocking loop, the interrupt eventfd),
// driven by a guest-side 9p client in another thread (p9-driver-worker.ts)
// through shared memory and the doorbell, as a guest does through KVM's
// ioeventfd (the client watches the used ring rather than taking
// interrupts). It measures the VMM's host CPU per 9p request (every thread
// of this process but the driver's) and requests per second, one request in
// flight as with a single-threaded `find` or `cat`.
// With --vmm qemu the same client runs against QEMU's virtio-9p instead
// (p9-data-path-qemu.ts).
//   node dist/tools/bench/p9-data-path.js [--vmm tsvmm|qemu] [--workload walk|read] [--requests N]
import { fileURLToPath } from 'node:url';
import { check, close, EFD_CLOEXEC, EFD_NONBLOCK, eventfd } from '../../ffi/libc.js';
import { BlockingLoop } from '../../src/bus/blocking-loop.js';
import { EventfdInterrupt, watchEventfd } from '../../src/bus/eventfd-signals.js';
import { libuvWatcher, useFdWatcher } from '../../src/bus/fd-watch.js';
import { VirtioMmioTransport } from '../../src/devices/virtio/virtio-mmio.js';
import { Virtio9p } from '../../src/devices/virtio/virtio-9p.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { cpuOfThisProcessBut, runDriverThread } from './driver-thread.js';
import type { P9DriverDone, P9Workload } from './p9-driver-worker.js';
import { measureQemuP9DataPath } from './p9-data-path-qemu.js';
import { P9_PATH_FEATURES, P9_REQUESTS, RAM_BYTES, p9DriverSetup, p9PathTree, p9QueueLayout } from './p9-path-fixture.js';
import { initialiseVirtioMmio, inProcessRegisters } from '../../src/devices/virtio/virtio-mmio-driver-setup.js';

export interface P9PathResult {
  workload: P9Workload;
  requests: number;
  requestsPerSecond: number;
  /** Host CPU of the device side per request (QEMU: with what qtest itself cost taken out). */
  vmmCpuUsPerRequest: number;
  /** Share of one core the device side used. */
  vmmCpuShare: number;
  kicksPerRequest: number;
  /** QEMU only: CPU per request and requests per second as measured, before qtest's own cost and round trips were taken out, and that cost. */
  measuredCpuUsPerRequest?: number;
  measuredRequestsPerSecond?: number;
  qtestCpuUsPerRequest?: number;
}

/** What a driver's run comes to; `seconds`: the run's wall time, where it is not the driver's. */
export function p9PathResult(workload: P9Workload, requests: number, done: P9DriverDone, cpuSeconds: number, seconds = done.elapsedNs / 1e9): P9PathResult {
  return {
    workload,
    requests,
    requestsPerSecond: requests / seconds,
    vmmCpuUsPerRequest: (cpuSeconds * 1e6) / requests,
    vmmCpuShare: cpuSeconds / seconds,
    kicksPerRequest: done.kicks / requests,
  };
}

/** The driver's time limit: a minute plus ten milliseconds a request, far beyond either server's pace. */
export const p9DriverTimeoutMs = (requests: number) => 60_000 + 10 * requests;

export async function measureP9DataPath(options: { workload: P9Workload; requests: number }): Promise<P9PathResult> {
  const { workload, requests } = options;
  const loop = new BlockingLoop();
  useFdWatcher(loop);
  const tree = p9PathTree();
  const memory = GuestMemory.allocate([{ gpa: 0, size: RAM_BYTES }]);
  const doorbellFd = check(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) as number, 'eventfd');
  const interruptFd = check(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) as number, 'eventfd'); // nobody waits on it
  const share = new Virtio9p('bench', memory, { root: tree.root, tag: 'bench' });
  const transport = new VirtioMmioTransport(share, memory, new EventfdInterrupt(interruptFd), { interruptMode: 'edge' });
  const doorbell = watchEventfd(doorbellFd, () => transport.notifyQueue(0));
  try {
    initialiseVirtioMmio(inProcessRegisters(transport), P9_PATH_FEATURES, [p9QueueLayout()], 'virtio-9p');
    const setup = p9DriverSetup(tree, { hostAddress: memory.regions[0].hostAddress, size: RAM_BYTES }, workload, requests, { kind: 'eventfd', doorbellFd });
    const { done, deviceCpuSeconds } = await runDriverThread<P9DriverDone>(new URL('./p9-driver-worker.js', import.meta.url), setup, {
      deviceCpu: cpuOfThisProcessBut,
      timeoutMs: p9DriverTimeoutMs(setup.warmup + requests),
      unblock: () => {}, // the driver spins: terminating it is enough
    });
    if (done.errors > 0) throw new Error(`${done.errors} of ${requests} 9p requests failed`);
    return p9PathResult(workload, requests, done, deviceCpuSeconds);
  } finally {
    doorbell.close();
    transport.reset();
    share.close();
    useFdWatcher(libuvWatcher);
    loop.close();
    memory.release();
    close(doorbellFd);
    close(interruptFd);
    tree.remove();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, fallback: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
  const workload = arg('--workload', 'walk');
  if (workload !== 'walk' && workload !== 'read') throw new Error(`--workload ${workload}: walk or read`);
  const requests = Number(arg('--requests', String(P9_REQUESTS[workload])));
  const vmm = arg('--vmm', 'tsvmm');
  if (vmm !== 'tsvmm' && vmm !== 'qemu') throw new Error(`--vmm ${vmm}: tsvmm or qemu`);
  const result = vmm === 'qemu' ? await measureQemuP9DataPath({ workload, requests }) : await measureP9DataPath({ workload, requests });
  console.log(JSON.stringify(result));
}
