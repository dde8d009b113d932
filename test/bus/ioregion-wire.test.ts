import { describe, expect, it } from 'vitest';
import { IOREGION_MESSAGE_SIZE, bytesToData, dataToBytes, decodeCommand, encodeCommand, encodeResponse } from '../../src/bus/ioregion-wire.js';

describe('ioregionfd wire protocol', () => {
  it('lays out a command as struct ioregionfd_cmd', () => {
    const buf = new Uint8Array(IOREGION_MESSAGE_SIZE);
    encodeCommand(new DataView(buf.buffer), { write: true, size: 4, wantsResponse: true, userData: 0x1122n, offset: 0x10, data: 0xdeadbeefn });
    const v = new DataView(buf.buffer);
    expect(v.getUint32(0, true)).toBe(1 | (2 << 4) | (1 << 6));
    expect(v.getBigUint64(8, true)).toBe(0x1122n);
    expect(v.getBigUint64(16, true)).toBe(0x10n);
    expect(v.getBigUint64(24, true)).toBe(0xdeadbeefn);
  });

  it('round-trips every size and direction', () => {
    for (const size of [1, 2, 4, 8])
      for (const write of [false, true]) {
        const buf = new Uint8Array(IOREGION_MESSAGE_SIZE);
        const c = { write, size, wantsResponse: !write, userData: 7n, offset: 0x100 - size, data: write ? 0x0102030405060708n & ((1n << BigInt(8 * size)) - 1n) : 0n };
        encodeCommand(new DataView(buf.buffer), c);
        expect(decodeCommand(buf, 0x100)).toEqual({ ok: true, value: c });
      }
  });

  it('rejects malformed commands from an untrusted peer', () => {
    const good = new Uint8Array(IOREGION_MESSAGE_SIZE);
    encodeCommand(new DataView(good.buffer), { write: false, size: 4, wantsResponse: true, userData: 0n, offset: 0, data: 0n });
    expect(decodeCommand(good.subarray(0, 31), 0x1000)).toMatchObject({ ok: false, error: /31 bytes/ });
    const bad = (mutate: (v: DataView) => void) => {
      const b = good.slice();
      mutate(new DataView(b.buffer));
      return decodeCommand(b, 0x1000);
    };
    expect(bad((v) => v.setUint32(0, 5, true))).toMatchObject({ ok: false, error: /unknown command 5/ });
    expect(bad((v) => v.setUint32(0, 0x80, true))).toMatchObject({ ok: false, error: /reserved info bits/ });
    expect(bad((v) => v.setBigUint64(16, 0xffcn + 2n, true))).toMatchObject({ ok: false, error: /outside/ });
    expect(bad((v) => v.setBigUint64(16, 0xfffffffffffffffen, true))).toMatchObject({ ok: false, error: /outside/ });
    let seed = 9;
    for (let i = 0; i < 5000; i++) {
      const b = new Uint8Array(IOREGION_MESSAGE_SIZE).map(() => (seed = (seed * 1664525 + 1013904223) >>> 0) >>> 24);
      const r = decodeCommand(b, 0x1000);
      if (r.ok) expect(r.value.offset + r.value.size).toBeLessThanOrEqual(0x1000);
    }
  });

  it('converts access bytes and the data field little-endian', () => {
    expect(bytesToData(Uint8Array.of(0x78, 0x56, 0x34, 0x12))).toBe(0x12345678n);
    const out = new Uint8Array(2);
    dataToBytes(0xabcdn, out);
    expect(Array.from(out)).toEqual([0xcd, 0xab]);
    const resp = new Uint8Array(IOREGION_MESSAGE_SIZE).fill(0xee);
    encodeResponse(new DataView(resp.buffer), 0x42n);
    expect(resp[0]).toBe(0x42);
    expect(resp.subarray(8).every((b) => b === 0)).toBe(true);
  });
});
