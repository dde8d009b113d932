import { describe, expect, it } from 'vitest';
import { testGuestRam } from '../../support/test-guest-ram.js';
import { VIRTIO_F, VIRTIO_STATUS, featureBit } from '../../../src/devices/virtio/virtio-constants.js';
import type { VirtioDevice, VirtioDeviceContext } from '../../../src/devices/virtio/virtio-device.js';
import { TSVMM_VENDOR_ID, VIRTIO_MMIO, VIRTIO_MMIO_MAGIC, VirtioMmioTransport } from '../../../src/devices/virtio/virtio-mmio.js';
import { Prng } from '../../memory/dma-test-support.js';
import { CountingIrq, MmioDriver } from './mmio-driver.js';

const S = VIRTIO_STATUS;
const R = VIRTIO_MMIO;
const { mem } = testGuestRam(1024 * 1024);

class FakeDevice implements VirtioDevice {
  readonly name = 'fake';
  readonly deviceId = 42;
  readonly deviceFeatures = featureBit(VIRTIO_F.VERSION_1) | featureBit(VIRTIO_F.RING_EVENT_IDX) | featureBit(3) | featureBit(VIRTIO_F.RING_INDIRECT_DESC);
  readonly queueMaxSizes = [16, 8];
  readonly configSize = 12;
  config = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  activations = 0;
  resets = 0;
  notified: number[] = [];
  ctx: VirtioDeviceContext | null = null;
  refuse = false;
  readConfig(offset: number, data: Uint8Array): void {
    data.set(this.config.subarray(offset, offset + data.length));
  }
  writeConfig(offset: number, data: Uint8Array): void {
    this.config.set(data, offset);
  }
  acceptFeatures(): boolean {
    return !this.refuse;
  }
  activate(ctx: VirtioDeviceContext): void {
    this.activations++;
    this.ctx = ctx;
  }
  queueNotify(index: number): void {
    this.notified.push(index);
  }
  reset(): void {
    this.resets++;
  }
  disabled: number[] = [];
  queueDisabled(index: number): void {
    this.disabled.push(index);
  }
}

function make(mode: 'edge' | 'level' = 'edge') {
  const dev = new FakeDevice();
  const irq = new CountingIrq();
  const errors: string[] = [];
  const t = new VirtioMmioTransport(dev, mem, irq, { interruptMode: mode, onError: (m) => errors.push(m) });
  return { dev, irq, t, d: new MmioDriver(t, mem), errors };
}

describe('virtio-mmio registers', () => {
  it('identification, absent shared memory, config generation', () => {
    const { t, d } = make();
    expect(d.read32(R.MAGIC_VALUE)).toBe(VIRTIO_MMIO_MAGIC);
    expect(d.read32(R.VERSION)).toBe(2);
    expect(d.read32(R.DEVICE_ID)).toBe(42);
    expect(d.read32(R.VENDOR_ID)).toBe(TSVMM_VENDOR_ID);
    d.write32(R.SHM_SEL, 0);
    for (const r of [R.SHM_LEN_LOW, R.SHM_LEN_HIGH, R.SHM_BASE_LOW, R.SHM_BASE_HIGH]) expect(d.read32(r)).toBe(0xffffffff);
    expect(d.read32(R.CONFIG_GENERATION)).toBe(0);
    t.signalConfigChange();
    expect(d.read32(R.CONFIG_GENERATION)).toBe(1);
    expect(t.notifyOffset).toBe(0x50);
  });

  it('feature words through the selector', () => {
    const { d, dev } = make();
    expect(d.deviceFeatures()).toBe(dev.deviceFeatures);
    d.write32(R.DEVICE_FEATURES_SEL, 2);
    expect(d.read32(R.DEVICE_FEATURES)).toBe(0);
    d.write32(R.DEVICE_FEATURES_SEL, 0xffffffff);
    expect(d.read32(R.DEVICE_FEATURES)).toBe(0);
  });

  it('negotiation: VERSION_1 required, only offered bits, device veto, FEATURES_OK reads back', () => {
    const { d, dev, t } = make();
    expect(d.init({ accept: (f) => f & ~featureBit(VIRTIO_F.VERSION_1) })).toBeNull();
    expect(d.status & S.FEATURES_OK).toBe(0);
    expect(d.init({ accept: (f) => f | featureBit(5) })).toBeNull();
    dev.refuse = true;
    expect(d.init()).toBeNull();
    dev.refuse = false;
    const f = d.init({ accept: (o) => o & ~featureBit(3) });
    expect(f).not.toBeNull();
    expect(t.features).toBe(f);
    expect(d.status).toBe(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    expect(dev.activations).toBe(1);
    expect(t.queues[0].eventIdx).toBe(true);
    expect(t.queues[0].indirect).toBe(true);
    // features cannot change after FEATURES_OK
    d.writeDriverFeatures(0n);
    expect(t.features).toBe(f);
  });

  it('status: DRIVER_OK needs FEATURES_OK, bits cannot be cleared, 0 resets everything', () => {
    const { d, dev, t, irq } = make();
    d.write32(R.STATUS, S.ACKNOWLEDGE | S.DRIVER | S.DRIVER_OK);
    expect(d.status & S.DRIVER_OK).toBe(0);
    expect(dev.activations).toBe(0);
    d.init();
    d.write32(R.STATUS, S.ACKNOWLEDGE);
    expect(d.status).toBe(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
    d.write32(R.STATUS, d.status | S.DEVICE_NEEDS_RESET); // not the driver's bit to set
    expect(d.status & S.DEVICE_NEEDS_RESET).toBe(0);
    t.signalUsed(t.queues[0]);
    t.signalConfigChange();
    expect(d.read32(R.INTERRUPT_STATUS)).toBe(2);
    expect(irq.edges).toBe(1);
    d.write32(R.STATUS, 0);
    expect(dev.resets).toBeGreaterThanOrEqual(2);
    expect(d.status).toBe(0);
    expect(d.read32(R.INTERRUPT_STATUS)).toBe(0);
    expect(t.features).toBe(0n);
    d.write32(R.QUEUE_SEL, 0);
    expect(d.read32(R.QUEUE_READY)).toBe(0);
    expect(d.read32(R.QUEUE_DESC_LOW)).toBe(0);
  });

  it('queue registers: selection, sizes, readiness, hostile values', () => {
    const { d, t, dev } = make();
    d.write32(R.STATUS, S.ACKNOWLEDGE | S.DRIVER);
    d.writeDriverFeatures(featureBit(VIRTIO_F.VERSION_1));
    d.write32(R.STATUS, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
    d.write32(R.QUEUE_SEL, 1);
    expect(d.read32(R.QUEUE_NUM_MAX)).toBe(8);
    d.write32(R.QUEUE_SEL, 2);
    expect(d.read32(R.QUEUE_NUM_MAX)).toBe(0);
    d.write32(R.QUEUE_NUM, 4); // no such queue: ignored
    d.write32(R.QUEUE_READY, 1);
    expect(d.read32(R.QUEUE_READY)).toBe(0);
    // a good queue 0
    d.setupQueue(0, 16, 0x1000, 0x2000, 0x3000);
    expect(d.read32(R.QUEUE_READY)).toBe(1);
    // changes while ready are ignored
    d.write32(R.QUEUE_NUM, 2);
    d.write32(R.QUEUE_DESC_LOW, 0x5000);
    expect(t.queues[0].size).toBe(16);
    expect(d.read32(R.QUEUE_DESC_LOW)).toBe(0x1000);
    // QueueReady 0 stops the queue and reads back 0 (Linux checks); the
    // device drops the queue's work in flight, once
    d.write32(R.QUEUE_READY, 0);
    expect(d.read32(R.QUEUE_READY)).toBe(0);
    expect(t.broken).toBe(false);
    expect(dev.disabled).toEqual([0]);
    d.write32(R.QUEUE_READY, 0);
    expect(dev.disabled).toEqual([0]);
    // queue 1 with a size that is not a power of two: the device needs a reset
    d.setupQueue(1, 6, 0x4000, 0x5000, 0x6000);
    expect(d.read32(R.QUEUE_READY)).toBe(0);
    expect(d.status & S.DEVICE_NEEDS_RESET).toBe(S.DEVICE_NEEDS_RESET);
    expect(t.brokenBecause).toMatch(/power of two/);
    d.write32(R.STATUS, 0);
    expect(t.broken).toBe(false);
  });

  it('queue addresses outside RAM or 64-bit garbage mark the device broken', () => {
    for (const [desc, avail, used] of [
      [0x1000, 0x2000, 0x10_0000_0000],
      [2 ** 40, 0x2000, 0x3000],
      [0x1000, 0xff_fff0, 0x3000],
      [0x1008, 0x2000, 0x3000],
    ]) {
      const { d, t } = make();
      d.write32(R.STATUS, S.ACKNOWLEDGE | S.DRIVER);
      d.writeDriverFeatures(featureBit(VIRTIO_F.VERSION_1));
      d.write32(R.STATUS, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
      d.setupQueue(0, 16, desc, avail, used);
      d.write32(R.QUEUE_DESC_HIGH, 0xffffffff);
      expect(t.broken).toBe(true);
      expect(d.read32(R.QUEUE_READY)).toBe(0);
    }
  });

  it('notifications: only after DRIVER_OK, only for ready queues, any value is safe', () => {
    const { d, dev, t } = make();
    d.notify(0);
    expect(dev.notified).toEqual([]);
    d.init();
    d.notify(0);
    d.notify(1); // not set up
    d.notify(0xffffffff);
    t.notifyQueue(-1);
    t.notifyQueue(NaN);
    t.notifyQueue(0);
    expect(dev.notified).toEqual([0, 0]);
  });

  it('without EVENT_IDX the reason is up when used.idx moves, raised once: a polling driver finds it and its ACK clears it', () => {
    const { t, d, irq } = make('edge');
    d.init({ accept: (offered) => offered & ~featureBit(VIRTIO_F.RING_EVENT_IDX) });
    const q = t.queues[0];
    q.pushUsed(0, 0);
    // The driver, on another vCPU, polls used.idx: it reads InterruptStatus and acknowledges the moment the index moves.
    let seen = -1;
    const publish = q.publishUsed.bind(q);
    q.publishUsed = () => {
      publish();
      seen = d.read32(R.INTERRUPT_STATUS);
      d.write32(R.INTERRUPT_ACK, seen);
    };
    t.signalUsed(q);
    expect(seen).toBe(1);
    expect(d.read32(R.INTERRUPT_STATUS)).toBe(0);
    expect(irq.edges).toBe(1);
  });

  it('interrupts: status bits, ACK, edge pulses and level line', () => {
    const edge = make('edge');
    edge.d.init();
    const q = edge.t.queues[0];
    q.pushUsed(0, 0);
    edge.t.signalUsed(q);
    expect(edge.irq.edges).toBe(1);
    expect(edge.d.ackInterrupts()).toBe(1);
    expect(edge.d.read32(R.INTERRUPT_STATUS)).toBe(0);
    const level = make('level');
    level.d.init();
    const lq = level.t.queues[0];
    lq.pushUsed(0, 0);
    level.t.signalUsed(lq);
    expect(level.irq.level).toBe(true);
    level.t.signalConfigChange();
    expect(level.d.read32(R.INTERRUPT_STATUS)).toBe(3);
    level.d.write32(R.INTERRUPT_ACK, 1);
    expect(level.irq.level).toBe(true);
    level.d.write32(R.INTERRUPT_ACK, 2);
    expect(level.irq.level).toBe(false);
    expect(level.irq.edges).toBe(0);
  });

  it('one interrupt covers what is raised before the driver reads InterruptStatus; after the read, the next reason sends one', () => {
    const { d, t, irq } = make('edge');
    d.init({ queues: 2 });
    const [rx, tx] = t.queues;
    tx.pushUsed(0, 0);
    t.signalUsed(tx);
    expect(irq.edges).toBe(1);
    // The handler that edge runs has yet to read the register: it will find both queues' news.
    rx.pushUsed(0, 0);
    t.signalUsed(rx);
    t.signalConfigChange();
    expect(irq.edges).toBe(1);
    expect(d.ackInterrupts()).toBe(3);
    t.signalConfigChange();
    expect(irq.edges).toBe(2);
    // A read, even with nothing acknowledged, lets the next reason interrupt again.
    expect(d.read32(R.INTERRUPT_STATUS)).toBe(2);
    t.signalConfigChange();
    expect(irq.edges).toBe(3);
    // A reset forgets the interrupt sent.
    d.init({ queues: 2 });
    t.queues[0].pushUsed(0, 0);
    t.signalUsed(t.queues[0]);
    expect(irq.edges).toBe(4);
  });

  it('an ACK clears only what the driver read: a completion raised in between survives a late (posted) ACK', () => {
    const noEventIdx = { accept: (f: bigint) => f & ~featureBit(VIRTIO_F.RING_EVENT_IDX) }; // every completion interrupts
    const { d, t, irq } = make('edge');
    d.init(noEventIdx);
    const q = t.queues[0];
    q.pushUsed(0, 0);
    t.signalUsed(q);
    expect(d.read32(R.INTERRUPT_STATUS)).toBe(1); // the driver's interrupt handler reads...
    q.pushUsed(1, 0); // ...a completion comes in before its ACK reaches the device...
    t.signalUsed(q);
    expect(irq.edges).toBe(2);
    d.write32(R.INTERRUPT_ACK, 1); // ...and the ACK, sent before, arrives after it
    expect(d.read32(R.INTERRUPT_STATUS)).toBe(1); // the second interrupt still finds its reason
    d.write32(R.INTERRUPT_ACK, 1);
    expect(d.read32(R.INTERRUPT_STATUS)).toBe(0);
    // Level-triggered: the line stays up until what was raised is acknowledged.
    const level = make('level');
    level.d.init(noEventIdx);
    const lq = level.t.queues[0];
    lq.pushUsed(0, 0);
    level.t.signalUsed(lq);
    expect(level.d.read32(R.INTERRUPT_STATUS)).toBe(1);
    lq.pushUsed(1, 0);
    level.t.signalUsed(lq);
    level.d.write32(R.INTERRUPT_ACK, 1);
    expect(level.irq.level).toBe(true);
    expect(level.d.read32(R.INTERRUPT_STATUS)).toBe(1);
    level.d.write32(R.INTERRUPT_ACK, 1);
    expect(level.irq.level).toBe(false);
  });

  it('config space: any width, bounds-checked; registers need 32-bit accesses', () => {
    const { d, t, dev } = make();
    expect(d.configRead(0, 1)).toBe(1n);
    expect(d.configRead(2, 2)).toBe(0x0403n);
    expect(d.configRead(4, 8)).toBe(0x0c0b0a0908070605n);
    expect(d.configRead(10, 4)).toBe(0n); // runs past the end
    expect(d.configRead(0x1000, 4)).toBe(0n);
    t.write(R.CONFIG + 1, new Uint8Array([0xaa]));
    expect(dev.config[1]).toBe(0xaa);
    t.write(R.CONFIG + 11, new Uint8Array([1, 2])); // past the end: ignored
    expect(dev.config[11]).toBe(12);
    const b = new Uint8Array(2);
    t.read(R.MAGIC_VALUE, b);
    expect(Array.from(b)).toEqual([0, 0]);
    t.write(R.STATUS, new Uint8Array([1]));
    expect(d.status).toBe(0);
    const c = new Uint8Array(4);
    t.read(R.MAGIC_VALUE + 1, c);
    expect(Array.from(c)).toEqual([0, 0, 0, 0]);
  });

  it('random register writes in random states never throw (20000 writes)', () => {
    const rng = new Prng(31337);
    for (let run = 0; run < 20; run++) {
      const { t, d } = make(rng.chance(0.5) ? 'edge' : 'level');
      if (rng.chance(0.5)) d.init();
      for (let i = 0; i < 1000; i++) {
        const off = rng.chance(0.8) ? rng.below(0x40) * 4 : rng.below(0x1100);
        const width = rng.pick([1, 2, 4, 8]);
        const data = rng.fill(new Uint8Array(width));
        if (rng.chance(0.3)) data.set([rng.pick([0, 1, 2, 3, 4, 7, 8, 15, 16, 0xff])].slice(0, width));
        if (rng.chance(0.5)) t.write(off, data);
        else t.read(off, data);
        if (rng.chance(0.01)) t.notifyQueue(rng.below(4));
      }
      // whatever happened, a reset brings it back
      d.write32(R.STATUS, 0);
      expect(d.status).toBe(0);
      expect(d.init()).not.toBeNull();
    }
  });
});
