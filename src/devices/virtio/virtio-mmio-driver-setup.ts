// Linux's virtio-mmio probe, as a driver tsvmm runs itself needs it (the
// data-path warm-up, the data-path benchmarks): features, its queues,
// DRIVER_OK, through whatever reaches the device's registers (tsvmm's
// transport called in process, QEMU's through qtest).
import type { BusDevice } from '../../bus/device.js';
import { VIRTIO_STATUS } from './virtio-constants.js';
import { VIRTIO_MMIO } from './virtio-mmio-registers.js';

export interface MmioRegisters {
  read32(offset: number): number;
  write32(offset: number, value: number): void;
}

/** A split virtqueue's guest-physical addresses. */
export interface QueueLayout {
  size: number;
  desc: number;
  avail: number;
  used: number;
}

/** Descriptors at `base`, the avail ring right after them, the used ring on the next page. */
export function ringLayout(base: number, size: number): QueueLayout {
  const desc = base;
  const avail = desc + 16 * size;
  const used = Math.ceil((avail + 6 + 2 * size) / 4096) * 4096;
  return { size, desc, avail, used };
}

/** The registers of a device model called in this process (a bus device, as the VMM's exit loop calls it). */
export function inProcessRegisters(device: BusDevice): MmioRegisters {
  const reg = new Uint8Array(4);
  const view = new DataView(reg.buffer);
  return {
    read32: (offset) => {
      device.read(offset, reg);
      return view.getUint32(0, true);
    },
    write32: (offset, value) => {
      view.setUint32(0, value, true);
      device.write(offset, reg);
    },
  };
}

/** `queues[i]` is queue i's layout. */
export function initialiseVirtioMmio(regs: MmioRegisters, features: bigint, queues: readonly QueueLayout[], device: string): void {
  const S = VIRTIO_STATUS;
  regs.write32(VIRTIO_MMIO.STATUS, 0);
  regs.write32(VIRTIO_MMIO.STATUS, S.ACKNOWLEDGE | S.DRIVER);
  regs.write32(VIRTIO_MMIO.DRIVER_FEATURES_SEL, 0);
  regs.write32(VIRTIO_MMIO.DRIVER_FEATURES, Number(features & 0xffff_ffffn));
  regs.write32(VIRTIO_MMIO.DRIVER_FEATURES_SEL, 1);
  regs.write32(VIRTIO_MMIO.DRIVER_FEATURES, Number(features >> 32n));
  regs.write32(VIRTIO_MMIO.STATUS, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
  if (!(regs.read32(VIRTIO_MMIO.STATUS) & S.FEATURES_OK)) throw new Error(`${device} refused features 0x${features.toString(16)}`);
  queues.forEach((queue, i) => {
    regs.write32(VIRTIO_MMIO.QUEUE_SEL, i);
    if (regs.read32(VIRTIO_MMIO.QUEUE_NUM_MAX) < queue.size) throw new Error(`${device}'s queue ${i} holds fewer than ${queue.size} entries`);
    regs.write32(VIRTIO_MMIO.QUEUE_NUM, queue.size);
    regs.write32(VIRTIO_MMIO.QUEUE_DESC_LOW, queue.desc);
    regs.write32(VIRTIO_MMIO.QUEUE_DRIVER_LOW, queue.avail);
    regs.write32(VIRTIO_MMIO.QUEUE_DEVICE_LOW, queue.used);
    regs.write32(VIRTIO_MMIO.QUEUE_READY, 1);
  });
  regs.write32(VIRTIO_MMIO.STATUS, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
}
