import { describe, expect, it } from 'vitest';
import { StructView, guestStruct, u16, u32, u64, u8 } from '../../../src/devices/virtio/guest-struct.js';

const Example = guestStruct('example', 24, { a: u8(0), b: u16(2), c: u32(4), d: u64(8), e: u64(16) });

describe('guest structures', () => {
  it('writes little-endian fields at their offsets and reads them back', () => {
    const v = new StructView(Example).set('a', 0xab).set('b', 0x1234).set('c', 0xdeadbeef).set('d', 2 ** 40 + 5);
    expect([...v.bytes.subarray(0, 16)]).toEqual([0xab, 0, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde, 5, 0, 0, 0, 0, 1, 0, 0]);
    expect([v.get('a'), v.get('b'), v.get('c'), v.get('d')]).toEqual([0xab, 0x1234, 0xdeadbeef, 2 ** 40 + 5]);
  });

  it('reads a u64 of 2^53 or more as Infinity (it fails every range check)', () => {
    const v = new StructView(Example);
    v.bytes.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0], 8);
    expect(v.get('d')).toBe(2 ** 53 - 1);
    v.bytes.set([0, 0, 0, 0, 0, 0, 0x20, 0], 16);
    expect(v.get('e')).toBe(Infinity);
  });

  it('refuses values that do not fit', () => {
    const v = new StructView(Example);
    expect(() => v.set('a', 256)).toThrow(/example\.a/);
    expect(() => v.set('c', -1)).toThrow(RangeError);
    expect(() => v.set('d', 2 ** 53)).toThrow(RangeError);
  });

  it("takes each size's largest value and refuses the next", () => {
    const v = new StructView(Example);
    for (const [field, size] of [['a', 1], ['b', 2], ['c', 4]] as const) {
      const largest = 2 ** (8 * size) - 1;
      expect(v.set(field, largest).get(field)).toBe(largest);
      expect(() => v.set(field, largest + 1)).toThrow(RangeError);
    }
    expect(v.set('d', Number.MAX_SAFE_INTEGER).get('d')).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => v.set('d', 1.5)).toThrow(RangeError);
  });

  it('works over part of a larger buffer', () => {
    const buffer = new Uint8Array(40);
    const v = new StructView(Example, buffer.subarray(8));
    v.set('b', 0xbeef);
    expect([buffer[10], buffer[11]]).toEqual([0xef, 0xbe]);
    expect(() => new StructView(Example, new Uint8Array(23))).toThrow(/24 bytes/);
  });

  it('rejects overlapping fields and fields past the end', () => {
    expect(() => guestStruct('bad', 8, { a: u32(0), b: u32(2) })).toThrow(/overlaps/);
    expect(() => guestStruct('bad', 8, { a: u64(4) })).toThrow(/runs past/);
  });
});
