// XXH64 (seed 0), the content checksum of a zstd frame (its low 32 bits).
// 64-bit arithmetic on 32-bit halves: no BigInt in the per-stripe loop.

// Primes as [hi, lo].
const P1H = 0x9e3779b1, P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d, P2L = 0x27d4eb4f;
const P3H = 0x165667b1, P3L = 0x9e3779f9;
const P4H = 0x85ebca77, P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f, P5L = 0x165667c5;

// Scratch result of the helpers below (avoids allocating pairs).
let rH = 0;
let rL = 0;

function mul(aH: number, aL: number, bH: number, bL: number): void {
  const a0 = aL & 0xffff, a1 = aL >>> 16, b0 = bL & 0xffff, b1 = bL >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const carry = p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16);
  rL = Math.imul(aL, bL) >>> 0;
  rH = (carry + Math.imul(aH, bL) + Math.imul(aL, bH)) >>> 0;
}

function add(aH: number, aL: number, bH: number, bL: number): void {
  const lo = aL + bL;
  rH = (aH + bH + (lo > 0xffffffff ? 1 : 0)) >>> 0;
  rL = lo >>> 0;
}

function rotl(h: number, l: number, r: number): void {
  if (r >= 32) {
    const t = h;
    h = l;
    l = t;
    r -= 32;
  }
  if (r === 0) {
    rH = h;
    rL = l;
    return;
  }
  rH = ((h << r) | (l >>> (32 - r))) >>> 0;
  rL = ((l << r) | (h >>> (32 - r))) >>> 0;
}

/** round(acc, input) = rotl(acc + input * P2, 31) * P1 */
function round(accH: number, accL: number, inH: number, inL: number): void {
  mul(inH, inL, P2H, P2L);
  add(accH, accL, rH, rL);
  rotl(rH, rL, 31);
  mul(rH, rL, P1H, P1L);
}

export function xxhash64(data: Uint8Array): bigint {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const len = data.length;
  let p = 0;
  let hH: number, hL: number;
  if (len >= 32) {
    add(P1H, P1L, P2H, P2L);
    let v1H = rH, v1L = rL;
    let v2H = P2H, v2L = P2L;
    let v3H = 0, v3L = 0;
    // v4 = -P1 mod 2^64
    let v4H = ~P1H >>> 0, v4L = ((~P1L >>> 0) + 1) >>> 0;
    const limit = len - 32;
    while (p <= limit) {
      round(v1H, v1L, dv.getUint32(p + 4, true), dv.getUint32(p, true));
      v1H = rH; v1L = rL;
      round(v2H, v2L, dv.getUint32(p + 12, true), dv.getUint32(p + 8, true));
      v2H = rH; v2L = rL;
      round(v3H, v3L, dv.getUint32(p + 20, true), dv.getUint32(p + 16, true));
      v3H = rH; v3L = rL;
      round(v4H, v4L, dv.getUint32(p + 28, true), dv.getUint32(p + 24, true));
      v4H = rH; v4L = rL;
      p += 32;
    }
    rotl(v1H, v1L, 1);
    let aH = rH, aL = rL;
    rotl(v2H, v2L, 7);
    add(aH, aL, rH, rL);
    aH = rH; aL = rL;
    rotl(v3H, v3L, 12);
    add(aH, aL, rH, rL);
    aH = rH; aL = rL;
    rotl(v4H, v4L, 18);
    add(aH, aL, rH, rL);
    hH = rH; hL = rL;
    for (const [vH, vL] of [[v1H, v1L], [v2H, v2L], [v3H, v3L], [v4H, v4L]]) {
      round(0, 0, vH, vL);
      hH = (hH ^ rH) >>> 0;
      hL = (hL ^ rL) >>> 0;
      mul(hH, hL, P1H, P1L);
      add(rH, rL, P4H, P4L);
      hH = rH; hL = rL;
    }
  } else {
    hH = P5H;
    hL = P5L;
  }
  add(hH, hL, Math.floor(len / 2 ** 32), len >>> 0);
  hH = rH; hL = rL;
  while (p + 8 <= len) {
    round(0, 0, dv.getUint32(p + 4, true), dv.getUint32(p, true));
    hH = (hH ^ rH) >>> 0;
    hL = (hL ^ rL) >>> 0;
    rotl(hH, hL, 27);
    mul(rH, rL, P1H, P1L);
    add(rH, rL, P4H, P4L);
    hH = rH; hL = rL;
    p += 8;
  }
  if (p + 4 <= len) {
    mul(0, dv.getUint32(p, true), P1H, P1L);
    hH = (hH ^ rH) >>> 0;
    hL = (hL ^ rL) >>> 0;
    rotl(hH, hL, 23);
    mul(rH, rL, P2H, P2L);
    add(rH, rL, P3H, P3L);
    hH = rH; hL = rL;
    p += 4;
  }
  while (p < len) {
    mul(0, data[p], P5H, P5L);
    hH = (hH ^ rH) >>> 0;
    hL = (hL ^ rL) >>> 0;
    rotl(hH, hL, 11);
    mul(rH, rL, P1H, P1L);
    hH = rH; hL = rL;
    p++;
  }
  // avalanche
  hL = (hL ^ (hH >>> 1)) >>> 0; // h ^= h >> 33
  mul(hH, hL, P2H, P2L);
  hH = rH; hL = rL;
  const lo29 = ((hL >>> 29) | (hH << 3)) >>> 0; // h ^= h >> 29
  hL = (hL ^ lo29) >>> 0;
  hH = (hH ^ (hH >>> 29)) >>> 0;
  mul(hH, hL, P3H, P3L);
  hH = rH;
  hL = (rL ^ rH) >>> 0; // h ^= h >> 32
  return (BigInt(hH) << 32n) | BigInt(hL);
}
