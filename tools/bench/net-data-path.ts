// The virtio-net data path alone, without KVM: tsvmm's NIC as the helper
// runs it (virtio-mmio transport, VirtioNet, the doorbell eventfds on the
// blocking loop) with either backend: the stream passt is reached through,
// or a tap (as root; tap-far-end.ts makes one). A guest-side driver in
// another thread (net-driver-worker.ts) holds the far end too: the stream's
// other socket, or a packet socket on the tap's host side. It measures the
// VMM's host CPU per frame (every thread of this process but the driver's)
// and frames per second, guest → far end (send), far end → guest
// (receive), and round trips one at a time (ping).
// With --vmm qemu the same driver runs against QEMU's virtio-net with
// `-netdev stream` or `-netdev tap` (net-data-path-qemu.ts).
//   node dist/tools/bench/net-data-path.js [--vmm tsvmm|qemu] [--backend stream|tap] [--workload send|receive|ping] [--frame-bytes N] [--frames N]
import { fileURLToPath } from 'node:url';
import { AF_UNIX, check, close, EFD_CLOEXEC, EFD_NONBLOCK, eventfd, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, socketpair } from '../../ffi/libc.js';
import { BlockingLoop } from '../../src/bus/blocking-loop.js';
import { EventfdInterrupt, watchEventfd } from '../../src/bus/eventfd-signals.js';
import { libuvWatcher, useFdWatcher } from '../../src/bus/fd-watch.js';
import { VirtioMmioTransport } from '../../src/devices/virtio/virtio-mmio.js';
import { VirtioNet } from '../../src/devices/virtio/virtio-net.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import type { NetBackend } from '../../src/net/net-backend.js';
import { StreamBackend } from '../../src/net/stream-backend.js';
import { TapBackend, openTap } from '../../src/net/tap-backend.js';
import { cpuOfThisProcessBut, runDriverThread } from './driver-thread.js';
import type { NetDriverDone, NetWorkload } from './net-driver-worker.js';
import { measureQemuNetDataPath } from './net-data-path-qemu.js';
import { NET_FRAMES, NET_PATH_FEATURES, NET_QUEUES, NET_RAM_BYTES, PING_FRAME_BYTES, PINGS, netDriverSetup, type NetPathBackend, type NetPathLoad } from './net-path-fixture.js';
import { BENCH_TAP, withTapFarEnd } from './tap-far-end.js';
import { initialiseVirtioMmio, inProcessRegisters } from '../../src/devices/virtio/virtio-mmio-driver-setup.js';

export interface NetPathResult {
  backend: NetPathBackend;
  workload: NetWorkload;
  frameBytes: number;
  frames: number;
  framesPerSecond: number;
  /** Host CPU of the device side per frame (QEMU: with what qtest itself cost taken out). */
  vmmCpuUsPerFrame: number;
  vmmCpuShare: number;
  kicksPerFrame: number;
  /** QEMU only: as measured, before qtest's cost was taken out, and that cost. */
  measuredCpuUsPerFrame?: number;
  measuredFramesPerSecond?: number;
  qtestCpuUsPerFrame?: number;
}

/** What a driver's run comes to; `seconds`: the run's wall time, where it is not the driver's. */
export function netPathResult(load: NetPathLoad, done: NetDriverDone, cpuSeconds: number, seconds = done.elapsedNs / 1e9): NetPathResult {
  const { frames } = load;
  return {
    ...load,
    framesPerSecond: frames / seconds,
    vmmCpuUsPerFrame: (cpuSeconds * 1e6) / frames,
    vmmCpuShare: cpuSeconds / seconds,
    kicksPerFrame: done.kicks / frames,
  };
}

/** The driver's time limit: a minute plus a millisecond a frame, far beyond either device's pace. */
export const netDriverTimeoutMs = (frames: number) => 60_000 + frames;

export async function measureNetDataPath(load: NetPathLoad): Promise<NetPathResult> {
  if (load.backend === 'tap') return withTapFarEnd((peerFd) => measureWith(load, new TapBackend(openTap(BENCH_TAP), BENCH_TAP), peerFd));
  const sockets = new Int32Array(2);
  check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sockets) as number, 'socketpair');
  try {
    return await measureWith(load, new StreamBackend(sockets[0], 'the benchmark'), sockets[1]);
  } finally {
    close(sockets[1]);
  }
}

/** tsvmm's NIC on `backend` (closed with it), the driver holding `peerFd`. */
async function measureWith(load: NetPathLoad, backend: NetBackend, peerFd: number): Promise<NetPathResult> {
  const { frames } = load;
  const loop = new BlockingLoop();
  useFdWatcher(loop);
  const memory = GuestMemory.allocate([{ gpa: 0, size: NET_RAM_BYTES }]);
  const doorbellFds = [0, 1].map(() => check(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) as number, 'eventfd'));
  const interruptFd = check(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) as number, 'eventfd'); // nobody waits on it
  const nic = new VirtioNet('bench', backend, memory, { mac: Uint8Array.from([0x52, 0x54, 0, 0x12, 0x34, 0x56]) });
  const transport = new VirtioMmioTransport(nic, memory, new EventfdInterrupt(interruptFd), { interruptMode: 'edge' });
  const doorbells = doorbellFds.map((fd, queue) => watchEventfd(fd, () => transport.notifyQueue(queue)));
  try {
    initialiseVirtioMmio(inProcessRegisters(transport), NET_PATH_FEATURES, NET_QUEUES, 'virtio-net');
    const setup = netDriverSetup({ hostAddress: memory.regions[0].hostAddress, size: NET_RAM_BYTES }, load, { kind: 'eventfd', rxFd: doorbellFds[0], txFd: doorbellFds[1] }, peerFd);
    const { done, deviceCpuSeconds } = await runDriverThread<NetDriverDone>(new URL('./net-driver-worker.js', import.meta.url), setup, {
      deviceCpu: cpuOfThisProcessBut,
      timeoutMs: netDriverTimeoutMs(setup.warmup + frames),
      unblock: () => {}, // the driver never blocks
    });
    if (done.errors > 0) throw new Error(`${done.errors} of ${frames} frames arrived wrong`);
    return netPathResult(load, done, deviceCpuSeconds);
  } finally {
    for (const d of doorbells) d.close();
    transport.reset();
    nic.close(); // and its backend
    useFdWatcher(libuvWatcher);
    loop.close();
    memory.release();
    for (const fd of [...doorbellFds, interruptFd]) close(fd);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, fallback: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
  const workload = arg('--workload', 'send');
  if (workload !== 'send' && workload !== 'receive' && workload !== 'ping') throw new Error(`--workload ${workload}: send, receive or ping`);
  const frameBytes = Number(arg('--frame-bytes', workload === 'ping' ? String(PING_FRAME_BYTES) : '1514'));
  const frames = Number(arg('--frames', String(workload === 'ping' ? PINGS : NET_FRAMES(frameBytes))));
  const vmm = arg('--vmm', 'tsvmm');
  if (vmm !== 'tsvmm' && vmm !== 'qemu') throw new Error(`--vmm ${vmm}: tsvmm or qemu`);
  const backend = arg('--backend', 'stream');
  if (backend !== 'stream' && backend !== 'tap') throw new Error(`--backend ${backend}: stream or tap`);
  const load = { backend, workload, frameBytes, frames } as const;
  const result = vmm === 'qemu' ? await measureQemuNetDataPath(load) : await measureNetDataPath(load);
  console.log(JSON.stringify(result));
}
