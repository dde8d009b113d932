// LZMA2 decoder (the xz format's only compression filter), decoding into a
// flat output buffer that doubles as the LZ dictionary. Written from the
// LZMA/LZMA2 format as specified by the xz file format and LZMA SDK docs.
// Every input read and output write is bounds-checked; corrupt input ends in
// a BootError.
import { BootError, hex } from './boot-error.js';

const PROB_BITS = 11;
const PROB_INIT = 1 << (PROB_BITS - 1);
const MOVE_BITS = 5;
const TOP = 1 << 24;

const STATES = 12;
const LIT_STATES = 7;
const POS_STATES_MAX = 16;
const MATCH_LEN_MIN = 2;
const DIST_STATES = 4;
const DIST_SLOTS = 64;
const DIST_MODEL_END = 14;
const FULL_DISTANCES = 128;
const ALIGN_BITS = 4;

class LengthDecoderProbs {
  choice = new Uint16Array(2);
  low = new Uint16Array(POS_STATES_MAX << 3);
  mid = new Uint16Array(POS_STATES_MAX << 3);
  high = new Uint16Array(256);
  reset(): void {
    this.choice.fill(PROB_INIT);
    this.low.fill(PROB_INIT);
    this.mid.fill(PROB_INIT);
    this.high.fill(PROB_INIT);
  }
}

export interface Lzma2Result {
  /** Bytes of input consumed, including the end-of-data control byte. */
  consumed: number;
  /** Bytes written to the output. */
  produced: number;
}

/**
 * Decodes LZMA2 data from input[start..] into out[outStart, outLimit) until
 * the end marker. `dictSize` bounds match distances.
 */
export function decodeLzma2(input: Uint8Array, start: number, out: Uint8Array, outStart: number, outLimit: number, dictSize: number): Lzma2Result {
  const d = new Lzma2Decoder(input, start, out, outStart, outLimit, dictSize);
  d.run();
  return { consumed: d.ip - start, produced: d.op - outStart };
}

class Lzma2Decoder {
  ip: number;
  op: number;
  private dictStart: number;
  private needDictReset = true;
  private needProps = true;

  // range coder
  private range = 0;
  private code = 0;
  private rcEnd = 0;

  // LZMA state
  private lc = 0;
  private lp = 0;
  private pb = 0;
  private state = 0;
  private rep0 = 0;
  private rep1 = 0;
  private rep2 = 0;
  private rep3 = 0;
  private literal = new Uint16Array(0x300 << 4);
  private isMatch = new Uint16Array(STATES * POS_STATES_MAX);
  private isRep = new Uint16Array(STATES);
  private isRepG0 = new Uint16Array(STATES);
  private isRepG1 = new Uint16Array(STATES);
  private isRepG2 = new Uint16Array(STATES);
  private isRep0Long = new Uint16Array(STATES * POS_STATES_MAX);
  private distSlot = new Uint16Array(DIST_STATES * DIST_SLOTS);
  private distSpecial = new Uint16Array(FULL_DISTANCES - DIST_MODEL_END);
  private distAlign = new Uint16Array(1 << ALIGN_BITS);
  private matchLen = new LengthDecoderProbs();
  private repLen = new LengthDecoderProbs();

  constructor(
    private readonly input: Uint8Array,
    start: number,
    private readonly out: Uint8Array,
    outStart: number,
    private readonly outLimit: number,
    private readonly dictSize: number,
  ) {
    this.ip = start;
    this.op = outStart;
    this.dictStart = outStart;
  }

  private fail(what: string): never {
    throw new BootError(`xz: corrupt LZMA2 data near input offset ${hex(this.ip)}: ${what}`);
  }

  private tooLarge(): never {
    throw new BootError(`xz: data decompresses to more than the expected ${this.outLimit} bytes (wrong size trailer, or a corrupt stream)`);
  }

  run(): void {
    const input = this.input;
    for (;;) {
      if (this.ip >= input.length) this.fail('stream ends without an end marker');
      const control = input[this.ip++];
      if (control === 0x00) return;
      if (control === 0x01 || control === 0x02) {
        if (control === 0x01) this.resetDict();
        else if (this.needDictReset) this.fail('first chunk does not reset the dictionary');
        if (input.length - this.ip < 2) this.fail('truncated chunk header');
        const size = ((input[this.ip] << 8) | input[this.ip + 1]) + 1;
        this.ip += 2;
        if (size > input.length - this.ip) this.fail('uncompressed chunk runs past the input');
        if (size > this.outLimit - this.op) this.tooLarge();
        this.out.set(input.subarray(this.ip, this.ip + size), this.op);
        this.ip += size;
        this.op += size;
        continue;
      }
      if (control < 0x80) this.fail(`invalid control byte ${hex(control)}`);
      if (input.length - this.ip < 4) this.fail('truncated chunk header');
      const uncompressed = ((control & 0x1f) << 16) + ((input[this.ip] << 8) | input[this.ip + 1]) + 1;
      const compressed = ((input[this.ip + 2] << 8) | input[this.ip + 3]) + 1;
      this.ip += 4;
      const reset = (control >>> 5) & 3;
      if (reset === 3) this.resetDict();
      else if (this.needDictReset) this.fail('first chunk does not reset the dictionary');
      if (reset >= 2) {
        if (this.ip >= input.length) this.fail('truncated chunk properties');
        this.setProps(input[this.ip++]);
      } else if (this.needProps) {
        this.fail('LZMA chunk without properties after a dictionary reset');
      }
      if (reset >= 1) this.resetState();
      if (compressed > input.length - this.ip) this.fail('compressed chunk runs past the input');
      if (uncompressed > this.outLimit - this.op) this.tooLarge();
      this.rcInit(this.ip, this.ip + compressed);
      this.decodeChunk(this.op + uncompressed);
      if (this.ip !== this.rcEnd || this.code !== 0) this.fail('chunk does not end where its header says');
    }
  }

  private resetDict(): void {
    this.dictStart = this.op;
    this.needDictReset = false;
    this.needProps = true;
  }

  private setProps(props: number): void {
    if (props >= 9 * 5 * 5) this.fail(`invalid LZMA properties byte ${hex(props)}`);
    this.pb = Math.floor(props / 45);
    const rest = props % 45;
    this.lp = Math.floor(rest / 9);
    this.lc = rest % 9;
    if (this.lc + this.lp > 4) this.fail(`lc ${this.lc} + lp ${this.lp} exceeds 4`);
    this.needProps = false;
  }

  private resetState(): void {
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
    this.literal.fill(PROB_INIT);
    this.isMatch.fill(PROB_INIT);
    this.isRep.fill(PROB_INIT);
    this.isRepG0.fill(PROB_INIT);
    this.isRepG1.fill(PROB_INIT);
    this.isRepG2.fill(PROB_INIT);
    this.isRep0Long.fill(PROB_INIT);
    this.distSlot.fill(PROB_INIT);
    this.distSpecial.fill(PROB_INIT);
    this.distAlign.fill(PROB_INIT);
    this.matchLen.reset();
    this.repLen.reset();
  }

  // ---- range coder -------------------------------------------------------

  private rcInit(start: number, end: number): void {
    if (end - start < 5) this.fail('chunk too short for the range coder');
    if (this.input[start] !== 0) this.fail('range coder does not start with 0');
    const i = this.input;
    this.code = ((i[start + 1] << 24) | (i[start + 2] << 16) | (i[start + 3] << 8) | i[start + 4]) >>> 0;
    this.range = 0xffffffff;
    this.ip = start + 5;
    this.rcEnd = end;
  }

  private normalize(): void {
    if (this.range < TOP) {
      if (this.ip >= this.rcEnd) this.fail('chunk compressed data exhausted');
      this.range = (this.range << 8) >>> 0;
      this.code = ((this.code << 8) | this.input[this.ip++]) >>> 0;
    }
  }

  private bit(probs: Uint16Array, i: number): number {
    const p = probs[i];
    const bound = (this.range >>> PROB_BITS) * p;
    if (this.code < bound) {
      this.range = bound;
      probs[i] = p + (((1 << PROB_BITS) - p) >>> MOVE_BITS);
      this.normalize();
      return 0;
    }
    this.range -= bound;
    this.code -= bound;
    probs[i] = p - (p >>> MOVE_BITS);
    this.normalize();
    return 1;
  }

  private bittree(probs: Uint16Array, base: number, bits: number): number {
    let sym = 1;
    for (let k = 0; k < bits; k++) sym = (sym << 1) | this.bit(probs, base + sym);
    return sym - (1 << bits);
  }

  private bittreeReverse(probs: Uint16Array, base: number, bits: number): number {
    let sym = 1;
    let result = 0;
    for (let k = 0; k < bits; k++) {
      const b = this.bit(probs, base + sym);
      sym = (sym << 1) | b;
      result |= b << k;
    }
    return result;
  }

  private directBits(count: number): number {
    let result = 0;
    for (let k = 0; k < count; k++) {
      this.range = this.range >>> 1;
      let b = 0;
      if (this.code >= this.range) {
        this.code -= this.range;
        b = 1;
      }
      result = (result << 1) | b; // at most 26 bits
      this.normalize();
    }
    return result;
  }

  // ---- LZMA --------------------------------------------------------------

  private decodeLength(l: LengthDecoderProbs, posState: number): number {
    if (this.bit(l.choice, 0) === 0) return MATCH_LEN_MIN + this.bittree(l.low, posState << 3, 3);
    if (this.bit(l.choice, 1) === 0) return MATCH_LEN_MIN + 8 + this.bittree(l.mid, posState << 3, 3);
    return MATCH_LEN_MIN + 16 + this.bittree(l.high, 0, 8);
  }

  private decodeDistance(len: number): number {
    const lenState = len < MATCH_LEN_MIN + DIST_STATES - 1 ? len - MATCH_LEN_MIN : DIST_STATES - 1;
    const slot = this.bittree(this.distSlot, lenState * DIST_SLOTS, 6);
    if (slot < 4) return slot;
    const directCount = (slot >>> 1) - 1;
    // Up to 3 << 30: kept unsigned; the sums below are exact in doubles.
    const dist = ((2 | (slot & 1)) << directCount) >>> 0;
    if (slot < DIST_MODEL_END) return dist + this.bittreeReverse(this.distSpecial, dist - slot - 1, directCount);
    return dist + (this.directBits(directCount - ALIGN_BITS) << ALIGN_BITS) + this.bittreeReverse(this.distAlign, 0, ALIGN_BITS);
  }

  private decodeChunk(chunkEnd: number): void {
    const out = this.out;
    const pbMask = (1 << this.pb) - 1;
    const lpMask = (1 << this.lp) - 1;
    const lc = this.lc;
    while (this.op < chunkEnd) {
      const pos = this.op - this.dictStart;
      const posState = pos & pbMask;
      const state = this.state;
      if (this.bit(this.isMatch, (state << 4) + posState) === 0) {
        const prev = pos > 0 ? out[this.op - 1] : 0;
        const base = 0x300 * (((pos & lpMask) << lc) + (prev >>> (8 - lc)));
        let sym = 1;
        if (state < LIT_STATES) {
          while (sym < 0x100) sym = (sym << 1) | this.bit(this.literal, base + sym);
        } else {
          if (this.rep0 >= pos) this.fail('matched literal before the dictionary start');
          let matchByte = out[this.op - this.rep0 - 1] << 1;
          let offset = 0x100;
          while (sym < 0x100) {
            const matchBit = matchByte & offset;
            matchByte <<= 1;
            const b = this.bit(this.literal, base + offset + matchBit + sym);
            sym = (sym << 1) | b;
            if (b) offset = matchBit;
            else offset &= ~matchBit;
          }
        }
        out[this.op++] = sym & 0xff;
        this.state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
        continue;
      }
      let len: number;
      if (this.bit(this.isRep, state) === 0) {
        len = this.decodeLength(this.matchLen, posState);
        this.state = state < LIT_STATES ? 7 : 10;
        this.rep3 = this.rep2;
        this.rep2 = this.rep1;
        this.rep1 = this.rep0;
        this.rep0 = this.decodeDistance(len);
        if (this.rep0 === 0xffffffff) this.fail('end-of-payload marker inside LZMA2');
      } else {
        if (this.bit(this.isRepG0, state) === 0) {
          if (this.bit(this.isRep0Long, (state << 4) + posState) === 0) {
            this.state = state < LIT_STATES ? 9 : 11;
            len = 1;
            this.copyMatch(pos, len, chunkEnd);
            continue;
          }
        } else {
          let dist: number;
          if (this.bit(this.isRepG1, state) === 0) {
            dist = this.rep1;
          } else {
            if (this.bit(this.isRepG2, state) === 0) {
              dist = this.rep2;
            } else {
              dist = this.rep3;
              this.rep3 = this.rep2;
            }
            this.rep2 = this.rep1;
          }
          this.rep1 = this.rep0;
          this.rep0 = dist;
        }
        this.state = state < LIT_STATES ? 8 : 11;
        len = this.decodeLength(this.repLen, posState);
      }
      this.copyMatch(pos, len, chunkEnd);
    }
  }

  private copyMatch(pos: number, len: number, chunkEnd: number): void {
    const dist = this.rep0;
    if (dist >= pos || dist >= this.dictSize) this.fail(`match distance ${dist + 1} reaches before the dictionary`);
    if (len > chunkEnd - this.op) this.fail('match runs past the chunk');
    const out = this.out;
    let from = this.op - dist - 1;
    let op = this.op;
    if (len >= 64 && dist + 1 >= len) {
      out.copyWithin(op, from, from + len);
      op += len;
    } else {
      // Short or overlapping: byte by byte (copyWithin's call costs more than a few bytes).
      for (let k = 0; k < len; k++) out[op++] = out[from++];
    }
    this.op = op;
  }
}
