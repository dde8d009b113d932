// Several vCPU threads share one forwarded region's socket under its
// RegionLock (docs/smp.md). Real worker threads, real sockets: the lock must
// exclude, every thread must get the answer to its own request, and a region
// one thread gave up on must be dead for all.
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { BusDevice } from '../../src/bus/device.js';
import { IoregionServer } from '../../src/bus/ioregion-server.js';
import { RegionLock } from '../../src/bus/region-lock.js';
import { IOREGION_MESSAGE_SIZE, encodeResponse } from '../../src/bus/ioregion-wire.js';
import { write } from '../../ffi/libc.js';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { regionSocketPairs } from '../support/region-sockets.js';

const DIST_BUS = join(PROJECT_ROOT, 'dist', 'src', 'bus');
const { pair } = regionSocketPairs();

/** Runs `body` (CommonJS, with `lock`, `workerData` and the compiled bus modules in scope) on a thread; resolves with what it posts. */
function onThread<T>(body: string, workerData: Record<string, unknown>): Promise<T> {
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    (async () => {
      const { RegionLock } = await import(${JSON.stringify(join(DIST_BUS, 'region-lock.js'))});
      const { IoregionClient } = await import(${JSON.stringify(join(DIST_BUS, 'ioregion-client.js'))});
      const lock = new RegionLock(workerData.lock);
      ${body}
    })().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));`;
  const worker = new Worker(code, { eval: true, workerData });
  return new Promise((resolve, reject) => {
    worker.once('message', (m) => (m && m.error ? reject(new Error(m.error)) : resolve(m)));
    worker.once('error', reject);
  });
}

describe('RegionLock', () => {
  it('excludes: four threads doing a non-atomic read-modify-write 20 000 times each lose no increment', async () => {
    const lock = new RegionLock();
    const counter = new SharedArrayBuffer(4);
    const body = `
      const c = new Int32Array(workerData.counter);
      for (let i = 0; i < 20000; i++) {
        lock.acquire();
        const v = Atomics.load(c, 0);
        if (i % 64 === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 0); // give the others a chance to interleave
        Atomics.store(c, 0, v + 1);
        lock.release();
      }
      parentPort.postMessage('done');`;
    await Promise.all([0, 1, 2, 3].map(() => onThread(body, { lock: lock.buffer, counter })));
    expect(new Int32Array(counter)[0]).toBe(80_000);
  });

  it('keeps each request with its answer: two threads read through one socket, each gets its own offsets back', async () => {
    const [vmmEnd, deviceEnd] = pair();
    // The device answers a read at `offset` with `offset * 3 + 1`.
    const device: BusDevice = {
      name: 'echo',
      read: (offset, data) => new DataView(data.buffer, data.byteOffset, data.length).setUint32(0, offset * 3 + 1, true),
      write: () => {},
    };
    const server = new IoregionServer(deviceEnd, device, 0x10000);
    server.start();
    const lock = new RegionLock();
    const body = `
      const client = new IoregionClient('echo', workerData.fd, (why) => parentPort.postMessage({ error: why }), true, { firstMs: 5000, laterMs: 5000 }, 'thread', lock);
      const data = new Uint8Array(4);
      let wrong = 0;
      for (let i = 0; i < 2000; i++) {
        const offset = (workerData.base + i) * 4;
        client.read(offset, data);
        if (new DataView(data.buffer).getUint32(0, true) !== offset * 3 + 1) wrong++;
      }
      parentPort.postMessage({ wrong });`;
    try {
      const results = await Promise.all([0, 1].map((t) => onThread<{ wrong: number }>(body, { lock: lock.buffer, fd: vmmEnd, base: t * 4000 })));
      expect(results).toEqual([{ wrong: 0 }, { wrong: 0 }]);
      expect(server.served).toBe(4000);
    } finally {
      server.stop();
    }
  });

  it("once one client has had the device's first answer, the others wait only the later timeout", async () => {
    const [vmmEnd, deviceEnd] = pair();
    const lock = new RegionLock();
    const answer = new Uint8Array(IOREGION_MESSAGE_SIZE);
    encodeResponse(new DataView(answer.buffer), 7n);
    write(deviceEnd, answer, IOREGION_MESSAGE_SIZE); // the first read's answer, ahead of it; the second gets none
    const body = `
      const deaths = [];
      const client = new IoregionClient('slow', workerData.fd, (why) => deaths.push(why), true, { firstMs: 30000, laterMs: 100 }, 'process', lock);
      const data = new Uint8Array(4);
      client.read(0, data);
      parentPort.postMessage({ deaths, value: data[0] });`;
    type Outcome = { deaths: string[]; value: number };
    expect(await onThread<Outcome>(body, { lock: lock.buffer, fd: vmmEnd })).toEqual({ deaths: [], value: 7 });
    // Another vCPU's client, fresh: the region has answered, so 100 ms, not 30 s.
    expect(await onThread<Outcome>(body, { lock: lock.buffer, fd: vmmEnd })).toEqual({ deaths: ['no response within 100 ms'], value: 255 });
  });

  it('a region one client gave up on is dead for the others too, and reported once', async () => {
    const [vmmEnd] = pair(); // nobody answers
    const lock = new RegionLock();
    const body = `
      const deaths = [];
      const client = new IoregionClient('mute', workerData.fd, (why) => deaths.push(why), true, { firstMs: 100, laterMs: 100 }, 'process', lock);
      const data = new Uint8Array(4);
      client.read(0, data);
      parentPort.postMessage({ deaths, value: Array.from(data), dead: client.isDead });`;
    const first = await onThread<{ deaths: string[]; value: number[]; dead: boolean }>(body, { lock: lock.buffer, fd: vmmEnd });
    expect(first).toEqual({ deaths: ['no first response within 100 ms'], value: [255, 255, 255, 255], dead: true });
    // A second vCPU's client on the same region: dead already, no second report, no read from the socket.
    const second = await onThread<{ deaths: string[]; value: number[]; dead: boolean }>(body, { lock: lock.buffer, fd: vmmEnd });
    expect(second).toEqual({ deaths: [], value: [255, 255, 255, 255], dead: true });
    expect(lock.isDead).toBe(true);
  });
});
