// The virtio-blk data path alone, without KVM: the VMM's device stack as the
// helper runs it (virtio-mmio transport, VirtioBlk, the block engine, the
// doorbell eventfd watched on the event loop, the interrupt eventfd), driven
// by a guest-side driver in another thread (blk-driver-worker.ts) that talks
// to it only through shared memory and the two eventfds, as a guest does
// through KVM's ioeventfd and irqfd. What it measures is the VMM's own host
// CPU per request (every thread of this process but the driver's), at a
// given queue depth, natively on any host: the part of issue 17's data-path
// cost that is tsvmm's and not the guest kernel's.
// With --vmm qemu the same driver runs against QEMU's virtio-blk instead
// (qemu-storage-daemon over vhost-user: blk-data-path-qemu.ts).
// --loop says which loop the device waits in: the blocking loop tsvmm serves
// devices from (src/bus/blocking-loop.ts, the default), or Node's (libuv).
//   node dist/tools/bench/blk-data-path.js [--vmm tsvmm|qemu] [--depth N] [--requests N] [--engine io_uring|aio|sync] [--loop libuv|blocking]
import { openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { check, close, EFD_CLOEXEC, EFD_NONBLOCK, eventfd } from '../../ffi/libc.js';
import type { BlockEngine } from '../../src/block/disk-spec.js';
import { BlockingLoop } from '../../src/bus/blocking-loop.js';
import { EventfdInterrupt } from '../../src/bus/eventfd-signals.js';
import { libuvWatcher, useFdWatcher } from '../../src/bus/fd-watch.js';
import { VIRTIO_F, featureBit } from '../../src/devices/virtio/virtio-constants.js';
import { VirtioBlkDevice } from '../../src/devices/virtio/virtio-blk-device.js';
import { silentLogger } from '../../src/log.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { measureQemuBlkDataPath } from './blk-data-path-qemu.js';
import { runBlkDriver } from './blk-driver-run.js';
import { cpuOfThisProcessBut } from './driver-thread.js';
import type { BlkDriverSetup } from './blk-driver-worker.js';
import { BUFFERS, RAM_BYTES, WARMUP_REQUESTS, blkPathImage, ringLayout } from './blk-path-fixture.js';
import { initialiseVirtioMmio, inProcessRegisters } from '../../src/devices/virtio/virtio-mmio-driver-setup.js';

export interface BlkPathResult {
  depth: number;
  requests: number;
  engine: string;
  iops: number;
  /** Host CPU of every thread but the driver's, per request. */
  vmmCpuUsPerRequest: number;
  /** Share of one core the VMM's threads used. */
  vmmCpuShare: number;
  kicksPerRequest: number;
  interruptsPerRequest: number;
}

/** Linux's probe through the transport's registers; the queue's layout. */
function initialiseQueue(device: VirtioBlkDevice): BlkDriverSetup['queue'] {
  const queue = ringLayout();
  initialiseVirtioMmio(inProcessRegisters(device.transport), featureBit(VIRTIO_F.VERSION_1) | featureBit(VIRTIO_F.RING_EVENT_IDX), [queue], 'virtio-blk');
  return queue;
}

export type DeviceLoop = 'libuv' | 'blocking';

export async function measureBlkDataPath(options: { depth: number; requests: number; engine: BlockEngine; loop?: DeviceLoop }): Promise<BlkPathResult> {
  const loop = (options.loop ?? 'blocking') === 'blocking' ? new BlockingLoop() : null;
  if (loop) useFdWatcher(loop);
  const image = blkPathImage();
  const memory = GuestMemory.allocate([{ gpa: 0, size: RAM_BYTES }]);
  const doorbellFd = check(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) as number, 'eventfd');
  const interruptFd = check(eventfd(0, EFD_CLOEXEC) as number, 'eventfd');
  const imageFd = openSync(image.path, 'r+');
  const device = new VirtioBlkDevice(
    'vda',
    { path: image.path, readOnly: false, cache: 'writeback', engine: options.engine },
    imageFd,
    memory,
    new EventfdInterrupt(interruptFd),
    doorbellFd,
    silentLogger,
  );
  try {
    const setup: BlkDriverSetup = {
      ram: { hostAddress: memory.regions[0].hostAddress, size: RAM_BYTES },
      queue: initialiseQueue(device),
      buffers: BUFFERS,
      doorbellFd,
      interruptFd,
      interruptStatus: device.transport.interruptStatusShared,
      depth: options.depth,
      warmup: WARMUP_REQUESTS,
      requests: options.requests,
      diskSectors: device.blk.sectors,
    };
    const { done, deviceCpuSeconds: vmmCpu } = await runBlkDriver(setup, {
      deviceCpu: cpuOfThisProcessBut,
    });
    if (done.errors > 0) throw new Error(`${done.errors} requests failed`);
    const seconds = done.elapsedNs / 1e9;
    return {
      depth: options.depth,
      requests: options.requests,
      engine: device.backend.kind + (loop ? '' : ", Node's loop"),
      iops: options.requests / seconds,
      vmmCpuUsPerRequest: (vmmCpu * 1e6) / options.requests,
      vmmCpuShare: vmmCpu / seconds,
      kicksPerRequest: done.kicks / options.requests,
      interruptsPerRequest: done.interrupts / options.requests,
    };
  } finally {
    device.close();
    if (loop) {
      useFdWatcher(libuvWatcher);
      loop.close();
    }
    memory.release();
    close(doorbellFd);
    close(interruptFd);
    image.remove();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name: string, fallback: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : fallback);
  const depth = Number(arg('--depth', '1'));
  const requests = Number(arg('--requests', '20000'));
  const vmm = arg('--vmm', 'tsvmm');
  if (vmm !== 'tsvmm' && vmm !== 'qemu') throw new Error(`--vmm ${vmm}: tsvmm or qemu`);
  const result =
    vmm === 'qemu'
      ? await measureQemuBlkDataPath({ depth, requests })
      : await measureBlkDataPath({ depth, requests, engine: arg('--engine', 'async') as BlockEngine, loop: arg('--loop', 'blocking') as DeviceLoop });
  console.log(JSON.stringify(result));
}
