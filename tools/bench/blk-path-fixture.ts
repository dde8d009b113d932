// What every device side of the virtio-blk data-path benchmark gets the
// same: the guest's RAM, where its one virtqueue and its request buffers
// sit, and the scratch image. tsvmm (blk-data-path.ts) and QEMU's
// qemu-storage-daemon (blk-data-path-qemu.ts) are driven identically, so
// that only the device differs.
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlkDriverSetup } from './blk-driver-worker.js';

export const RAM_BYTES = 16 << 20;
export const QUEUE_SIZE = 256;
/** Guest-physical scratch for the requests' headers, data and status bytes. */
export const BUFFERS = 0x100000;
const QUEUE_BASE = 0x10000;
const IMAGE_MIB = 64;

/** The split virtqueue's guest-physical addresses: descriptors, the avail ring right after them, the used ring on the next page. */
export function ringLayout(): BlkDriverSetup['queue'] {
  const desc = QUEUE_BASE;
  const avail = desc + 16 * QUEUE_SIZE;
  const used = Math.ceil((avail + 6 + 2 * QUEUE_SIZE) / 4096) * 4096;
  return { size: QUEUE_SIZE, desc, avail, used };
}

/** A 64 MiB image of non-zero data (page-cached after the first pass: the VMM's cost, not the disk's, is measured). */
export function scratchImage(): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tsvmm-blk-path-'));
  const path = join(dir, 'disk.img');
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < IMAGE_MIB; i++) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
