// Random bytes from getrandom(2), as virtio-rng and the guest's seed take them.
import { describe, expect, it } from 'vitest';
import { fillRandom, randomHex } from '../../src/host-random.js';

describe('host random bytes', () => {
  it('fills a buffer, large or offset, with bytes that differ between calls', () => {
    const a = new Uint8Array(1 << 20);
    const b = new Uint8Array(1 << 20);
    fillRandom(a);
    fillRandom(b.subarray(1000));
    expect(Buffer.compare(a, b)).not.toBe(0);
    expect(b.subarray(0, 1000).every((x) => x === 0)).toBe(true); // nothing before the subarray
    // A megabyte of random bytes has every value many times.
    const counts = new Array(256).fill(0);
    for (const x of a) counts[x]++;
    expect(Math.min(...counts)).toBeGreaterThan(3000);
  });

  it('gives hex strings of the length asked', () => {
    const seed = randomHex(32);
    expect(seed).toMatch(/^[0-9a-f]{64}$/);
    expect(randomHex(32)).not.toBe(seed);
  });
});
