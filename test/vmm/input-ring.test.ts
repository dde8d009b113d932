import { describe, expect, it } from 'vitest';
import { InputRing } from '../../src/vmm/input-ring.js';

describe('InputRing', () => {
  it('passes bytes in order and refuses what does not fit', () => {
    const ring = InputRing.create(8);
    expect(ring.push(Uint8Array.of(1, 2, 3, 4, 5, 6))).toBe(6);
    expect(ring.push(Uint8Array.of(7, 8, 9, 10))).toBe(2);
    const out = new Uint8Array(16);
    expect(ring.take(out, 3)).toBe(3);
    expect(Array.from(out.subarray(0, 3))).toEqual([1, 2, 3]);
    expect(ring.push(Uint8Array.of(9, 10, 11))).toBe(3);
    expect(ring.take(out, 16)).toBe(8);
    expect(Array.from(out.subarray(0, 8))).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    expect(ring.available).toBe(0);
  });

  it('keeps order across many wraps', () => {
    const ring = InputRing.create(7);
    const out = new Uint8Array(5);
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 1000; round++) {
      next += ring.push(Uint8Array.from({ length: 4 }, (_, i) => (next + i) & 0xff));
      const n = ring.take(out, 5);
      for (let i = 0; i < n; i++) expect(out[i]).toBe(expected++ & 0xff);
    }
  });
});
