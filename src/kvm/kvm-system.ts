// /dev/kvm: the system-level handle. Version check, capabilities, and the
// CPUID the host's KVM can virtualize.
import { O_CLOEXEC, O_RDWR, check, close, ioctlBuffer, ioctlValue, open } from '../../ffi/libc.js';
import { KVM_API_VERSION, KVM_CAP, KVM_IOCTL, KvmCpuid2, KvmCpuidEntry2 } from '../../ffi/kvm-abi.js';
import { CpuidTable, type CpuidEntry } from './cpuid-table.js';

export class KvmError extends Error {
  override name = 'KvmError';
}

export class KvmSystem {
  private constructor(readonly fd: number) {}

  /** Opens /dev/kvm (or adopts an fd passed in by the frontend). */
  static open(pathOrFd: string | number = '/dev/kvm'): KvmSystem {
    const fd = typeof pathOrFd === 'number' ? pathOrFd : check(open(pathOrFd, O_RDWR | O_CLOEXEC, 0) as number, `open ${pathOrFd}`);
    const version = ioctlValue(fd, KVM_IOCTL.KVM_GET_API_VERSION, 0) as number;
    if (version !== KVM_API_VERSION) throw new KvmError(`KVM API version ${version}, expected ${KVM_API_VERSION}`);
    const kvm = new KvmSystem(fd);
    for (const [name, cap] of [
      ['KVM_CAP_USER_MEMORY', KVM_CAP.USER_MEMORY],
      ['KVM_CAP_SET_TSS_ADDR', KVM_CAP.SET_TSS_ADDR],
      ['KVM_CAP_IRQCHIP', KVM_CAP.IRQCHIP],
      ['KVM_CAP_PIT2', KVM_CAP.PIT2],
      ['KVM_CAP_EXT_CPUID', KVM_CAP.EXT_CPUID],
    ] as const)
      if (kvm.checkExtension(cap) <= 0) throw new KvmError(`this host's KVM lacks ${name}, which tsvmm needs`);
    return kvm;
  }

  checkExtension(cap: number): number {
    return ioctlValue(this.fd, KVM_IOCTL.KVM_CHECK_EXTENSION, cap) as number;
  }

  vcpuMmapSize(): number {
    return check(ioctlValue(this.fd, KVM_IOCTL.KVM_GET_VCPU_MMAP_SIZE, 0) as number, 'KVM_GET_VCPU_MMAP_SIZE');
  }

  /** Every CPUID leaf KVM can present to a guest on this host. */
  supportedCpuid(): CpuidTable {
    const max = 256;
    const buf = Buffer.alloc(KvmCpuid2.size + max * KvmCpuidEntry2.size);
    buf.writeUInt32LE(max, KvmCpuid2.offsets.nent);
    check(ioctlBuffer(this.fd, KVM_IOCTL.KVM_GET_SUPPORTED_CPUID, buf) as number, 'KVM_GET_SUPPORTED_CPUID');
    const n = buf.readUInt32LE(KvmCpuid2.offsets.nent);
    const entries: CpuidEntry[] = [];
    for (let i = 0; i < n; i++) {
      const at = KvmCpuid2.offsets.entries + i * KvmCpuidEntry2.size;
      const o = KvmCpuidEntry2.offsets;
      entries.push({
        function: buf.readUInt32LE(at + o.function),
        index: buf.readUInt32LE(at + o.index),
        flags: buf.readUInt32LE(at + o.flags),
        eax: buf.readUInt32LE(at + o.eax),
        ebx: buf.readUInt32LE(at + o.ebx),
        ecx: buf.readUInt32LE(at + o.ecx),
        edx: buf.readUInt32LE(at + o.edx),
      });
    }
    return new CpuidTable(entries);
  }

  close(): void {
    close(this.fd);
  }
}
