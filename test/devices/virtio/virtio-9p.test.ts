// virtio-9p against a real temporary directory: a guest-side driver
// (test/devices/virtio) puts T-messages in guest memory the way Linux's
// trans_virtio does (one buffer per message, or zero-copy: a Twrite header
// then the data pages; an 11-byte Rread header then the data pages) and
// reads the R-messages back.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { testGuestRam } from '../../support/test-guest-ram.js';
import { VIRTIO_MMIO, VirtioMmioTransport } from '../../../src/devices/virtio/virtio-mmio.js';
import { VIRTIO_STATUS, featureBit } from '../../../src/devices/virtio/virtio-constants.js';
import { VIRTIO_9P_F } from '../../../src/devices/virtio/virtio-9p-layout.js';
import { Virtio9p, isValidMountTag } from '../../../src/devices/virtio/virtio-9p.js';
import { P9Reader, P9Writer } from '../../../src/p9/p9-codec.js';
import * as c from '../../../src/p9/p9-constants.js';
import type { Buf } from './virtio-driver.js';
import { CountingIrq, MmioDriver } from './mmio-driver.js';

const E = os.constants.errno;
const RAM = 4 * 1024 * 1024;
const REQ = 0x100000;
const REP = 0x200000;
const DATA = 0x300000;
const { mem, ram } = testGuestRam(RAM);

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).reverse().forEach((f) => f()));

function rig(files: Record<string, string> = {}, opts: { readOnly?: boolean } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-virtio-9p-'));
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  const errors: string[] = [];
  const dev = new Virtio9p('share0', mem, { root: dir, tag: 'share0', readOnly: opts.readOnly, onError: (m) => errors.push(m) });
  const transport = new VirtioMmioTransport(dev, mem, new CountingIrq(), { onError: (m) => errors.push(m) });
  const d = new MmioDriver(transport, mem);
  if (d.init() === null) throw new Error('feature negotiation failed');
  cleanups.push(() => {
    dev.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const q = d.queue!;
  let tag = 1;

  /** Sends a T-message built by `body` in one buffer, with `room` bytes of reply buffer; returns the used length and the reply. */
  function send(type: number, body: (w: P9Writer) => void, room = 8192, bufs?: (msg: Uint8Array) => Buf[]): { len: number; reply: P9Reader; type: number; raw: Uint8Array } {
    const w = new P9Writer(1 << 20);
    w.begin(type, tag++ & 0x7fff);
    body(w);
    const msg = w.finish();
    ram.set(msg, REQ);
    ram.fill(0xee, REP, REP + room);
    q.add(bufs ? bufs(msg) : [{ gpa: REQ, len: msg.length, writable: false }, { gpa: REP, len: room, writable: true }]);
    d.notify();
    const used = q.takeUsed();
    expect(used).toHaveLength(1);
    const raw = ram.slice(REP, REP + used[0].len);
    const r = new P9Reader(raw, 0, raw.length);
    const size = r.u32();
    const replyType = r.u8();
    r.u16();
    expect(size).toBe(used[0].len);
    return { len: used[0].len, reply: r, type: replyType, raw };
  }

  /** Like send, expecting reply type+1 (an Rlerror throws its errno). */
  function rpc(type: number, body: (w: P9Writer) => void, room?: number, bufs?: (msg: Uint8Array) => Buf[]): P9Reader {
    const { reply, type: t } = send(type, body, room, bufs);
    if (t === c.P9_RLERROR) throw new Error(`errno ${reply.u32()}`);
    expect(t).toBe(type + 1);
    return reply;
  }

  function start(): void {
    const v = rpc(c.P9_TVERSION, (w) => w.u32(65536).string(c.P9_VERSION_L));
    expect(v.u32()).toBe(65536);
    rpc(c.P9_TATTACH, (w) => w.u32(0).u32(c.P9_NOFID).string('root').string('').u32(0));
  }

  function open(fid: number, name: string, flags: number): void {
    rpc(c.P9_TWALK, (w) => w.u32(0).u32(fid).u16(1).string(name));
    rpc(c.P9_TLOPEN, (w) => w.u32(fid).u32(flags));
  }

  return { dir, dev, d, q, errors, send, rpc, start, open };
}

describe('virtio-9p', () => {
  it('is a 9P device with one queue and its mount tag in the configuration space', () => {
    const { d, dev } = rig();
    expect(d.read32(VIRTIO_MMIO.DEVICE_ID)).toBe(9);
    expect(dev.deviceFeatures & featureBit(VIRTIO_9P_F.MOUNT_TAG)).not.toBe(0n);
    expect(Number(d.configRead(0, 2))).toBe(6);
    const tag = [2, 3, 4, 5, 6, 7].map((i) => Number(d.configRead(i, 1)));
    expect(Buffer.from(tag).toString()).toBe('share0');
  });

  it('takes mount tags a mount command can name, refuses others', () => {
    expect(isValidMountTag('share0')).toBe(true);
    expect(isValidMountTag('my.data-1_x')).toBe(true);
    for (const bad of ['', 'a b', 'a,b', 'x'.repeat(65), 'é']) expect(isValidMountTag(bad)).toBe(false);
    expect(() => new Virtio9p('x', mem, { root: '/', tag: 'a b' })).toThrow(/mount tag/);
  });

  it('serves version, attach, walk, lopen, getattr and clunk', () => {
    const { rpc, start } = rig({ hello: 'hi there' });
    start();
    const walk = rpc(c.P9_TWALK, (w) => w.u32(0).u32(1).u16(1).string('hello'));
    expect(walk.u16()).toBe(1);
    const open = rpc(c.P9_TLOPEN, (w) => w.u32(1).u32(fs.constants.O_RDONLY));
    open.data(13); // qid
    expect(open.u32()).toBeGreaterThan(0);
    const attr = rpc(c.P9_TGETATTR, (w) => w.u32(1).u64(c.P9_STATS_BASIC));
    attr.u64();
    attr.data(13); // qid
    attr.u32();
    attr.u32();
    attr.u32();
    attr.u64();
    attr.u64();
    expect(attr.u64()).toBe(8n);
    rpc(c.P9_TCLUNK, (w) => w.u32(1));
  });

  it('Tread, zero copy: the data lands in the guest pages after the 11-byte header, scattered as given', () => {
    const content = Buffer.from(Array.from({ length: 20000 }, (_, i) => (i * 13) & 0xff));
    const { dir, dev, send, start, open } = rig();
    fs.writeFileSync(path.join(dir, 'big'), content);
    start();
    open(1, 'big', fs.constants.O_RDONLY);
    ram.fill(0, DATA, DATA + 0x20000);
    // Linux's zero-copy read: the 11-byte header buffer, then the user pages.
    const { len, reply, type } = send(c.P9_TREAD, (w) => w.u32(1).u64(100).u32(12000), 11, (msg) => [
      { gpa: REQ, len: msg.length, writable: false },
      { gpa: REP, len: 11, writable: true },
      { gpa: DATA, len: 4096, writable: true },
      { gpa: DATA + 0x8000, len: 4096, writable: true },
      { gpa: DATA + 0x10000, len: 4096, writable: true },
    ]);
    expect(type).toBe(c.P9_TREAD + 1);
    expect(len).toBe(11 + 12000);
    expect(reply.u32()).toBe(12000);
    const got = Buffer.concat([ram.subarray(DATA, DATA + 4096), ram.subarray(DATA + 0x8000, DATA + 0x9000), ram.subarray(DATA + 0x10000, DATA + 0x10000 + 12000 - 8192)]);
    expect(got.equals(content.subarray(100, 12100))).toBe(true);
    expect(ram[DATA + 0x10000 + 12000 - 8192]).toBe(0); // nothing past what was read
    expect(dev.stats.zeroCopyBytes).toBe(12000);
  });

  it('Tread into one message-sized buffer: header and data together, used length = reply size', () => {
    const { rpc, start, open } = rig({ f: 'abcdefghij' });
    start();
    open(1, 'f', fs.constants.O_RDONLY);
    const r = rpc(c.P9_TREAD, (w) => w.u32(1).u64(2).u32(100), 8192);
    const n = r.u32();
    expect(Buffer.from(r.data(n)).toString()).toBe('cdefghij');
  });

  it('Twrite, zero copy: the header is read, the data goes from the guest pages to the file', () => {
    const { dir, dev, rpc, start } = rig();
    start();
    rpc(c.P9_TWALK, (w) => w.u32(0).u32(1).u16(0));
    rpc(c.P9_TLCREATE, (w) => w.u32(1).string('out').u32(fs.constants.O_RDWR | fs.constants.O_CREAT).u32(0o644).u32(0));
    const data = Buffer.from(Array.from({ length: 9000 }, (_, i) => (i * 7 + 3) & 0xff));
    ram.set(data.subarray(0, 5000), DATA);
    ram.set(data.subarray(5000), DATA + 0x8000);
    const r = rpc(c.P9_TWRITE, (w) => w.u32(1).u64(0).u32(9000), 11, (msg) => {
      // The header is all the message says; its size field counts the data.
      new DataView(ram.buffer, ram.byteOffset + REQ).setUint32(0, 23 + 9000, true);
      return [
        { gpa: REQ, len: 23, writable: false },
        { gpa: DATA, len: 5000, writable: false },
        { gpa: DATA + 0x8000, len: 4000, writable: false },
        { gpa: REP, len: 11, writable: true },
      ];
    });
    expect(r.u32()).toBe(9000);
    expect(fs.readFileSync(path.join(dir, 'out')).equals(data)).toBe(true);
    expect(dev.stats.zeroCopyBytes).toBe(9000);
  });

  it('Twrite in one buffer (header and data together) works too', () => {
    const { dir, rpc, start } = rig();
    start();
    rpc(c.P9_TWALK, (w) => w.u32(0).u32(1).u16(0));
    rpc(c.P9_TLCREATE, (w) => w.u32(1).string('small').u32(fs.constants.O_RDWR | fs.constants.O_CREAT).u32(0o644).u32(0));
    expect(rpc(c.P9_TWRITE, (w) => w.u32(1).u64(0).u32(5).bytes(Buffer.from('hello'))).u32()).toBe(5);
    expect(fs.readFileSync(path.join(dir, 'small'), 'utf8')).toBe('hello');
  });

  it('Treaddir lists the directory', () => {
    const { rpc, start } = rig({ a: '1', b: '2' });
    start();
    rpc(c.P9_TWALK, (w) => w.u32(0).u32(1).u16(0));
    rpc(c.P9_TLOPEN, (w) => w.u32(1).u32(fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));
    const r = rpc(c.P9_TREADDIR, (w) => w.u32(1).u64(0).u32(4096));
    const data = r.data(r.u32());
    const e = new P9Reader(data, 0, data.length);
    const names: string[] = [];
    while (e.remaining > 0) {
      e.data(13); // qid
      e.u64();
      e.u8();
      names.push(e.string());
    }
    expect(names.sort()).toEqual(['.', '..', 'a', 'b']);
  });

  it('a read-only share refuses writes with EROFS', () => {
    const { rpc, start } = rig({}, { readOnly: true });
    start();
    rpc(c.P9_TWALK, (w) => w.u32(0).u32(1).u16(0));
    expect(() => rpc(c.P9_TLCREATE, (w) => w.u32(1).string('x').u32(fs.constants.O_RDWR | fs.constants.O_CREAT).u32(0o644).u32(0))).toThrow(`errno ${E.EROFS}`);
  });

  it('a reply larger than the reply room is never written past it: Rlerror(ERANGE)', () => {
    const { rpc, send, start, dev } = rig({ a: '1', b: '2', c: '3' });
    start();
    rpc(c.P9_TWALK, (w) => w.u32(0).u32(1).u16(0));
    rpc(c.P9_TLOPEN, (w) => w.u32(1).u32(fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));
    ram.fill(0xee, REP, REP + 64);
    const { type, reply, len } = send(c.P9_TREADDIR, (w) => w.u32(1).u64(0).u32(4096), 40);
    expect(type).toBe(c.P9_RLERROR);
    expect(reply.u32()).toBe(E.ERANGE);
    expect(len).toBe(11);
    expect(ram[REP + 40]).toBe(0xee);
    expect(dev.stats.tooLarge).toBe(1);
  });

  it('hostile chains: no reply room, a short request, buffers outside RAM mark the device broken', () => {
    for (const bufs of [
      [{ gpa: REQ, len: 11, writable: false }],
      [{ gpa: REQ, len: 11, writable: false }, { gpa: REP, len: 10, writable: true }],
      [{ gpa: REQ, len: 3, writable: false }, { gpa: REP, len: 100, writable: true }],
      [{ gpa: RAM - 4, len: 11, writable: false }, { gpa: REP, len: 100, writable: true }],
      [{ gpa: REP, len: 100, writable: true }],
    ]) {
      const { d, q, errors } = rig();
      q.add(bufs);
      d.notify();
      expect(d.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET).toBeTruthy();
      expect(errors.join('\n')).toMatch(/virtio-9p|descriptor/);
    }
  });

  it('hostile messages get Rlerror, and the device keeps serving', () => {
    const { send, rpc, start } = rig({ f: 'x' });
    start();
    // A Tread on a fid never made; garbage bytes with a plausible header; a size field lying.
    expect(send(c.P9_TREAD, (w) => w.u32(77).u64(0).u32(10)).type).toBe(c.P9_RLERROR);
    expect(send(200, (w) => w.u32(1).u32(2)).type).toBe(c.P9_RLERROR);
    const lie = send(c.P9_TCLUNK, (w) => w.u32(0), 100, (msg) => {
      new DataView(ram.buffer, ram.byteOffset + REQ).setUint32(0, 9999, true);
      return [{ gpa: REQ, len: msg.length, writable: false }, { gpa: REP, len: 100, writable: true }];
    });
    expect(lie.type).toBe(c.P9_RLERROR);
    // A zero-copy Twrite whose count is more than the data it carries.
    rpc(c.P9_TWALK, (w) => w.u32(0).u32(1).u16(1).string('f'));
    rpc(c.P9_TLOPEN, (w) => w.u32(1).u32(fs.constants.O_RDWR));
    const bad = send(c.P9_TWRITE, (w) => w.u32(1).u64(0).u32(100), 11, () => {
      new DataView(ram.buffer, ram.byteOffset + REQ).setUint32(0, 23 + 100, true);
      return [{ gpa: REQ, len: 23, writable: false }, { gpa: DATA, len: 50, writable: false }, { gpa: REP, len: 11, writable: true }];
    });
    expect(bad.type).toBe(c.P9_RLERROR);
    expect(rpc(c.P9_TREAD, (w) => w.u32(1).u64(0).u32(10)).u32()).toBe(1);
  });
});
