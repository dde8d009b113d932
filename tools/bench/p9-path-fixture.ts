// What both devices of the 9p data-path benchmark get the same: the guest's
// RAM and its one virtqueue, the share's tree (small files in directories
// for `walk`, one page-cached file for `read`), the message size and the
// read size Linux's client uses with tsvmm's and QEMU's servers alike.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { VIRTIO_F, featureBit } from '../../src/devices/virtio/virtio-constants.js';
import type { P9DriverSetup, P9Workload } from './p9-driver-worker.js';
import { scratchImage } from './scratch-image.js';
import { ringLayout, type QueueLayout } from '../../src/devices/virtio/virtio-mmio-driver-setup.js';

export const RAM_BYTES = 16 << 20;
/** QEMU's virtio-9p queue holds 128 requests (MAX_REQ); one is in flight at a time here. */
const QUEUE_SIZE = 128;
const QUEUE_BASE = 0x10000;
/** What Linux negotiates with a 9p device. */
export const P9_PATH_FEATURES = featureBit(VIRTIO_F.VERSION_1) | featureBit(VIRTIO_F.RING_INDIRECT_DESC) | featureBit(VIRTIO_F.RING_EVENT_IDX);
const DIRS = 10;
const FILES_PER_DIR = 100;
const FILE_MIB = 64;
/** Linux's 9p client over virtio: msize 512 KiB, and reads as large as the server's iounit (124 pages). */
const MSIZE = 512 * 1024;
const READ_BYTES = 124 * 4096;

/** Requests run before the measured ones, for both servers (tsvmm's hot path is compiled meanwhile). */
export const P9_WARMUP: Record<P9Workload, number> = { walk: 30_000, read: 3_000 };
export const P9_REQUESTS: Record<P9Workload, number> = { walk: 30_000, read: 5_000 };

export interface P9PathTree {
  root: string;
  remove(): void;
}

/** 1,000 small files in 10 directories and a 64 MiB file of non-zero data, in a temporary directory. */
export function p9PathTree(): P9PathTree & { file: string } {
  const image = scratchImage(FILE_MIB, 'tsvmm-p9-path-');
  const root = dirname(image.path);
  for (let d = 0; d < DIRS; d++) {
    mkdirSync(join(root, `d${d}`));
    for (let f = 0; f < FILES_PER_DIR; f++) writeFileSync(join(root, `d${d}`, `f${f}`), `file ${f} of directory ${d}\n`);
  }
  return { root, file: basename(image.path), remove: image.remove };
}

/** The driver's set-up but for how it signals the device. */
export function p9DriverSetup(
  tree: { file: string },
  ram: P9DriverSetup['ram'],
  workload: P9Workload,
  requests: number,
  signals: P9DriverSetup['signals'],
): P9DriverSetup {
  return {
    ram,
    queue: p9QueueLayout(),
    signals,
    workload,
    msize: MSIZE,
    dirs: DIRS,
    filesPerDir: FILES_PER_DIR,
    file: tree.file,
    fileBytes: FILE_MIB << 20,
    readBytes: READ_BYTES,
    warmup: P9_WARMUP[workload],
    requests,
  };
}

export function p9QueueLayout(): QueueLayout {
  return ringLayout(QUEUE_BASE, QUEUE_SIZE);
}
