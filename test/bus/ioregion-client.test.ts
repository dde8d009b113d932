// The VMM's end of a forwarded region must not trust the device process:
// wrong-sized, missing or late responses turn the region dead, never a throw or a hang.
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { read, write } from '../../ffi/libc.js';
import { IoregionClient } from '../../src/bus/ioregion-client.js';
import { IOREGION_MESSAGE_SIZE, decodeCommand, encodeResponse } from '../../src/bus/ioregion-wire.js';
import { regionSocketPairs } from '../support/region-sockets.js';

const { pair, closeNow } = regionSocketPairs();

function client(fd: number, deaths: string[], timeoutMs = 200, peer: 'process' | 'thread' = 'process', firstTimeoutMs = timeoutMs) {
  return new IoregionClient('dev', fd, (why) => deaths.push(why), true, { firstMs: firstTimeoutMs, laterMs: timeoutMs }, peer);
}

/**
 * A server on another thread that answers one command `delayMs` late (a main
 * thread stalled in fdatasync). Plain JS: fds are shared by the process's threads.
 */
function lateServer(fd: number, delayMs: number, answer: Uint8Array): Promise<number> {
  const code = `
    const { workerData } = require('node:worker_threads');
    const fs = require('node:fs');
    const command = Buffer.alloc(64);
    fs.readSync(workerData.fd, command);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.delayMs);
    fs.writeSync(workerData.fd, workerData.answer);`;
  const worker = new Worker(code, { eval: true, workerData: { fd, delayMs, answer } });
  return new Promise((resolve, reject) => {
    worker.on('error', reject);
    worker.on('exit', resolve);
  });
}

const response = (data: bigint) => {
  const b = new Uint8Array(IOREGION_MESSAGE_SIZE);
  encodeResponse(new DataView(b.buffer), data);
  return b;
};

describe('IoregionClient', () => {
  it('sends a read command and returns the response data', () => {
    const [vmm, dev] = pair();
    const deaths: string[] = [];
    write(dev, response(0x11223344n), IOREGION_MESSAGE_SIZE); // answered ahead: one thread here
    const data = new Uint8Array(4);
    client(vmm, deaths).read(0x10, data);
    expect(Array.from(data)).toEqual([0x44, 0x33, 0x22, 0x11]);
    const cmd = new Uint8Array(64);
    expect(read(dev, cmd, 64)).toBe(IOREGION_MESSAGE_SIZE);
    expect(decodeCommand(cmd.subarray(0, 32), 0x1000)).toMatchObject({ ok: true, value: { write: false, size: 4, offset: 0x10, wantsResponse: true } });
    expect(deaths).toEqual([]);
  });

  it('says whether a posted write may still be unserved: until its next read has been answered', () => {
    const [vmm, dev] = pair();
    const c = client(vmm, []);
    expect(c.writesInFlight).toBe(false);
    c.write(8, Uint8Array.of(1, 2));
    expect(c.writesInFlight).toBe(true);
    write(dev, response(0n), IOREGION_MESSAGE_SIZE);
    c.read(0, new Uint8Array(4)); // served after the write: the socket keeps their order
    expect(c.writesInFlight).toBe(false);
  });

  it('posts writes without waiting', () => {
    const [vmm, dev] = pair();
    const c = client(vmm, []);
    c.write(8, Uint8Array.of(1, 2));
    const cmd = new Uint8Array(32);
    expect(read(dev, cmd, 32)).toBe(32);
    expect(decodeCommand(cmd, 0x1000)).toMatchObject({ ok: true, value: { write: true, size: 2, offset: 8, data: 0x0201n, wantsResponse: false } });
  });

  it.each([
    ['a short response', new Uint8Array(7), /malformed response of 7 bytes/],
    ['an over-long response', new Uint8Array(40), /malformed response of 33 bytes/],
  ])('turns the region dead on %s', (_name, bytes, why) => {
    const [vmm, dev] = pair();
    const deaths: string[] = [];
    write(dev, bytes, bytes.length);
    const c = client(vmm, deaths);
    const data = new Uint8Array(4);
    c.read(0, data);
    expect(Array.from(data)).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect(deaths).toEqual([expect.stringMatching(why)]);
    expect(c.isDead).toBe(true);
    c.read(0, data); // dead: answers at once, no second report
    expect(deaths.length).toBe(1);
  });

  it('gives up on a device that does not answer', () => {
    const [vmm] = pair();
    const deaths: string[] = [];
    const data = new Uint8Array(1);
    client(vmm, deaths, 100).read(0, data);
    expect(data[0]).toBe(0xff);
    expect(deaths).toEqual(['no first response within 100 ms']);
  });

  it("waits longer for a device process's first answer (it may still be starting), then holds it to the timeout", async () => {
    const [vmm, dev] = pair();
    const deaths: string[] = [];
    const c = client(vmm, deaths, 50, 'process', 5000);
    const data = new Uint8Array(4);
    const first = lateServer(dev, 400, response(0x1234n));
    try {
      c.read(0, data);
      expect(Array.from(data)).toEqual([0x34, 0x12, 0, 0]);
      expect(deaths).toEqual([]);
    } finally {
      expect(await first).toBe(0);
    }
    const second = lateServer(dev, 400, response(0x5678n));
    try {
      c.read(0, data);
      expect(Array.from(data)).toEqual([0xff, 0xff, 0xff, 0xff]);
      expect(deaths).toEqual(['no response within 50 ms']);
    } finally {
      expect(await second).toBe(0);
    }
  });

  it('waits out a slow server in this process (a main-thread stall), however far past the timeout', async () => {
    const [vmm, dev] = pair();
    const deaths: string[] = [];
    const served = lateServer(dev, 400, response(0xcafef00dn));
    try {
      const c = client(vmm, deaths, 50, 'thread');
      const data = new Uint8Array(4);
      c.read(0x70, data);
      expect(Array.from(data)).toEqual([0x0d, 0xf0, 0xfe, 0xca]);
      expect(deaths).toEqual([]);
      expect(c.isDead).toBe(false);
    } finally {
      expect(await served).toBe(0); // before afterEach closes (and the next test reuses) its fd
    }
  });

  it('still gives up on a device process that answers after the timeout', async () => {
    const [vmm, dev] = pair();
    const deaths: string[] = [];
    const served = lateServer(dev, 400, response(0xcafef00dn));
    try {
      const data = new Uint8Array(4);
      client(vmm, deaths, 50, 'process').read(0x70, data);
      expect(Array.from(data)).toEqual([0xff, 0xff, 0xff, 0xff]);
      expect(deaths).toEqual(['no first response within 50 ms']);
    } finally {
      expect(await served).toBe(0);
    }
  });

  it('reports a device end that closed its socket', () => {
    const [vmm, dev] = pair();
    closeNow(dev);
    const deaths: string[] = [];
    const data = new Uint8Array(2);
    client(vmm, deaths).read(0, data);
    expect(Array.from(data)).toEqual([0xff, 0xff]);
    expect(deaths[0]).toMatch(/closed its socket|EPIPE|ECONNRESET/);
  });

  it('refuses access sizes the protocol cannot express', () => {
    const [vmm] = pair();
    const deaths: string[] = [];
    const data = new Uint8Array(3);
    client(vmm, deaths).read(0, data);
    expect(Array.from(data)).toEqual([0xff, 0xff, 0xff]);
  });
});
