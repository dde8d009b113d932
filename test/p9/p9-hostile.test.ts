// Messages a hostile or broken guest could send: wrong sizes, truncated
// fields, strings running past the end, unknown types, huge counts and
// offsets, random bytes. The server must answer each with a well-formed
// reply (Rlerror for everything malformed), never throw, never touch the host
// files next to the share.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { P9Reader, P9Writer } from '../../src/p9/p9-codec.js';
import * as c from '../../src/p9/p9-constants.js';
import { prng } from '../support/prng.js';
import { type Share, makeShare } from './p9-fixture.js';

const E = os.constants.errno;

let share: Share;
afterEach(() => share?.cleanup());

interface Reply {
  size: number;
  type: number;
  tag: number;
  errno?: number;
}

/** Sends raw bytes; checks the reply is one well-formed message carrying nothing from outside the share. */
function send(s: Share, bytes: Uint8Array): Reply {
  const reply = s.server.handle(bytes);
  expect(reply.byteLength).toBeGreaterThanOrEqual(c.P9_HEADER_SIZE);
  expect(Buffer.from(reply).includes('host secret')).toBe(false);
  const r = new P9Reader(reply, 0, reply.byteLength);
  const result: Reply = { size: r.u32(), type: r.u8(), tag: r.u16() };
  expect(result.size).toBe(reply.byteLength);
  if (result.type === c.P9_RLERROR) {
    result.errno = r.u32();
    expect(r.remaining).toBe(0);
  }
  return result;
}

function message(type: number, tag: number, body: (w: P9Writer) => void): Uint8Array {
  const w = new P9Writer(1 << 20).begin(type, tag);
  body(w);
  return w.finish().slice();
}

function withSize(bytes: Uint8Array, size: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(0, size, true);
  return copy;
}

function outsideFiles(s: Share): string[] {
  return fs
    .readdirSync(s.outside, { recursive: true, encoding: 'utf8' })
    .filter((name) => !name.startsWith('share'))
    .map((name) => `${name}:${fs.lstatSync(path.join(s.outside, name)).mtimeMs}`)
    .sort();
}

describe('hostile messages', () => {
  it('framing errors: too short, size field wrong, above msize', () => {
    share = makeShare();
    expect(send(share, new Uint8Array(0))).toMatchObject({ type: c.P9_RLERROR, tag: c.P9_NOTAG, errno: E.EPROTO });
    expect(send(share, new Uint8Array([7, 0, 0]))).toMatchObject({ type: c.P9_RLERROR, tag: c.P9_NOTAG, errno: E.EPROTO });
    const clunk = message(c.P9_TCLUNK, 9, (w) => w.u32(0));
    expect(send(share, withSize(clunk, clunk.byteLength + 1))).toMatchObject({ type: c.P9_RLERROR, tag: 9, errno: E.EPROTO });
    expect(send(share, withSize(clunk, clunk.byteLength - 1))).toMatchObject({ type: c.P9_RLERROR, tag: 9, errno: E.EPROTO });
    expect(send(share, withSize(clunk, 0xffffffff))).toMatchObject({ type: c.P9_RLERROR, errno: E.EMSGSIZE });
    const huge = message(c.P9_TWRITE, 3, (w) => w.u32(0).u64(0).u32(share.server.msize).bytes(new Uint8Array(share.server.msize)));
    expect(send(share, huge)).toMatchObject({ type: c.P9_RLERROR, tag: 3, errno: E.EMSGSIZE });
    // Trailing bytes after the last field are a malformed message too.
    expect(send(share, message(c.P9_TCLUNK, 4, (w) => w.u32(0).u8(0)))).toMatchObject({ errno: E.EPROTO });
    expect(share.server.fidCount).toBe(1);
  });

  it('types: unknown, R-messages, and 9P2000 requests a .L server does not serve', () => {
    share = makeShare();
    for (const type of [0, 1, 6, 7, 11, 101, 105, 107, 200, 255]) {
      expect(send(share, message(type, 1, (w) => w.u32(0)))).toMatchObject({ type: c.P9_RLERROR, errno: E.EPROTO });
    }
    for (const type of [102, 112, 114, 124, 126]) {
      expect(send(share, message(type, 1, (w) => w.u32(0)))).toMatchObject({ type: c.P9_RLERROR, errno: E.EOPNOTSUPP });
    }
  });

  it('strings running past the end, walks with more names than bytes, names that are not UTF-8', () => {
    share = makeShare({ f: 'x' });
    const pastEnd = message(c.P9_TWALK, 2, (w) => w.u32(0).u32(1).u16(1).u16(500).bytes(new Uint8Array([0x61, 0x62])));
    expect(send(share, pastEnd)).toMatchObject({ errno: E.EPROTO });
    const manyNames = message(c.P9_TWALK, 2, (w) => w.u32(0).u32(1).u16(0xffff));
    expect(send(share, manyNames)).toMatchObject({ errno: E.EPROTO });
    const notUtf8 = message(c.P9_TMKDIR, 2, (w) => w.u32(0).u16(2).bytes(new Uint8Array([0xff, 0xfe])).u32(0o755).u32(0));
    expect(send(share, notUtf8)).toMatchObject({ errno: E.EINVAL });
    expect(share.server.fidCount).toBe(1);
  });

  it('huge counts and offsets', () => {
    share = makeShare({ f: 'data' });
    const { client } = share;
    client.walk(0, 1, ['f']);
    client.lopen(1, fs.constants.O_RDWR);
    client.walk(0, 2, []);
    client.lopen(2, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const read = (fid: number, offset: bigint, count: number, type = c.P9_TREAD) => send(share, message(type, 5, (w) => w.u32(fid).u64(offset).u32(count)));
    expect(read(1, 0n, 0xffffffff)).toMatchObject({ errno: E.EINVAL });
    expect(read(2, 0n, 0xffffffff, c.P9_TREADDIR)).toMatchObject({ errno: E.EINVAL });
    expect(read(1, 0xffffffffffffffffn, 10)).toMatchObject({ errno: E.EINVAL });
    expect(read(1, 1n << 53n, 10)).toMatchObject({ errno: E.EINVAL });
    expect(read(1, (1n << 53n) - 1n, 10)).toMatchObject({ type: c.P9_TREAD + 1 });
    expect(read(2, 0xffffffffffffffffn, 4096, c.P9_TREADDIR)).toMatchObject({ errno: E.EINVAL });
    expect(read(2, 1n << 40n, 4096, c.P9_TREADDIR)).toMatchObject({ type: c.P9_TREADDIR + 1 });
    // A Twrite whose count says more (or less) than the data it carries.
    expect(send(share, message(c.P9_TWRITE, 6, (w) => w.u32(1).u64(0).u32(100).bytes(new Uint8Array(10))))).toMatchObject({ errno: E.EPROTO });
    expect(send(share, message(c.P9_TWRITE, 6, (w) => w.u32(1).u64(0).u32(5).bytes(new Uint8Array(10))))).toMatchObject({ errno: E.EPROTO });
    expect(send(share, message(c.P9_TWRITE, 6, (w) => w.u32(1).u64(1n << 60n).u32(1).bytes(new Uint8Array(1))))).toMatchObject({ errno: E.EINVAL });
    expect(fs.readFileSync(path.join(share.root, 'f'), 'utf8')).toBe('data');
  });

  it('every valid request truncated at every length is refused, never served in part', () => {
    share = makeShare({ f: 'data', 'd/': '' });
    share.client.walk(0, 1, ['f']);
    const requests = [
      message(c.P9_TVERSION, 1, (w) => w.u32(65536).string('9P2000.L')),
      message(c.P9_TATTACH, 1, (w) => w.u32(7).u32(c.P9_NOFID).string('u').string('a').u32(0)),
      message(c.P9_TWALK, 1, (w) => w.u32(0).u32(8).u16(2).string('d').string('..')),
      message(c.P9_TLCREATE, 1, (w) => w.u32(0).string('n').u32(2).u32(0o644).u32(0)),
      message(c.P9_TSETATTR, 1, (w) => w.u32(1).u32(c.P9_ATTR_MODE).u32(0o600).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0)),
      message(c.P9_TMKNOD, 1, (w) => w.u32(0).string('n').u32(fs.constants.S_IFIFO | 0o644).u32(0).u32(0).u32(0)),
      message(c.P9_TRENAMEAT, 1, (w) => w.u32(0).string('f').u32(0).string('g')),
      message(c.P9_TLOCK, 1, (w) => w.u32(1).u8(1).u32(0).u64(0).u64(0).u32(1).string('c')),
      message(c.P9_TWRITE, 1, (w) => w.u32(1).u64(0).u32(4).bytes(new Uint8Array(4))),
    ];
    for (const request of requests) {
      for (let length = c.P9_HEADER_SIZE; length < request.byteLength; length++) {
        const truncated = withSize(request.subarray(0, length), length);
        const reply = send(share, truncated);
        expect(reply.type, `type ${request[4]} cut at ${length}`).toBe(c.P9_RLERROR);
        expect(reply.errno).toBe(E.EPROTO);
      }
    }
    expect(fs.readdirSync(share.root).sort()).toEqual(['d', 'f']);
    expect(share.server.fidCount).toBe(2);
  });

  it('random messages get well-formed replies and leave the host alone', () => {
    share = makeShare({ f: 'data', 'd/x': 'x' });
    fs.symlinkSync(path.join(share.outside, 'secret'), path.join(share.root, 'link'));
    const before = outsideFiles(share);
    const secret = fs.readFileSync(path.join(share.outside, 'secret'), 'utf8');
    const next = prng(0x9b1);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
    const names = ['f', 'd', 'x', 'link', '..', '.', '', '/', '../secret', 'd/x', 'new', 'secret', '\0'];
    // Open fids to read through, so random Tread / Treaddir have something to aim at
    // (random requests may have removed 'f' or 'link' by then: a step may fail).
    const open = () => {
      const { client } = share;
      const steps = [() => client.walk(0, 1, ['link']), () => client.walk(0, 2, ['f']), () => client.lopen(2), () => client.walk(0, 3, []), () => client.lopen(3)];
      for (const step of steps) {
        try {
          step();
        } catch {
          // the file is gone
        }
      }
    };
    const types = [8, 12, 14, 16, 18, 20, 22, 24, 26, 30, 32, 40, 50, 52, 54, 70, 72, 74, 76, 100, 104, 108, 110, 116, 118, 120, 122];
    let errors = 0;
    for (let i = 0; i < 5000; i++) {
      const type = pick(types);
      const tag = i & 0xffff;
      let bytes: Uint8Array;
      if (next() < 0.5) {
        // Fields of plausible shapes: small fids, names from the list, anything as numbers.
        bytes = message(type, tag, (w) => {
          const fields = 1 + Math.floor(next() * 8);
          for (let f = 0; f < fields; f++) {
            const kind = next();
            if (kind < 0.35) w.u32(Math.floor(next() * 4));
            else if (kind < 0.6) w.string(pick(names));
            else if (kind < 0.7) w.u16(Math.floor(next() * 4));
            else if (kind < 0.8) w.u64(BigInt(Math.floor(next() * 2 ** 32)) << BigInt(Math.floor(next() * 32)));
            else if (kind < 0.9) w.u32(Math.floor(next() * 2 ** 32));
            else w.u8(Math.floor(next() * 256));
          }
        });
      } else {
        const length = c.P9_HEADER_SIZE + Math.floor(next() * 64);
        bytes = new Uint8Array(length);
        for (let b = 0; b < length; b++) bytes[b] = Math.floor(next() * 256);
        bytes[4] = type;
        if (next() < 0.8) new DataView(bytes.buffer).setUint32(0, length, true);
      }
      const reply = send(share, bytes);
      if (reply.type === c.P9_RLERROR) errors++;
      else expect(reply.type).toBe(type + 1);
      // Start over now and then so later messages have fids to play with.
      if (i % 500 === 0) {
        share.client.version(65536);
        share.client.attach(0);
        open();
      }
    }
    expect(errors).toBeGreaterThan(1000);
    expect(outsideFiles(share)).toEqual(before);
    expect(fs.readFileSync(path.join(share.outside, 'secret'), 'utf8')).toBe(secret);
  });
});
