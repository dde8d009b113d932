// The xz x86 BCJ filter, decoding direction: undoes the encoder's conversion
// of relative CALL/JMP (E8/E9) targets to absolute ones, which the kernel's
// xz_wrap.sh applies (`xz --x86`). Works on a whole block's output at once;
// the last four bytes are left as they are, as the streaming decoder does.

const MASK_TO_ALLOWED = [true, true, true, false, true, false, false, false];
const MASK_TO_BIT_NUMBER = [0, 1, 2, 2, 3, 3, 3, 3];

function isMsByte(b: number): boolean {
  return b === 0x00 || b === 0xff;
}

/**
 * Decodes buf in place. `startOffset` is the uncompressed position of buf[0]
 * as the filter counts it (the filter's start offset property, usually 0).
 */
export function bcjX86Decode(buf: Uint8Array, startOffset = 0): void {
  if (buf.length <= 4) return;
  const size = buf.length - 4;
  let prevPos = -1;
  let prevMask = 0;
  let i = 0;
  for (; i < size; i++) {
    if ((buf[i] & 0xfe) !== 0xe8) continue;
    const distance = i - prevPos;
    if (distance > 3) {
      prevMask = 0;
    } else {
      prevMask = (prevMask << (distance - 1)) & 7;
      if (prevMask !== 0) {
        const b = buf[i + 4 - MASK_TO_BIT_NUMBER[prevMask]];
        if (!MASK_TO_ALLOWED[prevMask] || isMsByte(b)) {
          prevPos = i;
          prevMask = (prevMask << 1) | 1;
          continue;
        }
      }
    }
    prevPos = i;
    if (isMsByte(buf[i + 4])) {
      let src = (buf[i + 1] | (buf[i + 2] << 8) | (buf[i + 3] << 16) | (buf[i + 4] << 24)) >>> 0;
      let dest: number;
      for (;;) {
        dest = (src - ((startOffset + i + 5) >>> 0)) >>> 0;
        if (prevMask === 0) break;
        const j = MASK_TO_BIT_NUMBER[prevMask] * 8;
        const b = (dest >>> (24 - j)) & 0xff;
        if (!isMsByte(b)) break;
        src = (dest ^ (2 ** (32 - j) - 1)) >>> 0;
      }
      dest &= 0x01ffffff;
      if (dest & 0x01000000) dest |= 0xfe000000;
      buf[i + 1] = dest & 0xff;
      buf[i + 2] = (dest >>> 8) & 0xff;
      buf[i + 3] = (dest >>> 16) & 0xff;
      buf[i + 4] = (dest >>> 24) & 0xff;
      i += 4;
    } else {
      prevMask = (prevMask << 1) | 1;
    }
  }
}
