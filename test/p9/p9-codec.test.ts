import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { P9ProtocolError, P9Reader, P9Writer } from '../../src/p9/p9-codec.js';
import * as c from '../../src/p9/p9-constants.js';
import { decodeRequest } from '../../src/p9/p9-requests.js';

const E = os.constants.errno;
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

describe('p9 codec', () => {
  it('writes little-endian integers, len[2] strings and 13-byte qids', () => {
    const w = new P9Writer(64).begin(c.P9_TVERSION + 1, 0xffff);
    const bytes = w.u32(8192).string('9P2000.L').qid({ type: 0x80, version: 7, path: 0x0102030405060708n }).finish();
    expect(Buffer.from(bytes).toString('hex')).toBe(
      '22000000' + '65' + 'ffff' + '00200000' + '0800' + Buffer.from('9P2000.L').toString('hex') + '80' + '07000000' + '0807060504030201',
    );
  });

  it('decodes a Tversion exactly as Linux sends it', () => {
    // size=21 type=100 tag=NOTAG msize=8192 "9P2000.L"
    const decoded = decodeRequest(hex('15000000 64 ffff 00200000 0800 395032303030 2e4c'), 65536);
    expect(decoded).toEqual({ ok: true, tag: 0xffff, request: { type: c.P9_TVERSION, msize: 8192, version: '9P2000.L' } });
  });

  it('decodes Twalk names, Tsetattr fields, Tfsync with or without datasync', () => {
    const walk = new P9Writer(128).begin(c.P9_TWALK, 1).u32(1).u32(2).u16(2).string('a').string('bé').finish();
    expect(decodeRequest(walk, 8192)).toMatchObject({ ok: true, request: { fid: 1, newfid: 2, names: ['a', 'bé'] } });
    const setattr = new P9Writer(128).begin(c.P9_TSETATTR, 1).u32(3).u32(0x1ff).u32(0o644).u32(1).u32(2).u64(99).u64(10).u64(11).u64(12).u64(13).finish();
    expect(decodeRequest(setattr, 8192)).toMatchObject({
      ok: true,
      request: { fid: 3, attr: { valid: 0x1ff, mode: 0o644, uid: 1, gid: 2, size: 99, atimeSec: 10n, atimeNsec: 11n, mtimeSec: 12n, mtimeNsec: 13n } },
    });
    expect(decodeRequest(new P9Writer(64).begin(c.P9_TFSYNC, 1).u32(3).finish(), 8192)).toMatchObject({ ok: true, request: { fid: 3, datasync: 0 } });
    expect(decodeRequest(new P9Writer(64).begin(c.P9_TFSYNC, 1).u32(3).u32(1).finish(), 8192)).toMatchObject({ ok: true, request: { fid: 3, datasync: 1 } });
  });

  it('every broken field is a P9ProtocolError, nothing else', () => {
    const reader = (bytes: Uint8Array) => new P9Reader(bytes, 0, bytes.byteLength);
    expect(() => reader(hex('0100')).u32()).toThrow(P9ProtocolError);
    expect(() => reader(hex('0500 6162')).string()).toThrow(P9ProtocolError);
    expect(() => reader(hex('0200 fffe')).string()).toThrow(P9ProtocolError);
    expect(() => reader(hex('ffffffffffffffff')).u64AsNumber()).toThrow(P9ProtocolError);
    expect(() => reader(hex('00')).expectEnd()).toThrow(P9ProtocolError);
    expect(decodeRequest(hex('0700000078 0100'), 8192)).toMatchObject({ ok: false, tag: 1, errno: E.EPROTO }); // Tclunk without its fid
  });

  it('a reply that would overflow the buffer is a RangeError (a server bug, caught by the server)', () => {
    const w = new P9Writer(16).begin(c.P9_RLERROR, 1);
    expect(() => w.string('x'.repeat(20))).toThrow(RangeError);
  });
});
