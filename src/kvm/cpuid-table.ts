// A CPUID table as KVM_GET_SUPPORTED_CPUID / KVM_SET_CPUID2 exchange it.
import { KvmCpuid2, KvmCpuidEntry2 } from '../../ffi/kvm-abi.js';

export interface CpuidEntry {
  function: number;
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

export type CpuidRegister = 'eax' | 'ebx' | 'ecx' | 'edx';

export class CpuidTable {
  constructor(readonly entries: CpuidEntry[]) {}

  find(fn: number, index = 0): CpuidEntry | undefined {
    return this.entries.find((e) => e.function === fn && e.index === index);
  }

  clone(): CpuidTable {
    return new CpuidTable(this.entries.map((e) => ({ ...e })));
  }

  /** Clears `bit` of `reg` in leaf fn/index (no-op when the leaf is absent). */
  clearBit(fn: number, index: number, reg: CpuidRegister, bit: number): void {
    const e = this.find(fn, index);
    if (e) e[reg] = (e[reg] & ~(1 << bit)) >>> 0;
  }

  /** Removes whole leaves, e.g. the XSAVE state leaf once XSAVE is hidden. */
  removeLeaf(fn: number): void {
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i].function === fn) this.entries.splice(i, 1);
  }

  /** Serialises as struct kvm_cpuid2 for KVM_SET_CPUID2. */
  encode(): Buffer {
    const buf = Buffer.alloc(KvmCpuid2.size + this.entries.length * KvmCpuidEntry2.size);
    buf.writeUInt32LE(this.entries.length, KvmCpuid2.offsets.nent);
    const o = KvmCpuidEntry2.offsets;
    this.entries.forEach((e, i) => {
      const at = KvmCpuid2.offsets.entries + i * KvmCpuidEntry2.size;
      buf.writeUInt32LE(e.function, at + o.function);
      buf.writeUInt32LE(e.index, at + o.index);
      buf.writeUInt32LE(e.flags, at + o.flags);
      buf.writeUInt32LE(e.eax >>> 0, at + o.eax);
      buf.writeUInt32LE(e.ebx >>> 0, at + o.ebx);
      buf.writeUInt32LE(e.ecx >>> 0, at + o.ecx);
      buf.writeUInt32LE(e.edx >>> 0, at + o.edx);
    });
    return buf;
  }
}
