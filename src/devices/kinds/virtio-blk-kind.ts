// Catalog entry of virtio-blk (src/devices/virtio/virtio-blk.ts): a raw image
// the frontend opens and locks, served on the helper's main thread or, with
// `process=separate`, by its own jailed process. Disks are not machine-file
// `devices[]` entries: they come from the machine's `disks` and from --disk,
// in --disk syntax (src/block/disk-spec.ts), and are named vda, vdb, ...
import type { DiskSpec } from '../../block/disk-spec.js';
import type { VirtioDeviceKind } from '../device-kind.js';
import { VirtioBlkDevice } from '../virtio/virtio-blk-device.js';
import { VIRTIO_BLK_F } from '../virtio/virtio-blk.js';
import { VIRTIO_F, VIRTIO_ID, featureBit } from '../virtio/virtio-constants.js';

export interface VirtioBlkDefinition {
  type: 'virtio-blk';
  name: string;
  spec: DiskSpec;
}

/** The guest's name for disk `index` (Linux probes them in slot order). */
export function diskName(index: number): string {
  return `vd${String.fromCharCode(0x61 + index)}`;
}

/** Disk `index` (counting the machine's disks, then --disk) as a catalog entry. */
export function diskDevice(spec: DiskSpec, index: number): VirtioBlkDefinition {
  return { type: 'virtio-blk', name: diskName(index), spec };
}

const IMAGE = 'image';

export const virtioBlkKind: VirtioDeviceKind<VirtioBlkDefinition> = {
  type: 'virtio-blk',
  family: 'virtio',
  hosts: ['main-thread', 'device-process'],
  host: (d) => (d.spec.separateProcess ? 'device-process' : 'main-thread'),
  virtio: {
    deviceId: VIRTIO_ID.BLOCK,
    features: [
      VIRTIO_F.VERSION_1,
      VIRTIO_F.RING_INDIRECT_DESC,
      VIRTIO_F.RING_EVENT_IDX,
      VIRTIO_BLK_F.SIZE_MAX,
      VIRTIO_BLK_F.SEG_MAX,
      VIRTIO_BLK_F.BLK_SIZE,
      VIRTIO_BLK_F.FLUSH,
      VIRTIO_BLK_F.RO,
      VIRTIO_BLK_F.DISCARD,
      VIRTIO_BLK_F.WRITE_ZEROES,
    ].reduce((f, bit) => f | featureBit(bit), 0n),
  },
  queueCount: () => 1,
  label: 'disk',
  statisticsGroup: 'disks',
  bulkData: true,
  files: (d) => [{ role: IMAGE, file: { kind: 'disk-image', path: d.spec.path, readOnly: d.spec.readOnly, cache: d.spec.cache } }],
  build(d, env) {
    const disk = new VirtioBlkDevice(d.name, d.spec, env.file(IMAGE), env.memory, env.interrupt, env.notifyFds[0], env.log);
    return {
      transport: disk.transport,
      needs: { maxFileSize: disk.image.readOnly ? 0 : disk.image.size, ioUring: disk.backend.kind === 'io_uring', tapOffload: false },
      statistics: () => disk.statistics(),
      close: () => disk.close(),
    };
  },
};
