// The register state a boot loader hands to the first vCPU. Plain data: the
// boot code computes it, src/kvm applies it with KVM_SET_REGS/KVM_SET_SREGS.

export interface SegmentState {
  base: bigint;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  /** default operation size (1 = 32-bit) */
  db: number;
  /** 1 = code/data segment, 0 = system segment */
  s: number;
  /** 64-bit code segment */
  l: number;
  /** granularity (limit in 4 KiB units) */
  g: number;
}

export interface TableState {
  base: bigint;
  limit: number;
}

export interface BootCpuState {
  /** General-purpose registers the entry protocol defines (others are zero). */
  regs: {
    rip: bigint;
    rsp: bigint;
    rflags: bigint;
    rsi?: bigint;
    rbx?: bigint;
    rbp?: bigint;
    rdi?: bigint;
  };
  sregs: {
    cs: SegmentState;
    ds: SegmentState;
    es: SegmentState;
    fs: SegmentState;
    gs: SegmentState;
    ss: SegmentState;
    tr: SegmentState;
    gdt: TableState;
    idt: TableState;
    cr0: bigint;
    cr3: bigint;
    cr4: bigint;
    efer: bigint;
  };
}
