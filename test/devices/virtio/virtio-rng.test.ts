// virtio-rng through its virtio-mmio transport, driven like Linux's driver:
// writable buffers come back full of random bytes; readable or hostile
// chains come back empty (a value, not an exception); the rate limit holds.
import { describe, expect, it } from 'vitest';
import { testGuestRam } from '../../support/test-guest-ram.js';
import { VIRTIO_STATUS, VIRTQ_DESC_F_NEXT } from '../../../src/devices/virtio/virtio-constants.js';
import { VIRTIO_MMIO, VirtioMmioTransport } from '../../../src/devices/virtio/virtio-mmio.js';
import { VIRTIO_RNG_QUEUE_SIZE, VirtioRng, type VirtioRngOptions } from '../../../src/devices/virtio/virtio-rng.js';
import { virtioRngKind } from '../../../src/devices/kinds/virtio-rng-kind.js';
import { parseMachine } from '../../../src/machine/machine-definition.js';
import { planDevices } from '../../../src/machine/device-plan.js';
import { CountingIrq, MmioDriver } from './mmio-driver.js';

const RAM = 4 * 1024 * 1024;
const BUF = 0x100000;
const { mem, ram } = testGuestRam(RAM);

/** A clock and a timer queue the test moves by hand. */
class FakeTime {
  ms = 0;
  timers: { at: number; f: () => void }[] = [];
  now = () => this.ms;
  later = (f: () => void, ms: number) => {
    const t = { at: this.ms + ms, f };
    this.timers.push(t);
    return () => (this.timers = this.timers.filter((x) => x !== t));
  };
  advance(ms: number): void {
    this.ms += ms;
    for (const t of this.timers.filter((x) => x.at <= this.ms)) {
      this.timers = this.timers.filter((x) => x !== t);
      t.f();
    }
  }
}

function rig(options: Partial<VirtioRngOptions> = {}) {
  const time = new FakeTime();
  const errors: string[] = [];
  const rng = new VirtioRng('rng', mem, { bytesPerSecond: 1 << 20, burstBytes: 1 << 16, now: time.now, later: time.later, onError: (m) => errors.push(m), ...options });
  const irq = new CountingIrq();
  const transport = new VirtioMmioTransport(rng, mem, irq, { onError: (m) => errors.push(m) });
  const d = new MmioDriver(transport, mem);
  if (d.init() === null) throw new Error('feature negotiation failed');
  return { rng, transport, d, q: d.queue!, irq, time, errors };
}

describe('virtio-rng', () => {
  it('is a virtio entropy device with one queue and no config space, as its catalog entry says', () => {
    const { d, rng } = rig();
    expect(d.read32(VIRTIO_MMIO.DEVICE_ID)).toBe(4);
    expect(rng.queueMaxSizes.length).toBe(virtioRngKind.queueCount({ type: 'virtio-rng', name: 'rng', bytesPerSecond: 1, burst: 1, process: 'inline' }));
    expect(rng.deviceFeatures).toBe(virtioRngKind.virtio.features);
    expect(d.read32(VIRTIO_MMIO.QUEUE_NUM_MAX)).toBe(VIRTIO_RNG_QUEUE_SIZE);
  });

  it('fills a queue of writable buffers with random bytes and interrupts', () => {
    const { d, q, irq, rng } = rig();
    ram.fill(0, BUF, BUF + 8 * 256);
    const heads = Array.from({ length: 8 }, (_, i) => q.add([{ gpa: BUF + i * 256, len: 256, writable: true }]));
    d.notify();
    const used = q.takeUsed();
    expect(used.map((u) => u.id).sort()).toEqual([...heads].sort());
    expect(used.every((u) => u.len === 256)).toBe(true);
    const filled = ram.subarray(BUF, BUF + 8 * 256);
    // 2048 random bytes: far more than a handful of distinct values, and not all zero.
    expect(new Set(filled).size).toBeGreaterThan(200);
    expect(irq.edges).toBeGreaterThan(0);
    expect(rng.stats).toMatchObject({ requests: 8, bytes: 2048, refused: 0 });
  });

  it('asks for a notification of the next buffer each time it runs dry (EVENT_IDX: avail_event follows)', () => {
    const { d, q } = rig();
    for (let n = 1; n <= 3; n++) {
      q.add([{ gpa: BUF, len: 64, writable: true }]);
      d.notify();
      expect(q.takeUsed().length).toBe(1);
      // Linux's hwrng posts one buffer at a time: left at 0, it would never notify again.
      expect(q.availEvent, `after buffer ${n}`).toBe(n);
    }
  });

  it('fills a chain of several writable buffers, across all of them', () => {
    const { d, q } = rig();
    ram.fill(0, BUF, BUF + 96);
    q.add([
      { gpa: BUF, len: 32, writable: true },
      { gpa: BUF + 64, len: 32, writable: true },
    ]);
    d.notify();
    expect(q.takeUsed()).toEqual([{ id: expect.any(Number), len: 64 }]);
    expect(ram.subarray(BUF + 32, BUF + 64).every((b) => b === 0)).toBe(true); // the gap between them is untouched
  });

  it('returns a chain with a readable buffer empty, reports it, and keeps working', () => {
    const { d, q, transport, errors, rng } = rig();
    ram.fill(0x5a, BUF, BUF + 64);
    q.add([
      { gpa: BUF, len: 32, writable: false },
      { gpa: BUF + 32, len: 32, writable: true },
    ]);
    d.notify();
    expect(q.takeUsed()).toEqual([{ id: expect.any(Number), len: 0 }]);
    expect(ram.subarray(BUF + 32, BUF + 64).every((b) => b === 0x5a)).toBe(true);
    expect(errors.join('\n')).toMatch(/device-readable buffer/);
    expect(rng.stats.refused).toBe(1);
    expect(transport.broken).toBe(false);
    q.add([{ gpa: BUF, len: 16, writable: true }]);
    d.notify();
    expect(q.takeUsed()).toEqual([{ id: expect.any(Number), len: 16 }]);
  });

  it('returns a buffer outside guest RAM empty', () => {
    const { d, q, errors } = rig();
    q.add([{ gpa: RAM - 8, len: 64, writable: true }]);
    d.notify();
    expect(q.takeUsed()).toEqual([{ id: expect.any(Number), len: 0 }]);
    expect(errors.join('\n')).toMatch(/BadAddress/);
  });

  it('marks the device for reset on a malformed chain (a loop), without throwing', () => {
    const { d, q, transport } = rig();
    // Descriptor 0 → 1 → 0: a loop.
    q.writeDesc(0, BUF, 16, VIRTQ_DESC_F_NEXT | 2, 1);
    q.writeDesc(1, BUF + 16, 16, VIRTQ_DESC_F_NEXT | 2, 0);
    q.putAvail(0);
    expect(() => d.notify()).not.toThrow();
    expect(transport.broken).toBe(true);
    expect(d.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET).toBeTruthy();
  });

  it('holds the rate: a burst, then no more than bytesPerSecond, the rest after the bucket refills', () => {
    const { d, q, time, rng } = rig({ bytesPerSecond: 1000, burstBytes: 100 });
    for (let i = 0; i < 10; i++) q.add([{ gpa: BUF + i * 64, len: 64, writable: true }]);
    d.notify();
    // The burst: one full chain and 36 bytes of the next.
    expect(q.takeUsed().map((u) => u.len)).toEqual([64, 36]);
    expect(rng.stats.throttled).toBe(1);
    // Notifying again while throttled gives nothing more.
    d.notify();
    expect(q.takeUsed()).toEqual([]);
    // One second later: about 1000 bytes more, never above the bucket.
    let total = 100;
    for (let t = 0; t < 1000; t += 5) {
      time.advance(5);
      total += q.takeUsed().reduce((n, u) => n + u.len, 0);
    }
    expect(total).toBeLessThanOrEqual(100 + 1000 + 1);
    expect(rng.stats.bytes).toBe(total);
    expect(rng.stats.bytes).toBeLessThanOrEqual(640);
    // Everything queued was served in time (640 bytes at 1000/s).
    expect(rng.stats.requests).toBe(10);
  });

  it('forgets its wait on reset: no timer touches the old ring', () => {
    const { d, q, time, rng } = rig({ bytesPerSecond: 1000, burstBytes: 10 });
    q.add([{ gpa: BUF, len: 10, writable: true }]);
    q.add([{ gpa: BUF + 64, len: 10, writable: true }]);
    d.notify();
    expect(time.timers.length).toBe(1);
    d.write32(VIRTIO_MMIO.STATUS, 0);
    expect(time.timers.length).toBe(0);
    time.advance(1000);
    expect(rng.stats.requests).toBe(1);
  });
});

describe('virtio-rng in a machine file', () => {
  const machine = (rng: object) =>
    parseMachine(
      {
        name: 'm',
        memory: { defaultSize: '64M', mmioGap: { start: '0xc0000000', end: '0x100000000' } },
        devices: [{ type: 'virtio-mmio', base: '0xd0000000', slotSize: '0x1000', irqs: [5, 6] }, rng],
      },
      'm.json',
    );

  it('reads its fields with defaults, and refuses unknown ones naming the path', () => {
    expect(machine({ type: 'virtio-rng' }).devices[1]).toEqual({ type: 'virtio-rng', name: 'virtio-rng', bytesPerSecond: 1 << 20, burst: 64 << 10, process: 'inline' });
    expect(machine({ type: 'virtio-rng', name: 'rng', bytesPerSecond: '4K', process: 'separate' }).devices[1]).toMatchObject({ bytesPerSecond: 4096, process: 'separate' });
    expect(() => machine({ type: 'virtio-rng', colour: 'red' })).toThrow(/m.json: devices\[1\].colour: unknown field/);
    expect(() => machine({ type: 'virtio-rng', burst: 'lots' })).toThrow(/devices\[1\].burst: expected a size/);
  });

  it('takes the slot after the disks', () => {
    const plan = planDevices(machine({ type: 'virtio-rng', name: 'rng' }), [
      { type: 'virtio-blk', name: 'vda', spec: { path: '/a.img', readOnly: false, cache: 'writeback', engine: 'sync' } },
    ]);
    expect(plan.devices.filter((d) => d.virtio).map((d) => [d.name, d.host, d.virtio])).toEqual([
      ['vda', 'main-thread', { slot: 0, irq: 5 }],
      ['rng', 'main-thread', { slot: 1, irq: 6 }],
    ]);
    expect(plan.kernelWords).toBe('virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6');
  });
});
