// The vCPU thread's shortcut answers what a real transport would, register
// by register, for real device models: the fixed registers from the
// snapshot, everything else by asking the device. A driver's whole setup
// sequence (Linux's order, selectors, a reset, config bytes of every width)
// goes through the shortcut and, in parallel, straight to a second, identical
// transport; every answer must match, and only what the snapshot cannot hold
// may reach the device.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, check, close, socketpair } from '../../../ffi/libc.js';
import type { BusDevice } from '../../../src/bus/device.js';
import { SHARED_REGISTERS_BYTES, VirtioRegisterSnapshot } from '../../../src/devices/virtio/register-snapshot.js';
import { Virtio9p } from '../../../src/devices/virtio/virtio-9p.js';
import type { VirtioDevice } from '../../../src/devices/virtio/virtio-device.js';
import { VIRTIO_MMIO, VirtioMmioTransport } from '../../../src/devices/virtio/virtio-mmio.js';
import { VirtioNet } from '../../../src/devices/virtio/virtio-net.js';
import { VirtioRegisterShortcut } from '../../../src/devices/virtio/virtio-register-shortcut.js';
import { VirtioRng } from '../../../src/devices/virtio/virtio-rng.js';
import { StreamBackend } from '../../../src/net/stream-backend.js';
import { testGuestRam } from '../../support/test-guest-ram.js';
import { CountingIrq } from './mmio-driver.js';

const { mem } = testGuestRam(1 << 20);
const dir = mkdtempSync(join(tmpdir(), 'tsvmm-snapshot-'));
const fds: number[] = [];
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  fds.forEach((fd) => close(fd));
});

/** A transport the shortcut forwards to, counting what reaches it. */
class Counting implements BusDevice {
  readonly name = 'counting';
  reads: string[] = [];
  constructor(private readonly inner: VirtioMmioTransport) {}
  read(offset: number, data: Uint8Array): void {
    this.reads.push(`${offset.toString(16)}/${data.length}`);
    this.inner.read(offset, data);
  }
  write(offset: number, data: Uint8Array): void {
    this.inner.write(offset, data);
  }
}

/**
 * Each model, and how many of the sequence's reads the snapshot answers: 4
 * IDs, 5 feature words, 6 queue sizes, for a fixed config its 2 generation
 * reads and each config read that lies within it (a 12-byte 9p config: 37).
 */
const models: Record<string, { answered: number; make: () => VirtioDevice }> = {
  '9p (fixed config: the tag)': { answered: 15 + 2 + 37, make: () => new Virtio9p('share0', mem, { root: dir, tag: 'tsvmm-root' }) },
  'rng (no config)': { answered: 15 + 2, make: () => new VirtioRng('rng', mem, { bytesPerSecond: 1 << 20, burstBytes: 1 << 16 }) },
  'net (its config changes: link status)': { answered: 15, make: () => {
    const sv = new Int32Array(2);
    check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) as number, 'socketpair');
    fds.push(sv[1]);
    return new VirtioNet('net0', new StreamBackend(sv[0], 'peer'), mem, { mac: Uint8Array.from([0x52, 0x54, 0, 1, 2, 3]) });
  } },
};

const le32 = (v: number) => Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
const R = VIRTIO_MMIO;

/** Linux's probe and setup order, with a reset and some reads a driver need not make. */
function* driverAccesses(): Generator<['read', number, number] | ['write', number, number]> {
  for (const r of [R.MAGIC_VALUE, R.VERSION, R.DEVICE_ID, R.VENDOR_ID]) yield ['read', r, 4];
  yield ['write', R.STATUS, 0];
  yield ['read', R.STATUS, 4];
  for (const sel of [1, 0, 2, 0xffffffff]) {
    yield ['write', R.DEVICE_FEATURES_SEL, sel];
    yield ['read', R.DEVICE_FEATURES, 4];
  }
  yield ['write', R.DEVICE_FEATURES_SEL, 1];
  yield ['write', R.STATUS, 0]; // a reset clears the selector
  yield ['read', R.DEVICE_FEATURES, 4];
  for (const q of [0, 1, 2, 5, 40, 0xffffffff]) {
    yield ['write', R.QUEUE_SEL, q];
    yield ['read', R.QUEUE_NUM_MAX, 4];
    yield ['read', R.QUEUE_READY, 4];
  }
  yield ['read', R.CONFIG_GENERATION, 4];
  for (let at = 0; at < 48; at++) for (const n of [1, 2, 4, 8]) yield ['read', R.CONFIG + at, n];
  yield ['read', R.CONFIG_GENERATION, 4];
  yield ['read', R.DEVICE_ID, 2]; // odd sizes: the device's answer
  yield ['read', R.SHM_LEN_LOW, 4];
}

describe('the register snapshot', () => {
  for (const [name, { answered: expected, make }] of Object.entries(models)) {
    it(`answers like the transport, for ${name}`, () => {
      const direct = new VirtioMmioTransport(make(), mem, new CountingIrq());
      const behind = new VirtioMmioTransport(make(), mem, new CountingIrq());
      const counting = new Counting(behind);
      const shortcut = new VirtioRegisterShortcut(counting, behind.interruptStatusShared!);
      let answered = 0;
      for (const [kind, offset, value] of driverAccesses()) {
        if (kind === 'write') {
          direct.write(offset, le32(value));
          shortcut.write(offset, le32(value));
          continue;
        }
        const want = new Uint8Array(value).fill(0xee);
        const got = new Uint8Array(value).fill(0xee);
        direct.read(offset, want);
        const before = counting.reads.length;
        shortcut.read(offset, got);
        if (counting.reads.length === before) answered++;
        expect([...got], `read of ${value} bytes at ${offset.toString(16)}`).toEqual([...want]);
      }
      // Every ID, feature and queue-size read, and (fixed config) the config space, without the device.
      expect(answered).toBe(expected);
      expect(counting.reads).toContain('70/4'); // Status: the device's
      expect(counting.reads).toContain('44/4'); // QueueReady: the device's
      if (name.startsWith('net')) expect(counting.reads.some((r) => r.startsWith('100/'))).toBe(true); // its config: the device's
    });
  }

  it('is ignored until filled, and needs room for itself', () => {
    const shared = new SharedArrayBuffer(SHARED_REGISTERS_BYTES);
    expect(new VirtioRegisterSnapshot(shared).read(R.MAGIC_VALUE, new Uint8Array(4))).toBe(false);
    expect(() => new VirtioRegisterSnapshot(new SharedArrayBuffer(64))).toThrow(/need 1024 bytes/);
  });

  it('stays within its memory whatever a device process wrote there', () => {
    const shared = new SharedArrayBuffer(SHARED_REGISTERS_BYTES);
    const snapshot = new VirtioRegisterSnapshot(shared);
    snapshot.fill({ deviceId: 9, deviceFeatures: 0n, queueMaxSizes: [256], configSize: 4, configFixed: true, readConfig: (_o, d) => d.fill(7) });
    const words = new Int32Array(shared);
    words.fill(0x7fffffff, 16 + 4, 16 + 6); // queue count and config length, as a hostile process might set them
    const data = new Uint8Array(4).fill(0xee);
    snapshot.observeWrite(R.QUEUE_SEL, le32(1000));
    expect(snapshot.read(R.QUEUE_NUM_MAX, data)).toBe(true);
    expect([...data]).toEqual([0, 0, 0, 0]); // beyond the table: no queue
    expect(snapshot.read(R.CONFIG + 2000, data)).toBe(false); // beyond the page: the device's to answer
    expect(snapshot.read(R.DEVICE_ID, data)).toBe(true);
    expect(data[0]).toBe(9);
  });

  it('refuses a config change of a device that declared its config fixed', () => {
    const transport = new VirtioMmioTransport(models['9p (fixed config: the tag)'].make(), mem, new CountingIrq());
    expect(() => transport.signalConfigChange()).toThrow(/declared fixed changed/);
  });
});
