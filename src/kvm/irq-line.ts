// An interrupt line into the in-kernel IRQ chip, driven with KVM_IRQ_LINE.
import { check, ioctlBuffer } from '../../ffi/libc.js';
import { KVM_IOCTL, KvmIrqLevel } from '../../ffi/kvm-abi.js';
import type { InterruptLine } from '../bus/device.js';

export class KvmIrqLine implements InterruptLine {
  private readonly request = Buffer.alloc(KvmIrqLevel.size);

  constructor(
    private readonly vmFd: number,
    readonly gsi: number,
  ) {
    this.request.writeUInt32LE(gsi, KvmIrqLevel.offsets.irq);
  }

  setLevel(level: boolean): void {
    this.request.writeUInt32LE(level ? 1 : 0, KvmIrqLevel.offsets.level);
    check(ioctlBuffer(this.vmFd, KVM_IOCTL.KVM_IRQ_LINE, this.request) as number, 'KVM_IRQ_LINE');
  }

  trigger(): void {
    this.setLevel(true);
    this.setLevel(false);
  }
}
