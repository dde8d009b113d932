// Flat 16-bit real-mode payloads (the tiny test guests): the image is loaded
// at 0x10000 and entered at 1000:0000 with every data segment at the same base.
import type { GuestMemory } from '../memory/guest-memory.js';
import type { BootCpuState, SegmentState } from './cpu-state.js';

export const REAL_MODE_LOAD_ADDRESS = 0x10000;
/** A real-mode segment spans 64 KiB. */
export const REAL_MODE_MAX_PAYLOAD = 0x10000;

export class PayloadError extends Error {
  override name = 'PayloadError';
}

function realModeSegment(selector: number, type: number): SegmentState {
  return { base: BigInt(selector) << 4n, limit: 0xffff, selector, type, present: 1, dpl: 0, db: 0, s: 1, l: 0, g: 0 };
}

export function loadRealModePayload(memory: GuestMemory, image: Uint8Array): BootCpuState {
  if (image.length === 0) throw new PayloadError('the real-mode payload is empty');
  if (image.length > REAL_MODE_MAX_PAYLOAD)
    throw new PayloadError(`the real-mode payload is ${image.length} bytes; at most ${REAL_MODE_MAX_PAYLOAD} fit in one segment`);
  memory.write(REAL_MODE_LOAD_ADDRESS, image);
  const selector = REAL_MODE_LOAD_ADDRESS >> 4;
  const data = realModeSegment(selector, 0x3); // read/write, accessed
  return {
    regs: { rip: 0n, rsp: 0xfff0n, rflags: 2n },
    sregs: {
      cs: realModeSegment(selector, 0xb), // execute/read, accessed
      ds: data,
      es: data,
      fs: data,
      gs: data,
      ss: data,
      tr: { base: 0n, limit: 0xffff, selector: 0, type: 0xb, present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0 },
      gdt: { base: 0n, limit: 0xffff },
      idt: { base: 0n, limit: 0x3ff },
      cr0: 0x60000010n, // reset value: CD, NW, ET
      cr3: 0n,
      cr4: 0n,
      efer: 0n,
    },
  };
}
