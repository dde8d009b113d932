// The zero-copy data path: Tread data lands in "guest memory" (HostBuffer
// chunks named by an iovec list) with one preadv, Twrite data leaves it with
// one pwritev, and the replies carry only the message headers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { P9Writer } from '../../src/p9/p9-codec.js';
import * as c from '../../src/p9/p9-constants.js';
import { IoVecDataPath } from '../../src/p9/p9-iovec-data-path.js';
import { HostBuffer } from '../../src/memory/dma-host-buffer.js';
import { IoVecArray } from '../../src/memory/dma-iovec.js';
import { type Share, makeShare } from './p9-fixture.js';
import { P9ClientError, errnoFrom } from './p9-test-client.js';

const E = os.constants.errno;
const { O_RDONLY, O_RDWR } = fs.constants;

let share: Share;
const released: { release(): void }[] = [];
afterEach(() => {
  share?.cleanup();
  for (const r of released.splice(0)) r.release();
});

/** Guest memory: one HostBuffer, and an iovec list over three scattered chunks of it. */
function guestChunks(sizes: number[]): { memory: HostBuffer; list: IoVecArray; chunk(i: number): Uint8Array } {
  const memory = new HostBuffer(1 << 20);
  const iovecMemory = new HostBuffer(4096);
  released.push(memory, iovecMemory);
  const list = new IoVecArray(iovecMemory.bytes, iovecMemory.address, 16);
  const offsets: number[] = [];
  let at = 100;
  for (const size of sizes) {
    offsets.push(at);
    list.push(memory.address + at, size);
    at += size + 4096; // gaps, so nothing merges
  }
  return { memory, list, chunk: (i) => memory.bytes.subarray(offsets[i], offsets[i] + sizes[i]) };
}

function dataPath(): IoVecDataPath {
  const path = new IoVecDataPath(64);
  released.push(path);
  return path;
}

describe('zero-copy data path', () => {
  it('Tread: data goes into scattered guest buffers, the reply is the 11-byte Rread header', () => {
    const content = Buffer.from('0123456789'.repeat(1000));
    share = makeShare({ f: content.toString() });
    const { client } = share;
    client.open(1, 'f', O_RDONLY);
    const guest = guestChunks([1000, 3000, 8000]);
    const io = dataPath();
    io.destination = guest.list;
    const r = client.rpc(c.P9_TREAD, (w) => w.u32(1).u64(5).u32(6000), io);
    const count = r.u32();
    expect(count).toBe(6000);
    expect(r.remaining).toBe(0);
    expect(Buffer.from(guest.chunk(0))).toEqual(content.subarray(5, 1005));
    expect(Buffer.from(guest.chunk(1))).toEqual(content.subarray(1005, 4005));
    expect(Buffer.from(guest.chunk(2).subarray(0, 2000))).toEqual(content.subarray(4005, 6005));
    expect(guest.chunk(2)[2000]).toBe(0); // nothing past count
    // The size field counts the data the transport placed after the header.
    const reply = share.server.handle(new P9Writer(64).begin(c.P9_TREAD, 9).u32(1).u64(9990).u32(100).finish(), io);
    expect(reply.byteLength).toBe(c.P9_RREAD_HEADER_SIZE);
    expect(new DataView(reply.buffer, reply.byteOffset).getUint32(0, true)).toBe(c.P9_RREAD_HEADER_SIZE + 10);
  });

  it('Twrite: the transport passes the 23-byte header, the data comes from guest buffers', () => {
    share = makeShare({ f: '' });
    const { client } = share;
    client.open(1, 'f', O_RDWR);
    const guest = guestChunks([3, 4, 100]);
    guest.chunk(0).set(Buffer.from('abc'));
    guest.chunk(1).set(Buffer.from('defg'));
    guest.chunk(2).set(Buffer.from('hij'));
    const io = dataPath();
    io.source = guest.list;
    const header = new P9Writer(64).begin(c.P9_TWRITE, 3).u32(1).u64(2).u32(10).finish().slice();
    new DataView(header.buffer).setUint32(0, c.P9_TWRITE_HEADER_SIZE + 10, true); // size counts the data
    expect(client.exchange(header, c.P9_TWRITE, 3, io).u32()).toBe(10);
    expect(fs.readFileSync(path.join(share.root, 'f'), 'latin1')).toBe('\0\0abcdefghij');
  });

  it('the plain path still works with a data path given', () => {
    share = makeShare({ f: 'plain' });
    const { client } = share;
    client.open(1, 'f', O_RDWR);
    const io = dataPath();
    io.source = guestChunks([8]).list;
    expect(client.rpc(c.P9_TWRITE, (w) => w.u32(1).u64(5).u32(3).bytes(Buffer.from('!!!')), io).u32()).toBe(3);
    expect(fs.readFileSync(path.join(share.root, 'f'), 'utf8')).toBe('plain!!!');
  });

  it('refusals come back as Rlerror: fid not open for it, buffers missing or too small, host errors', () => {
    share = makeShare({ f: 'x', 'd/': '' });
    const { client } = share;
    client.open(1, 'f', O_RDONLY);
    client.open(2, 'd', O_RDONLY);
    const io = dataPath();
    const read = (fid: number) => client.rpc(c.P9_TREAD, (w) => w.u32(fid).u64(0).u32(10), io);
    expect(errnoFrom(() => read(1))).toBe(E.EINVAL); // no destination set
    io.destination = guestChunks([10]).list;
    expect(read(1).u32()).toBe(1);
    expect(errnoFrom(() => read(2))).toBe(E.EISDIR);
    const header = (fid: number, count: number) => {
      const bytes = new P9Writer(64).begin(c.P9_TWRITE, 4).u32(fid).u64(0).u32(count).finish().slice();
      new DataView(bytes.buffer).setUint32(0, c.P9_TWRITE_HEADER_SIZE + count, true);
      return bytes;
    };
    expect(() => client.exchange(header(1, 5), c.P9_TWRITE, 4, io)).toThrow(P9ClientError); // not open for writing
    client.open(3, 'f', O_RDWR);
    expect(errnoFrom(() => client.exchange(header(3, 5), c.P9_TWRITE, 4, io))).toBe(E.EINVAL); // no source
    io.source = guestChunks([2]).list;
    expect(errnoFrom(() => client.exchange(header(3, 5), c.P9_TWRITE, 4, io))).toBe(E.EINVAL); // source too small
    // Without a data path a header-only Twrite is a malformed message.
    expect(errnoFrom(() => client.exchange(header(3, 5), c.P9_TWRITE, 4))).toBe(E.EPROTO);
    expect(fs.readFileSync(path.join(share.root, 'f'), 'utf8')).toBe('x');
  });
});
