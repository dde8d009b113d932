// The vCPU state at the kernel's entry, for the two entries this loader
// supports: the 64-bit boot protocol (long mode, paging on with the identity
// map, RSI = zero page) and PVH (32-bit protected mode, paging off,
// EBX = hvm_start_info). Segment registers are derived from the GDT image the
// loader writes, so what KVM is told and what the guest would load agree.
import type { BootCpuState, SegmentState } from './cpu-state.js';
import { BOOT_STACK_POINTER, IDT_ADDR, PML4_ADDR, SELECTOR_BOOT_CS, SELECTOR_BOOT_DS, SELECTOR_CODE32, SELECTOR_TSS } from './boot-layout.js';
import { GDT_TABLE, segmentFromDescriptor } from './gdt.js';

export const CR0_PE = 1n << 0n;
export const CR0_ET = 1n << 4n;
export const CR0_NE = 1n << 5n;
export const CR0_PG = 1n << 31n;
export const CR4_PAE = 1n << 5n;
export const EFER_LME = 1n << 8n;
export const EFER_LMA = 1n << 10n;
/** Bit 1 of RFLAGS is reserved and always set; IF is clear. */
export const RFLAGS_BOOT = 0x2n;

const EMPTY_IDT = { base: BigInt(IDT_ADDR), limit: 7 };

function dataSegments(gdt: Uint8Array): Pick<BootCpuState['sregs'], 'ds' | 'es' | 'fs' | 'gs' | 'ss'> {
  const seg = (): SegmentState => segmentFromDescriptor(gdt, SELECTOR_BOOT_DS);
  return { ds: seg(), es: seg(), fs: seg(), gs: seg(), ss: seg() };
}

/** 64-bit boot protocol entry (Documentation/x86/boot.rst, "64-bit Boot Protocol"). */
export function longModeEntryState(gdt: Uint8Array, entry: number, zeroPage: number): BootCpuState {
  return {
    regs: { rip: BigInt(entry), rsp: BigInt(BOOT_STACK_POINTER), rbp: 0n, rflags: RFLAGS_BOOT, rsi: BigInt(zeroPage) },
    sregs: {
      cs: segmentFromDescriptor(gdt, SELECTOR_BOOT_CS),
      ...dataSegments(gdt),
      tr: segmentFromDescriptor(gdt, SELECTOR_TSS),
      gdt: { ...GDT_TABLE },
      idt: { ...EMPTY_IDT },
      cr0: CR0_PE | CR0_ET | CR0_NE | CR0_PG,
      cr3: BigInt(PML4_ADDR),
      cr4: CR4_PAE,
      efer: EFER_LME | EFER_LMA,
    },
  };
}

/** PVH entry (Xen's docs/misc/pvh.pandoc): flat 32-bit protected mode, paging off. */
export function pvhEntryState(gdt: Uint8Array, entry: number, startInfo: number): BootCpuState {
  return {
    regs: { rip: BigInt(entry), rsp: BigInt(BOOT_STACK_POINTER), rbp: 0n, rflags: RFLAGS_BOOT, rbx: BigInt(startInfo) },
    sregs: {
      cs: segmentFromDescriptor(gdt, SELECTOR_CODE32),
      ...dataSegments(gdt),
      tr: segmentFromDescriptor(gdt, SELECTOR_TSS),
      gdt: { ...GDT_TABLE },
      idt: { ...EMPTY_IDT },
      cr0: CR0_PE | CR0_ET,
      cr3: 0n,
      cr4: 0n,
      efer: 0n,
    },
  };
}
