// KVM ABI facts for x86-64: ioctl request numbers, constants, and struct
// layouts (byte offsets) as in <linux/kvm.h>. test/ffi/kvm-abi.test.ts compiles
// a C probe and checks every size, offset and request number here.

const IOC_NONE = 0;
const IOC_WRITE = 1;
const IOC_READ = 2;
const KVMIO = 0xae;

function ioc(dir: number, nr: number, size: number): number {
  // _IOC(dir,type,nr,size) = dir<<30 | size<<16 | type<<8 | nr; kept unsigned.
  return ((dir << 30) >>> 0) + ((size << 16) | (KVMIO << 8) | nr);
}
const io = (nr: number) => ioc(IOC_NONE, nr, 0);
const ior = (nr: number, size: number) => ioc(IOC_READ, nr, size);
const iow = (nr: number, size: number) => ioc(IOC_WRITE, nr, size);
const iowr = (nr: number, size: number) => ioc(IOC_READ | IOC_WRITE, nr, size);

/** A C struct's size and the byte offsets of the members tsvmm touches. */
export interface StructLayout {
  readonly size: number;
  readonly offsets: Readonly<Record<string, number>>;
}

function layout(size: number, offsets: Record<string, number>): StructLayout {
  return { size, offsets };
}

export const KvmRun = layout(2352, {
  request_interrupt_window: 0,
  immediate_exit: 1,
  exit_reason: 8,
  ready_for_interrupt_injection: 12,
  if_flag: 13,
  flags: 14,
  cr8: 16,
  apic_base: 24,
  'hw.hardware_exit_reason': 32,
  'fail_entry.hardware_entry_failure_reason': 32,
  'fail_entry.cpu': 40,
  'ex.exception': 32,
  'ex.error_code': 36,
  'io.direction': 32,
  'io.size': 33,
  'io.port': 34,
  'io.count': 36,
  'io.data_offset': 40,
  'mmio.phys_addr': 32,
  'mmio.data': 40,
  'mmio.len': 48,
  'mmio.is_write': 52,
  'internal.suberror': 32,
  'internal.ndata': 36,
  'internal.data': 40,
  'system_event.type': 32,
  'system_event.ndata': 36,
  'system_event.data': 40,
  kvm_valid_regs: 288,
  kvm_dirty_regs: 296,
});

export const KvmRegs = layout(144, {
  rax: 0, rbx: 8, rcx: 16, rdx: 24, rsi: 32, rdi: 40, rsp: 48, rbp: 56,
  r8: 64, r9: 72, r10: 80, r11: 88, r12: 96, r13: 104, r14: 112, r15: 120,
  rip: 128, rflags: 136,
});

export const KvmSegment = layout(24, {
  base: 0, limit: 8, selector: 12, type: 14, present: 15, dpl: 16, db: 17, s: 18, l: 19, g: 20, avl: 21,
  unusable: 22,
});

export const KvmDtable = layout(16, { base: 0, limit: 8 });

export const KvmSregs = layout(312, {
  cs: 0, ds: 24, es: 48, fs: 72, gs: 96, ss: 120, tr: 144, ldt: 168, gdt: 192, idt: 208,
  cr0: 224, cr2: 232, cr3: 240, cr4: 248, cr8: 256, efer: 264, apic_base: 272, interrupt_bitmap: 280,
});

export const KvmUserspaceMemoryRegion = layout(32, {
  slot: 0, flags: 4, guest_phys_addr: 8, memory_size: 16, userspace_addr: 24,
});

export const KvmCpuidEntry2 = layout(40, {
  function: 0, index: 4, flags: 8, eax: 12, ebx: 16, ecx: 20, edx: 24,
});
export const KvmCpuid2 = layout(8, { nent: 0, entries: 8 });

export const KvmMsrEntry = layout(16, { index: 0, data: 8 });
export const KvmMsrs = layout(8, { nmsrs: 0, entries: 8 });

export const KvmLapicState = layout(1024, { regs: 0 });
export const KvmPitConfig = layout(64, { flags: 0 });
export const KvmIrqLevel = layout(8, { irq: 0, level: 4 });
export const KvmIrqfd = layout(32, { fd: 0, gsi: 4, flags: 8, resamplefd: 12 });
export const KvmIoeventfd = layout(64, { datamatch: 0, addr: 8, len: 16, fd: 20, flags: 24 });
export const KvmCoalescedMmioZone = layout(16, { addr: 0, size: 8, pio: 12 });
export const KvmCoalescedMmio = layout(24, { phys_addr: 0, len: 8, pio: 12, data: 16 });
export const KvmCoalescedMmioRing = layout(8, { first: 0, last: 4, coalesced_mmio: 8 });
export const KvmFpu = layout(416, { fpr: 0, fcw: 128, fsw: 130, ftwx: 132, last_opcode: 134, mxcsr: 408 });
export const KvmMpState = layout(4, { mp_state: 0 });
/** A length (the kernel's sigset size, 8), then that many bytes of sigset. */
export const KvmSignalMask = layout(4, { len: 0, sigset: 4 });

/** Structs the ABI test checks against the C headers, by C type name. */
export const checkedStructs: Record<string, StructLayout> = {
  'struct kvm_run': KvmRun,
  'struct kvm_regs': KvmRegs,
  'struct kvm_segment': KvmSegment,
  'struct kvm_dtable': KvmDtable,
  'struct kvm_sregs': KvmSregs,
  'struct kvm_userspace_memory_region': KvmUserspaceMemoryRegion,
  'struct kvm_cpuid_entry2': KvmCpuidEntry2,
  'struct kvm_cpuid2': KvmCpuid2,
  'struct kvm_msr_entry': KvmMsrEntry,
  'struct kvm_msrs': KvmMsrs,
  'struct kvm_lapic_state': KvmLapicState,
  'struct kvm_pit_config': KvmPitConfig,
  'struct kvm_irq_level': KvmIrqLevel,
  'struct kvm_irqfd': KvmIrqfd,
  'struct kvm_ioeventfd': KvmIoeventfd,
  'struct kvm_coalesced_mmio_zone': KvmCoalescedMmioZone,
  'struct kvm_coalesced_mmio': KvmCoalescedMmio,
  'struct kvm_coalesced_mmio_ring': KvmCoalescedMmioRing,
  'struct kvm_fpu': KvmFpu,
  'struct kvm_mp_state': KvmMpState,
  'struct kvm_signal_mask': KvmSignalMask,
};

export const KVM_IOCTL = {
  KVM_GET_API_VERSION: io(0x00),
  KVM_CREATE_VM: io(0x01),
  KVM_CHECK_EXTENSION: io(0x03),
  KVM_GET_VCPU_MMAP_SIZE: io(0x04),
  KVM_GET_SUPPORTED_CPUID: iowr(0x05, KvmCpuid2.size),
  KVM_CREATE_VCPU: io(0x41),
  KVM_SET_USER_MEMORY_REGION: iow(0x46, KvmUserspaceMemoryRegion.size),
  KVM_SET_TSS_ADDR: io(0x47),
  KVM_SET_IDENTITY_MAP_ADDR: iow(0x48, 8),
  KVM_CREATE_IRQCHIP: io(0x60),
  KVM_IRQ_LINE: iow(0x61, KvmIrqLevel.size),
  KVM_REGISTER_COALESCED_MMIO: iow(0x67, KvmCoalescedMmioZone.size),
  KVM_UNREGISTER_COALESCED_MMIO: iow(0x68, KvmCoalescedMmioZone.size),
  KVM_IRQFD: iow(0x76, KvmIrqfd.size),
  KVM_CREATE_PIT2: iow(0x77, KvmPitConfig.size),
  KVM_IOEVENTFD: iow(0x79, KvmIoeventfd.size),
  KVM_RUN: io(0x80),
  KVM_GET_REGS: ior(0x81, KvmRegs.size),
  KVM_SET_REGS: iow(0x82, KvmRegs.size),
  KVM_GET_SREGS: ior(0x83, KvmSregs.size),
  KVM_SET_SREGS: iow(0x84, KvmSregs.size),
  KVM_GET_MSRS: iowr(0x88, KvmMsrs.size),
  KVM_SET_MSRS: iow(0x89, KvmMsrs.size),
  KVM_SET_SIGNAL_MASK: iow(0x8b, KvmSignalMask.size),
  KVM_GET_FPU: ior(0x8c, KvmFpu.size),
  KVM_SET_FPU: iow(0x8d, KvmFpu.size),
  KVM_GET_LAPIC: ior(0x8e, KvmLapicState.size),
  KVM_SET_LAPIC: iow(0x8f, KvmLapicState.size),
  KVM_SET_CPUID2: iow(0x90, KvmCpuid2.size),
  KVM_GET_MP_STATE: ior(0x98, KvmMpState.size),
  KVM_SET_MP_STATE: iow(0x99, KvmMpState.size),
} as const;

export const KVM_API_VERSION = 12;

export const KVM_CAP = {
  IRQCHIP: 0,
  HLT: 1,
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  EXT_CPUID: 7,
  NR_VCPUS: 9,
  MAX_VCPUS: 66,
  COALESCED_MMIO: 15,
  IRQFD: 32,
  PIT2: 33,
  IOEVENTFD: 36,
  SET_IDENTITY_MAP_ADDR: 37,
  IMMEDIATE_EXIT: 136,
  COALESCED_PIO: 162,
} as const;

export const KVM_EXIT = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  SET_TPR: 11,
  TPR_ACCESS: 12,
  NMI: 16,
  INTERNAL_ERROR: 17,
  SYSTEM_EVENT: 24,
  X86_RDMSR: 29,
  X86_WRMSR: 30,
} as const;

export const KVM_EXIT_IO_IN = 0;
export const KVM_EXIT_IO_OUT = 1;

export const KVM_INTERNAL_ERROR = {
  EMULATION: 1,
  SIMUL_EX: 2,
  DELIVERY_EV: 3,
  UNEXPECTED_EXIT_REASON: 4,
} as const;

export const KVM_SYSTEM_EVENT = { SHUTDOWN: 1, RESET: 2, CRASH: 3 } as const;

export const KVM_PIT_SPEAKER_DUMMY = 1;
export const KVM_IRQFD_FLAG_DEASSIGN = 1;
export const KVM_IOEVENTFD_FLAG = { DATAMATCH: 1, PIO: 2, DEASSIGN: 4 } as const;
export const KVM_MP_STATE_RUNNABLE = 0;

/** Exit reason number → name, for messages and statistics. */
export function exitReasonName(reason: number): string {
  for (const [name, value] of Object.entries(KVM_EXIT)) if (value === reason) return `KVM_EXIT_${name}`;
  return `KVM_EXIT_${reason}`;
}
