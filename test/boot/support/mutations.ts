// Deterministic mutations of well-formed images for the hostile-image tests.
import { prng } from '../../support/prng.js';

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff0, 0x1000, 0x1000000];

export function mutate(base: Uint8Array, rnd: () => number, hotRanges: [number, number][]): Uint8Array {
  let img = base.slice();
  const ops = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < ops; k++) {
    const choice = rnd();
    const [lo, hi] = rnd() < 0.7 && hotRanges.length ? hotRanges[Math.floor(rnd() * hotRanges.length)] : [0, img.length];
    const at = lo + Math.floor(rnd() * Math.max(1, Math.min(hi, img.length) - lo));
    if (choice < 0.4) {
      if (at < img.length) img[at] ^= 1 << Math.floor(rnd() * 8);
    } else if (choice < 0.7) {
      if (at + 4 <= img.length) new DataView(img.buffer).setUint32(at, INTERESTING[Math.floor(rnd() * INTERESTING.length)], true);
    } else if (choice < 0.8) {
      if (at + 8 <= img.length) new DataView(img.buffer).setBigUint64(at, BigInt.asUintN(64, BigInt(Math.floor(rnd() * 2 ** 53)) << BigInt(Math.floor(rnd() * 12))), true);
    } else if (choice < 0.9) {
      img = img.slice(0, Math.floor(rnd() * img.length));
    } else if (at < img.length) {
      img[at] = Math.floor(rnd() * 256);
    }
  }
  return img;
}

export function* mutations(base: Uint8Array, count: number, seed0: number, hot: [number, number][]): Iterable<[number, Uint8Array]> {
  for (let i = 0; i < count; i++) yield [seed0 + i, mutate(base, prng(seed0 + i), hot)];
}

