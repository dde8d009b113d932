// A guest driver's view of a virtio-mmio device: 32-bit register accesses
// through the BusDevice interface, the Linux initialisation sequence, and a
// split queue laid out in guest memory (DriverQueue).
import type { BusDevice, InterruptLine } from '../../../src/bus/device.js';
import { VIRTIO_F, VIRTIO_STATUS, featureBit } from '../../../src/devices/virtio/virtio-constants.js';
import { VIRTIO_MMIO } from '../../../src/devices/virtio/virtio-mmio.js';
import type { GuestMemory } from '../../../src/memory/guest-memory.js';
import { DriverQueue, layoutAt } from './virtio-driver.js';

export class CountingIrq implements InterruptLine {
  edges = 0;
  level = false;
  levelChanges = 0;
  trigger(): void {
    this.edges++;
  }
  setLevel(level: boolean): void {
    this.level = level;
    this.levelChanges++;
  }
}

export class MmioDriver {
  private readonly buf = new Uint8Array(4);
  queue: DriverQueue | null = null;
  /** Every queue init() set up, by index (queue = queues[0]). */
  queues: DriverQueue[] = [];

  constructor(
    readonly dev: BusDevice,
    readonly mem: GuestMemory,
  ) {}

  read32(off: number): number {
    this.dev.read(off, this.buf);
    return (this.buf[0] | (this.buf[1] << 8) | (this.buf[2] << 16) | (this.buf[3] << 24)) >>> 0;
  }

  write32(off: number, v: number): void {
    this.buf[0] = v & 0xff;
    this.buf[1] = (v >>> 8) & 0xff;
    this.buf[2] = (v >>> 16) & 0xff;
    this.buf[3] = (v >>> 24) & 0xff;
    this.dev.write(off, this.buf);
  }

  get status(): number {
    return this.read32(VIRTIO_MMIO.STATUS);
  }

  deviceFeatures(): bigint {
    this.write32(VIRTIO_MMIO.DEVICE_FEATURES_SEL, 0);
    const lo = this.read32(VIRTIO_MMIO.DEVICE_FEATURES);
    this.write32(VIRTIO_MMIO.DEVICE_FEATURES_SEL, 1);
    const hi = this.read32(VIRTIO_MMIO.DEVICE_FEATURES);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  writeDriverFeatures(f: bigint): void {
    this.write32(VIRTIO_MMIO.DRIVER_FEATURES_SEL, 0);
    this.write32(VIRTIO_MMIO.DRIVER_FEATURES, Number(f & 0xffff_ffffn));
    this.write32(VIRTIO_MMIO.DRIVER_FEATURES_SEL, 1);
    this.write32(VIRTIO_MMIO.DRIVER_FEATURES, Number((f >> 32n) & 0xffff_ffffn));
  }

  /**
   * Linux's virtio_mmio + virtio_dev_probe sequence. `accept` filters the
   * offered features (default: take everything offered). Returns the
   * negotiated features, or null when FEATURES_OK did not stick.
   */
  init(opts: { accept?: (offered: bigint) => bigint; queueSize?: number; queueBase?: number; queues?: number } = {}): bigint | null {
    const S = VIRTIO_STATUS;
    this.write32(VIRTIO_MMIO.STATUS, 0);
    this.write32(VIRTIO_MMIO.STATUS, S.ACKNOWLEDGE);
    this.write32(VIRTIO_MMIO.STATUS, S.ACKNOWLEDGE | S.DRIVER);
    const offered = this.deviceFeatures();
    const f = opts.accept ? opts.accept(offered) : offered;
    this.writeDriverFeatures(f);
    this.write32(VIRTIO_MMIO.STATUS, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
    if (!(this.status & S.FEATURES_OK)) return null;
    this.queues = [];
    for (let i = 0; i < (opts.queues ?? 1); i++) {
      this.write32(VIRTIO_MMIO.QUEUE_SEL, i);
      const max = this.read32(VIRTIO_MMIO.QUEUE_NUM_MAX);
      const size = Math.min(opts.queueSize ?? max, max);
      // Each queue in its own 320 KiB, indirect tables included.
      const layout = layoutAt((opts.queueBase ?? 0x10000) + i * 0x50000, size);
      this.queues.push(new DriverQueue(this.mem, size, layout));
      this.setupQueue(i, size, layout.desc, layout.avail, layout.used);
    }
    this.queue = this.queues[0];
    this.write32(VIRTIO_MMIO.STATUS, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    return f;
  }

  setupQueue(index: number, size: number, desc: number, avail: number, used: number): void {
    this.write32(VIRTIO_MMIO.QUEUE_SEL, index);
    this.write32(VIRTIO_MMIO.QUEUE_NUM, size);
    this.write32(VIRTIO_MMIO.QUEUE_DESC_LOW, desc % 2 ** 32);
    this.write32(VIRTIO_MMIO.QUEUE_DESC_HIGH, Math.floor(desc / 2 ** 32));
    this.write32(VIRTIO_MMIO.QUEUE_DRIVER_LOW, avail % 2 ** 32);
    this.write32(VIRTIO_MMIO.QUEUE_DRIVER_HIGH, Math.floor(avail / 2 ** 32));
    this.write32(VIRTIO_MMIO.QUEUE_DEVICE_LOW, used % 2 ** 32);
    this.write32(VIRTIO_MMIO.QUEUE_DEVICE_HIGH, Math.floor(used / 2 ** 32));
    this.write32(VIRTIO_MMIO.QUEUE_READY, 1);
  }

  notify(queue = 0): void {
    this.write32(VIRTIO_MMIO.QUEUE_NOTIFY, queue);
  }

  ackInterrupts(): number {
    const s = this.read32(VIRTIO_MMIO.INTERRUPT_STATUS);
    this.write32(VIRTIO_MMIO.INTERRUPT_ACK, s);
    return s;
  }

  configRead(offset: number, width: 1 | 2 | 4 | 8): bigint {
    const b = new Uint8Array(width);
    this.dev.read(VIRTIO_MMIO.CONFIG + offset, b);
    let v = 0n;
    for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    return v;
  }
}

export const ALL_RING_FEATURES = featureBit(VIRTIO_F.RING_EVENT_IDX) | featureBit(VIRTIO_F.RING_INDIRECT_DESC);

/** Waits (on the event loop) until `cond` holds; fails after `ms`. */
export async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the device');
    await new Promise((r) => setImmediate(r));
  }
}
