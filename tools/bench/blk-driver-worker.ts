// The guest side of the virtio-blk data-path benchmark (blk-data-path.ts), in
// a thread of its own so that its work is not counted as the VMM's: a split
// virtqueue driver that keeps `depth` 4 KiB random reads in flight, rings the
// doorbell eventfd only when the device's avail_event asks for it
// (VIRTIO_F_EVENT_IDX, as Linux does) and sleeps in a blocking read of the
// interrupt eventfd between completions, as a vCPU in HLT would, then reads
// and acknowledges InterruptStatus where the device has one in shared
// memory (tsvmm's, answered there by the vCPU thread). The first
// `warmup` requests are not measured (the JIT compiles the device's hot
// path while they run, and QEMU's page cache and threads settle): the
// driver reports its thread id when the measured ones start.
import { parentPort, workerData } from 'node:worker_threads';
import { koffi } from '../../ffi/koffi.js';
import { gettid, read, write } from '../../ffi/libc.js';
import { VirtioInterruptStatus } from '../../src/devices/virtio/interrupt-status.js';
import { VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../../src/devices/virtio/virtio-constants.js';
import { VIRTIO_MMIO_INT_VRING } from '../../src/devices/virtio/virtio-mmio-registers.js';
import type { QueueLayout } from '../../src/devices/virtio/virtio-mmio-driver-setup.js';

export interface BlkDriverSetup {
  ram: { hostAddress: number; size: number };
  queue: QueueLayout;
  /** Guest-physical scratch for the requests' headers, data and status bytes. */
  buffers: number;
  doorbellFd: number;
  /** Blocking eventfd the device's interrupt line adds to. */
  interruptFd: number;
  /** The transport's InterruptStatus word (virtio-mmio), which Linux reads and acknowledges on every interrupt; none for vhost-user. */
  interruptStatus?: SharedArrayBuffer;
  depth: number;
  /** Requests run before the measured ones. */
  warmup: number;
  /** Requests measured. */
  requests: number;
  diskSectors: number;
}

/** 'measuring': the warm-up is over (the device side samples its CPU now); 'done': the measured requests are. */
export type BlkDriverMessage = { type: 'measuring'; tid: number } | { type: 'done'; elapsedNs: number; kicks: number; interrupts: number; errors: number };

const BLOCK = 4096;
const SECTOR = 512;
const HEADER = 16;
const VIRTIO_BLK_T_IN = 0;
const DESCRIPTORS_PER_REQUEST = 3;

function run(s: BlkDriverSetup): BlkDriverMessage {
  const memory = koffi.view(s.ram.hostAddress, s.ram.size) as ArrayBuffer;
  const ram = new DataView(memory);
  // Ring indices with Atomics, for the barriers the virtio ordering needs (src/devices/virtio/virtqueue.ts).
  const index16 = new Uint16Array(memory);
  const { size, desc, avail, used } = s.queue;
  const headerAt = (slot: number) => s.buffers + slot * HEADER;
  const dataAt = (slot: number) => s.buffers + s.depth * HEADER + slot * BLOCK;
  const statusAt = (slot: number) => s.buffers + s.depth * (HEADER + BLOCK) + slot;
  const writeDesc = (i: number, addr: number, len: number, flags: number, next: number) => {
    const o = desc + 16 * i;
    ram.setBigUint64(o, BigInt(addr), true);
    ram.setUint32(o + 8, len, true);
    ram.setUint16(o + 12, flags, true);
    ram.setUint16(o + 14, next, true);
  };
  for (let slot = 0; slot < s.depth; slot++) {
    const d = slot * DESCRIPTORS_PER_REQUEST;
    writeDesc(d, headerAt(slot), HEADER, VIRTQ_DESC_F_NEXT, d + 1);
    writeDesc(d + 1, dataAt(slot), BLOCK, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, d + 2);
    writeDesc(d + 2, statusAt(slot), 1, VIRTQ_DESC_F_WRITE, 0);
  }
  const usedEventAt = avail + 4 + 2 * size;
  const availEventAt = used + 4 + 8 * size;
  const one = new Uint8Array(new BigUint64Array([1n]).buffer);
  const counter = new Uint8Array(8);
  let seed = 0x2545f491;
  const blocks = Math.floor((s.diskSectors * SECTOR) / BLOCK);
  let availIdx = 0;
  let lastKickedIdx = 0;
  let lastUsed = 0;
  let submitted = 0;
  let completed = 0;
  let kicks = 0;
  let interrupts = 0;
  const status = s.interruptStatus === undefined ? undefined : new VirtioInterruptStatus(s.interruptStatus);
  let errors = 0;

  const submit = (slot: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    ram.setUint32(headerAt(slot), VIRTIO_BLK_T_IN, true);
    ram.setBigUint64(headerAt(slot) + 8, BigInt((seed % blocks) * (BLOCK / SECTOR)), true);
    ram.setUint8(statusAt(slot), 0xff);
    ram.setUint16(avail + 4 + 2 * (availIdx % size), slot * DESCRIPTORS_PER_REQUEST, true);
    availIdx = (availIdx + 1) & 0xffff;
    submitted++;
  };
  // Publishes the new avail index and kicks when the device asked to be told (vring_need_event).
  const publish = () => {
    Atomics.store(index16, (avail + 2) / 2, availIdx);
    const event = Atomics.load(index16, availEventAt / 2);
    if (((availIdx - event - 1) & 0xffff) < ((availIdx - lastKickedIdx) & 0xffff)) {
      write(s.doorbellFd, one, 8);
      kicks++;
    }
    lastKickedIdx = availIdx;
  };

  const total = s.warmup + s.requests;
  let start = 0n;
  // Counted from the end of the warm-up.
  const startMeasuring = () => {
    start = process.hrtime.bigint();
    kicks = interrupts = errors = 0;
    parentPort!.postMessage({ type: 'measuring', tid: gettid() as number } satisfies BlkDriverMessage);
  };
  if (s.warmup === 0) startMeasuring();
  for (let slot = 0; slot < s.depth && submitted < total; slot++) submit(slot);
  publish();
  while (completed < total) {
    Atomics.store(index16, usedEventAt / 2, lastUsed);
    if (Atomics.load(index16, (used + 2) / 2) === lastUsed) {
      if ((read(s.interruptFd, counter, 8) as number) !== 8) throw new Error(`interrupt eventfd read failed (errno ${koffi.errno()})`);
      interrupts++;
      if (status !== undefined) status.acknowledge(status.read() & VIRTIO_MMIO_INT_VRING);
    }
    const usedIdx = Atomics.load(index16, (used + 2) / 2);
    let resubmitted = false;
    while (lastUsed !== usedIdx) {
      const id = ram.getUint32(used + 4 + 8 * (lastUsed % size), true);
      lastUsed = (lastUsed + 1) & 0xffff;
      const slot = id / DESCRIPTORS_PER_REQUEST;
      if (ram.getUint8(statusAt(slot)) !== 0) errors++;
      if (++completed === s.warmup) startMeasuring();
      if (submitted < total) {
        submit(slot);
        resubmitted = true;
      }
    }
    if (resubmitted) publish();
  }
  return { type: 'done', elapsedNs: Number(process.hrtime.bigint() - start), kicks, interrupts, errors };
}

parentPort!.postMessage(run(workerData as BlkDriverSetup));
