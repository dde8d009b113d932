// What both devices of the virtio-net data-path benchmark get the same: the
// guest's RAM and its two queues, the features Linux takes over a stream
// backend, the frame size and the counts.
import { VIRTIO_F, featureBit } from '../../src/devices/virtio/virtio-constants.js';
import { VIRTIO_NET_F } from '../../src/devices/virtio/virtio-net-layout.js';
import type { NetDriverDoorbells, NetDriverSetup, NetWorkload } from './net-driver-worker.js';
import { ringLayout } from '../../src/devices/virtio/virtio-mmio-driver-setup.js';

export const NET_RAM_BYTES = 32 << 20;
/** Room for the driver's TX buffers (from 2 MiB on, net-driver-worker.ts). */
export const TX_AREA = 8 << 20;
/** tsvmm's and QEMU's virtio-net queues both hold 256. */
const QUEUE_SIZE = 256;
export const NET_QUEUES = [ringLayout(0x10000, QUEUE_SIZE), ringLayout(0x20000, QUEUE_SIZE)] as const;
export const NET_PATH_FEATURES = featureBit(VIRTIO_F.VERSION_1) | featureBit(VIRTIO_F.RING_EVENT_IDX) | featureBit(VIRTIO_NET_F.MRG_RXBUF);
/** Frame sizes: a full one at the default MTU, and one at passt's (65520: what a TCP stream through passt moves). */
export const NET_FRAME_SIZES = [1514, 65520] as const;
/** An ICMP echo of ping's default 56 bytes, as a frame. */
export const PING_FRAME_BYTES = 98;
/** Round trips before the measured ones, and measured. */
export const PING_WARMUP = 10_000;
export const PINGS = 40_000;
/**
 * Frames before the measured ones, for both devices (tsvmm's hot path is
 * compiled meanwhile), and measured, by size: each measured run lasts ~0.5 s
 * or more, as the CPU figures come from 10 ms ticks (100,000 small frames,
 * ~0.1 s, had left them ±10 %).
 */
export const NET_WARMUP = (frameBytes: number) => (frameBytes > 4096 ? 10_000 : 200_000);
export const NET_FRAMES = (frameBytes: number) => (frameBytes > 4096 ? 60_000 : 500_000);

/** The NIC's backend: a stream socket (`--net user`'s, passt's) or a tap. */
export type NetPathBackend = 'stream' | 'tap';

export interface NetPathLoad {
  backend: NetPathBackend;
  workload: NetWorkload;
  frameBytes: number;
  frames: number;
}

export function netDriverSetup(ram: NetDriverSetup['ram'], load: NetPathLoad, doorbells: NetDriverDoorbells, peerFd: number): NetDriverSetup {
  const txBuffer = Math.ceil((12 + load.frameBytes) / 4096) * 4096;
  return {
    ram,
    rx: NET_QUEUES[0],
    tx: NET_QUEUES[1],
    doorbells,
    peerFd,
    peer: load.backend === 'tap' ? 'packet' : 'stream',
    workload: load.workload,
    frameBytes: load.frameBytes,
    inFlight: Math.min(QUEUE_SIZE, Math.floor(TX_AREA / txBuffer)),
    warmup: load.workload === 'ping' ? PING_WARMUP : NET_WARMUP(load.frameBytes),
    frames: load.frames,
  };
}
