// What every device side of the virtio-blk data-path benchmark gets the
// same: the guest's RAM, where its one virtqueue and its request buffers
// sit, and the scratch image. tsvmm (blk-data-path.ts) and QEMU's
// qemu-storage-daemon (blk-data-path-qemu.ts) are driven identically, so
// that only the device differs.
import type { BlkDriverSetup } from './blk-driver-worker.js';
import { scratchImage } from './scratch-image.js';
import { ringLayout as ringLayoutAt } from '../../src/devices/virtio/virtio-mmio-driver-setup.js';

export const RAM_BYTES = 16 << 20;
export const QUEUE_SIZE = 256;
/** Guest-physical scratch for the requests' headers, data and status bytes. */
export const BUFFERS = 0x100000;
/**
 * Requests run before the measured ones, for both devices: tsvmm's hot path
 * is still being compiled for the first ten thousand or so (natively at QD 1
 * it cost ~18 µs a request over 40,000 requests but ~13 µs over 200,000).
 */
export const WARMUP_REQUESTS = 20_000;
const QUEUE_BASE = 0x10000;
const IMAGE_MIB = 64;

/** The split virtqueue's guest-physical addresses. */
export function ringLayout(): BlkDriverSetup['queue'] {
  return ringLayoutAt(QUEUE_BASE, QUEUE_SIZE);
}

/** A 64 MiB image of non-zero data (page-cached after the first pass: the VMM's cost, not the disk's, is measured). */
export function blkPathImage(): { path: string; remove(): void } {
  return scratchImage(IMAGE_MIB, 'tsvmm-blk-path-');
}
