// An interrupt line wired through KVM_IRQFD: raising it is one write to an
// eventfd, from any thread, with no trip through the vCPU's exit loop.
import { EFD_CLOEXEC, EFD_NONBLOCK, check, close, eventfd } from '../../ffi/libc.js';
import { EventfdInterrupt } from '../bus/eventfd-signals.js';
import type { Vm } from './vm.js';

export class IrqfdLine extends EventfdInterrupt {
  constructor(
    private readonly vm: Vm,
    readonly gsi: number,
  ) {
    super(check(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) as number, 'eventfd'));
    vm.assignIrqfd(this.fd, gsi);
  }

  close(): void {
    this.vm.assignIrqfd(this.fd, this.gsi, true);
    close(this.fd);
  }
}
