// What a guest finds at the x86 reset vector, F000:FFF0 (physical 0xffff0).
//
// tsvmm boots without firmware, yet guests still jump there: Linux's BIOS
// reboot method (`reboot=b`, and its fallback when the EFI method it prefers on
// a hardware-reduced ACPI platform is unavailable) returns to real mode and
// far-jumps to the reset vector. Zeroed RAM there decodes as `add [bx+si], al`
// and runs on forever without an exit: a guest that hangs instead of
// rebooting. These 16 bytes triple-fault instead (an IDT of limit 0, then
// int3: the breakpoint, the #GP it raises and the double fault all miss the
// table), which KVM reports as KVM_EXIT_SHUTDOWN: a reset, like every other
// way a guest asks for one.
import type { GuestMemory } from '../memory/guest-memory.js';
import { RESET_VECTOR_ADDR } from './boot-layout.js';

/** Real-mode code for CS=F000, IP=FFF0; the IDT pointer it loads sits at offset 8. */
export const RESET_VECTOR_STUB = Uint8Array.of(
  0xfa, //                               cli
  0x2e, 0x0f, 0x01, 0x1e, 0xf8, 0xff, // lidt cs:[0xfff8]
  0xcc, //                               int3 (a triple fault from here)
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // at 0xfff8: IDT limit 0, base 0
  0xf4, //                               hlt (never reached)
  0x00,
);

export function writeResetVector(memory: GuestMemory): void {
  memory.write(RESET_VECTOR_ADDR, RESET_VECTOR_STUB);
}
