// The reference for blk-data-path.ts: the same guest-side driver, the same
// RAM, rings and image, but QEMU's virtio-blk as the device —
// qemu-storage-daemon's vhost-user-blk export, to which this process is the
// vhost-user frontend, as QEMU is to it when it runs a guest. The driver's
// doorbell is the kick eventfd and its interrupt the call eventfd, as KVM's
// ioeventfd and irqfd would be; the CPU measured is the daemon's, all its
// threads.
import { statSync } from 'node:fs';
import { check, close, EFD_CLOEXEC, EFD_NONBLOCK, eventfd, F_GETFL, F_SETFL, fcntl, O_NONBLOCK } from '../../ffi/libc.js';
import { featureBit, VIRTIO_F } from '../../src/devices/virtio/virtio-constants.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import type { BlkPathResult } from './blk-data-path.js';
import { runBlkDriver } from './blk-driver-run.js';
import type { BlkDriverSetup } from './blk-driver-worker.js';
import { BUFFERS, RAM_BYTES, WARMUP_REQUESTS, blkPathImage, ringLayout } from './blk-path-fixture.js';
import { startStorageDaemon, type StorageDaemon } from './qemu-storage-daemon.js';
import { VhostUserFrontend } from './vhost-user-frontend.js';
import { snapshotCpu } from './vmm-cpu.js';

const QUEUE_INDEX = 0;
/** What the driver worker needs and nothing more: no VHOST_USER_F_PROTOCOL_FEATURES, so the backend enables the ring with its kick fd. */
const FEATURES = featureBit(VIRTIO_F.VERSION_1) | featureBit(VIRTIO_F.RING_EVENT_IDX);

export async function measureQemuBlkDataPath(options: { depth: number; requests: number }): Promise<BlkPathResult> {
  const image = blkPathImage();
  const layout = [{ gpa: 0, size: RAM_BYTES }];
  const memfd = GuestMemory.createSharedRam(layout, false).fd; // a memfd, as QEMU is given elsewhere
  const memory = GuestMemory.allocate(layout, { memfd });
  const kickFd = check(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) as number, 'eventfd');
  const callFd = check(eventfd(0, EFD_CLOEXEC) as number, 'eventfd');
  let daemon: StorageDaemon | undefined;
  let frontend: VhostUserFrontend | undefined;
  try {
    daemon = await startStorageDaemon(image.path);
    const queue = ringLayout();
    frontend = VhostUserFrontend.connect(daemon.socketPath);
    handOverQueue(frontend, memory, memfd, queue, kickFd, callFd);
    const setup: BlkDriverSetup = {
      ram: { hostAddress: memory.regions[0].hostAddress, size: RAM_BYTES },
      queue,
      buffers: BUFFERS,
      doorbellFd: kickFd,
      interruptFd: callFd,
      depth: options.depth,
      warmup: WARMUP_REQUESTS,
      requests: options.requests,
      diskSectors: statSync(image.path).size / 512,
    };
    const { done, deviceCpuSeconds } = await runBlkDriver(setup, { deviceCpu: () => snapshotCpu(daemon!.pid), deviceFailure: daemon.exited() });
    if (done.errors > 0) throw new Error(`${done.errors} requests failed`);
    const seconds = done.elapsedNs / 1e9;
    return {
      depth: options.depth,
      requests: options.requests,
      engine: `qemu-storage-daemon ${daemon.aio}`,
      iops: options.requests / seconds,
      vmmCpuUsPerRequest: (deviceCpuSeconds * 1e6) / options.requests,
      vmmCpuShare: deviceCpuSeconds / seconds,
      kicksPerRequest: done.kicks / options.requests,
      interruptsPerRequest: done.interrupts / options.requests,
    };
  } catch (e) {
    throw daemon ? daemon.withLog(e) : e; // whatever failed once the daemon ran, its stderr may say why
  } finally {
    frontend?.close();
    await daemon?.stop();
    memory.release();
    close(memfd);
    close(kickFd);
    close(callFd);
    image.remove();
  }
}

/** The vhost-user handshake for one virtqueue, as QEMU's vhost-user-blk device performs it when the guest sets DRIVER_OK. */
function handOverQueue(
  frontend: VhostUserFrontend,
  memory: GuestMemory,
  memfd: number,
  queue: BlkDriverSetup['queue'],
  kickFd: number,
  callFd: number,
): void {
  frontend.setOwner();
  const offered = frontend.getFeatures();
  if ((offered & FEATURES) !== FEATURES) throw new Error(`vhost-user-blk backend lacks VERSION_1 or EVENT_IDX (offers 0x${offered.toString(16)})`);
  frontend.setFeatures(FEATURES);
  let mmapOffset = 0;
  frontend.setMemTable(
    memory.regions.map((r) => {
      const region = { guestPhysAddr: r.gpa, size: r.size, userspaceAddr: r.hostAddress, mmapOffset, fd: memfd };
      mmapOffset += r.size; // createSharedRam lays the regions out back to back
      return region;
    }),
  );
  frontend.setVringNum(QUEUE_INDEX, queue.size);
  frontend.setVringBase(QUEUE_INDEX, 0);
  // The backend translates ring addresses through the table's userspace addresses: ours.
  const host = (gpa: number) => memory.hostAddress(gpa, 1)!;
  frontend.setVringAddr(QUEUE_INDEX, { desc: host(queue.desc), avail: host(queue.avail), used: host(queue.used) });
  frontend.setVringCall(QUEUE_INDEX, callFd);
  frontend.setVringKick(QUEUE_INDEX, kickFd);
  frontend.settle();
  // The daemon makes every descriptor it receives non-blocking, and an
  // eventfd's flags are shared with its duplicates; the driver sleeps in a
  // blocking read of the call eventfd, so make it blocking again.
  check(fcntl(callFd, F_SETFL, check(fcntl(callFd, F_GETFL, 0) as number, 'fcntl') & ~O_NONBLOCK) as number, 'fcntl');
}
