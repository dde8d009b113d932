// A KVM virtual machine: memory slots, the in-kernel interrupt controllers and
// PIT, interrupt injection (irq lines, irqfds) and ioeventfds.
import { check, checkRetryingEintr, ioctlBuffer, ioctlValue, close } from '../../ffi/libc.js';
import {
  KVM_IOCTL,
  KVM_IOEVENTFD_FLAG,
  KVM_IRQFD_FLAG_DEASSIGN,
  KVM_PIT_SPEAKER_DUMMY,
  KvmCoalescedMmioZone,
  KvmIoeventfd,
  KvmIrqfd,
  KvmPitConfig,
  KvmUserspaceMemoryRegion,
} from '../../ffi/kvm-abi.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { KvmSystem } from './kvm-system.js';

/** Where KVM puts the real-mode TSS (3 pages) and EPT identity map (1 page): just below the 4 GiB BIOS area. */
export const TSS_ADDRESS = 0xfffbd000;
export const IDENTITY_MAP_ADDRESS = 0xfffbc000;

export class Vm {
  private nextSlot = 0;

  private constructor(
    readonly kvm: KvmSystem,
    readonly fd: number,
  ) {}

  /** Creates a VM with the in-kernel IRQ chip (PIC + IOAPIC + LAPIC) and PIT. */
  static create(kvm: KvmSystem): Vm {
    const vm = new Vm(kvm, checkRetryingEintr(() => ioctlValue(kvm.fd, KVM_IOCTL.KVM_CREATE_VM, 0) as number, 'KVM_CREATE_VM'));
    check(ioctlValue(vm.fd, KVM_IOCTL.KVM_SET_TSS_ADDR, TSS_ADDRESS) as number, 'KVM_SET_TSS_ADDR');
    const identity = Buffer.alloc(8);
    identity.writeBigUInt64LE(BigInt(IDENTITY_MAP_ADDRESS));
    check(ioctlBuffer(vm.fd, KVM_IOCTL.KVM_SET_IDENTITY_MAP_ADDR, identity) as number, 'KVM_SET_IDENTITY_MAP_ADDR');
    check(ioctlValue(vm.fd, KVM_IOCTL.KVM_CREATE_IRQCHIP, 0) as number, 'KVM_CREATE_IRQCHIP');
    const pit = Buffer.alloc(KvmPitConfig.size);
    pit.writeUInt32LE(KVM_PIT_SPEAKER_DUMMY, KvmPitConfig.offsets.flags);
    check(ioctlBuffer(vm.fd, KVM_IOCTL.KVM_CREATE_PIT2, pit) as number, 'KVM_CREATE_PIT2');
    return vm;
  }

  /** Registers every RAM region of `memory` as a KVM memory slot. */
  addMemory(memory: GuestMemory): void {
    for (const r of memory.regions) {
      const region = Buffer.alloc(KvmUserspaceMemoryRegion.size);
      const o = KvmUserspaceMemoryRegion.offsets;
      region.writeUInt32LE(this.nextSlot++, o.slot);
      region.writeUInt32LE(0, o.flags);
      region.writeBigUInt64LE(BigInt(r.gpa), o.guest_phys_addr);
      region.writeBigUInt64LE(BigInt(r.size), o.memory_size);
      region.writeBigUInt64LE(BigInt(r.hostAddress), o.userspace_addr);
      check(ioctlBuffer(this.fd, KVM_IOCTL.KVM_SET_USER_MEMORY_REGION, region) as number, 'KVM_SET_USER_MEMORY_REGION');
    }
  }

  createVcpuFd(id: number): number {
    return check(ioctlValue(this.fd, KVM_IOCTL.KVM_CREATE_VCPU, id) as number, 'KVM_CREATE_VCPU');
  }

  /** Signalling `eventfd` injects an edge on `gsi` without a trip through userspace. */
  assignIrqfd(eventfd: number, gsi: number, deassign = false): void {
    const b = Buffer.alloc(KvmIrqfd.size);
    b.writeUInt32LE(eventfd, KvmIrqfd.offsets.fd);
    b.writeUInt32LE(gsi, KvmIrqfd.offsets.gsi);
    b.writeUInt32LE(deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0, KvmIrqfd.offsets.flags);
    check(ioctlBuffer(this.fd, KVM_IOCTL.KVM_IRQFD, b) as number, 'KVM_IRQFD');
  }

  /** Guest writes of `len` bytes to `addr` signal `eventfd` instead of exiting. */
  assignIoeventfd(eventfd: number, addr: number, len: number, opts: { pio?: boolean; datamatch?: bigint; deassign?: boolean } = {}): void {
    const b = Buffer.alloc(KvmIoeventfd.size);
    const o = KvmIoeventfd.offsets;
    let flags = 0;
    if (opts.pio) flags |= KVM_IOEVENTFD_FLAG.PIO;
    if (opts.datamatch !== undefined) {
      flags |= KVM_IOEVENTFD_FLAG.DATAMATCH;
      b.writeBigUInt64LE(opts.datamatch, o.datamatch);
    }
    if (opts.deassign) flags |= KVM_IOEVENTFD_FLAG.DEASSIGN;
    b.writeBigUInt64LE(BigInt(addr), o.addr);
    b.writeUInt32LE(len, o.len);
    b.writeInt32LE(eventfd, o.fd);
    b.writeUInt32LE(flags, o.flags);
    check(ioctlBuffer(this.fd, KVM_IOCTL.KVM_IOEVENTFD, b) as number, 'KVM_IOEVENTFD');
  }

  /** Lets KVM queue writes to [addr, addr+size) in the coalesced ring instead of exiting. */
  registerCoalescedZone(addr: number, size: number, pio: boolean, unregister = false): void {
    const b = Buffer.alloc(KvmCoalescedMmioZone.size);
    b.writeBigUInt64LE(BigInt(addr), KvmCoalescedMmioZone.offsets.addr);
    b.writeUInt32LE(size, KvmCoalescedMmioZone.offsets.size);
    b.writeUInt32LE(pio ? 1 : 0, KvmCoalescedMmioZone.offsets.pio);
    const req = unregister ? KVM_IOCTL.KVM_UNREGISTER_COALESCED_MMIO : KVM_IOCTL.KVM_REGISTER_COALESCED_MMIO;
    check(ioctlBuffer(this.fd, req, b) as number, unregister ? 'KVM_UNREGISTER_COALESCED_MMIO' : 'KVM_REGISTER_COALESCED_MMIO');
  }

  close(): void {
    close(this.fd);
  }
}
