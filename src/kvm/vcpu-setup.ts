// One-time vCPU configuration before the first KVM_RUN: CPUID, MSRs, local
// APIC wiring, FPU defaults and the boot register state.
import { check, ioctlBuffer } from '../../ffi/libc.js';
import { KVM_IOCTL, KvmFpu, KvmLapicState, KvmMsrEntry, KvmMsrs, KvmRegs, KvmSegment, KvmSregs } from '../../ffi/kvm-abi.js';
import type { BootCpuState, SegmentState } from '../boot/cpu-state.js';
import type { CpuidTable } from './cpuid-table.js';
import type { Logger } from '../log.js';

export function setCpuid(vcpuFd: number, cpuid: CpuidTable): void {
  check(ioctlBuffer(vcpuFd, KVM_IOCTL.KVM_SET_CPUID2, cpuid.encode()) as number, 'KVM_SET_CPUID2');
}

/** MSR values a freshly booted x86-64 CPU should start with. */
export const BOOT_MSRS: readonly { index: number; name: string; value: bigint }[] = [
  { index: 0x174, name: 'IA32_SYSENTER_CS', value: 0n },
  { index: 0x175, name: 'IA32_SYSENTER_ESP', value: 0n },
  { index: 0x176, name: 'IA32_SYSENTER_EIP', value: 0n },
  { index: 0xc0000081, name: 'STAR', value: 0n },
  { index: 0xc0000082, name: 'LSTAR', value: 0n },
  { index: 0xc0000083, name: 'CSTAR', value: 0n },
  { index: 0xc0000084, name: 'SYSCALL_MASK', value: 0n },
  { index: 0xc0000102, name: 'KERNEL_GS_BASE', value: 0n },
  { index: 0x10, name: 'IA32_TSC', value: 0n },
  { index: 0x1a0, name: 'IA32_MISC_ENABLE', value: 1n }, // fast strings
  { index: 0x2ff, name: 'IA32_MTRR_DEF_TYPE', value: (1n << 11n) | 6n }, // MTRRs on, default write-back
];

/** Sets each boot MSR; KVM stops at the first one it refuses, which we log and skip. */
export function setBootMsrs(vcpuFd: number, log: Logger): void {
  const buf = Buffer.alloc(KvmMsrs.size + KvmMsrEntry.size);
  for (const msr of BOOT_MSRS) {
    buf.fill(0);
    buf.writeUInt32LE(1, KvmMsrs.offsets.nmsrs);
    buf.writeUInt32LE(msr.index, KvmMsrs.offsets.entries + KvmMsrEntry.offsets.index);
    buf.writeBigUInt64LE(msr.value, KvmMsrs.offsets.entries + KvmMsrEntry.offsets.data);
    const set = check(ioctlBuffer(vcpuFd, KVM_IOCTL.KVM_SET_MSRS, buf) as number, 'KVM_SET_MSRS');
    if (set !== 1) log.debug({ msr: msr.name }, 'KVM refused a boot MSR; left at its reset value');
  }
}

const APIC_LVT_LINT0 = 0x350;
const APIC_LVT_LINT1 = 0x360;
const APIC_MODE_EXTINT = 0x7 << 8;
const APIC_MODE_NMI = 0x4 << 8;
const APIC_DELIVERY_MODE_MASK = 0x7 << 8;

/** LINT0 receives the PIC's ExtINT, LINT1 is the NMI line (what firmware sets up). */
export function setupLapic(vcpuFd: number): void {
  const lapic = Buffer.alloc(KvmLapicState.size);
  check(ioctlBuffer(vcpuFd, KVM_IOCTL.KVM_GET_LAPIC, lapic) as number, 'KVM_GET_LAPIC');
  const lint0 = lapic.readUInt32LE(APIC_LVT_LINT0);
  lapic.writeUInt32LE(((lint0 & ~APIC_DELIVERY_MODE_MASK) | APIC_MODE_EXTINT) >>> 0, APIC_LVT_LINT0);
  const lint1 = lapic.readUInt32LE(APIC_LVT_LINT1);
  lapic.writeUInt32LE(((lint1 & ~APIC_DELIVERY_MODE_MASK) | APIC_MODE_NMI) >>> 0, APIC_LVT_LINT1);
  check(ioctlBuffer(vcpuFd, KVM_IOCTL.KVM_SET_LAPIC, lapic) as number, 'KVM_SET_LAPIC');
}

/** x87 control word and MXCSR at their architectural reset values. */
export function setupFpu(vcpuFd: number): void {
  const fpu = Buffer.alloc(KvmFpu.size);
  fpu.writeUInt16LE(0x37f, KvmFpu.offsets.fcw);
  fpu.writeUInt32LE(0x1f80, KvmFpu.offsets.mxcsr);
  check(ioctlBuffer(vcpuFd, KVM_IOCTL.KVM_SET_FPU, fpu) as number, 'KVM_SET_FPU');
}

function writeSegment(buf: Buffer, at: number, s: SegmentState): void {
  const o = KvmSegment.offsets;
  buf.writeBigUInt64LE(s.base, at + o.base);
  buf.writeUInt32LE(s.limit >>> 0, at + o.limit);
  buf.writeUInt16LE(s.selector, at + o.selector);
  buf.writeUInt8(s.type, at + o.type);
  buf.writeUInt8(s.present, at + o.present);
  buf.writeUInt8(s.dpl, at + o.dpl);
  buf.writeUInt8(s.db, at + o.db);
  buf.writeUInt8(s.s, at + o.s);
  buf.writeUInt8(s.l, at + o.l);
  buf.writeUInt8(s.g, at + o.g);
  buf.writeUInt8(0, at + o.avl);
  buf.writeUInt8(0, at + o.unusable);
}

/** Loads the boot protocol's register state into the vCPU. */
export function applyBootState(vcpuFd: number, state: BootCpuState): void {
  const sregs = Buffer.alloc(KvmSregs.size);
  check(ioctlBuffer(vcpuFd, KVM_IOCTL.KVM_GET_SREGS, sregs) as number, 'KVM_GET_SREGS');
  const o = KvmSregs.offsets;
  const s = state.sregs;
  for (const name of ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr'] as const) writeSegment(sregs, o[name], s[name]);
  sregs.writeBigUInt64LE(s.gdt.base, o.gdt);
  sregs.writeUInt16LE(s.gdt.limit, o.gdt + 8);
  sregs.writeBigUInt64LE(s.idt.base, o.idt);
  sregs.writeUInt16LE(s.idt.limit, o.idt + 8);
  sregs.writeBigUInt64LE(s.cr0, o.cr0);
  sregs.writeBigUInt64LE(s.cr3, o.cr3);
  sregs.writeBigUInt64LE(s.cr4, o.cr4);
  sregs.writeBigUInt64LE(s.efer, o.efer);
  check(ioctlBuffer(vcpuFd, KVM_IOCTL.KVM_SET_SREGS, sregs) as number, 'KVM_SET_SREGS');

  const regs = Buffer.alloc(KvmRegs.size);
  const r = KvmRegs.offsets;
  const g = state.regs;
  regs.writeBigUInt64LE(g.rip, r.rip);
  regs.writeBigUInt64LE(g.rsp, r.rsp);
  regs.writeBigUInt64LE(g.rflags, r.rflags);
  regs.writeBigUInt64LE(g.rsi ?? 0n, r.rsi);
  regs.writeBigUInt64LE(g.rbx ?? 0n, r.rbx);
  regs.writeBigUInt64LE(g.rbp ?? 0n, r.rbp);
  regs.writeBigUInt64LE(g.rdi ?? 0n, r.rdi);
  check(ioctlBuffer(vcpuFd, KVM_IOCTL.KVM_SET_REGS, regs) as number, 'KVM_SET_REGS');
}

export interface RegisterSnapshot {
  rip: bigint;
  rsp: bigint;
  rflags: bigint;
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
  csBase: bigint;
  csSelector: number;
  /** 16, 32 or 64: the code segment's mode. */
  mode: 16 | 32 | 64;
}

/** Reads the registers an error report needs (RIP, mode, paging state). */
export function snapshotRegisters(vcpuFd: number): RegisterSnapshot {
  const regs = Buffer.alloc(KvmRegs.size);
  check(ioctlBuffer(vcpuFd, KVM_IOCTL.KVM_GET_REGS, regs) as number, 'KVM_GET_REGS');
  const sregs = Buffer.alloc(KvmSregs.size);
  check(ioctlBuffer(vcpuFd, KVM_IOCTL.KVM_GET_SREGS, sregs) as number, 'KVM_GET_SREGS');
  const o = KvmSregs.offsets;
  const cs = o.cs;
  const l = sregs.readUInt8(cs + KvmSegment.offsets.l);
  const db = sregs.readUInt8(cs + KvmSegment.offsets.db);
  return {
    rip: regs.readBigUInt64LE(KvmRegs.offsets.rip),
    rsp: regs.readBigUInt64LE(KvmRegs.offsets.rsp),
    rflags: regs.readBigUInt64LE(KvmRegs.offsets.rflags),
    cr0: sregs.readBigUInt64LE(o.cr0),
    cr3: sregs.readBigUInt64LE(o.cr3),
    cr4: sregs.readBigUInt64LE(o.cr4),
    efer: sregs.readBigUInt64LE(o.efer),
    csBase: sregs.readBigUInt64LE(cs + KvmSegment.offsets.base),
    csSelector: sregs.readUInt16LE(cs + KvmSegment.offsets.selector),
    mode: l ? 64 : db ? 32 : 16,
  };
}
