// An interrupt line wired through KVM_IRQFD: raising it is one write to an
// eventfd, from any thread, with no trip through the vCPU's exit loop.
import koffi from 'koffi';
import { EFD_CLOEXEC, EFD_NONBLOCK, check, close, eventfd, write } from '../../ffi/libc.js';
import type { InterruptLine } from '../bus/device.js';
import type { Vm } from './vm.js';

export class IrqfdLine implements InterruptLine {
  private readonly one = new Uint8Array(new BigUint64Array([1n]).buffer);
  readonly fd: number;

  constructor(
    private readonly vm: Vm,
    readonly gsi: number,
  ) {
    this.fd = check(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) as number, 'eventfd');
    vm.assignIrqfd(this.fd, gsi);
  }

  /** An edge on the GSI. EAGAIN (counter saturated) means an edge is already pending: fine. */
  trigger(): void {
    if ((write(this.fd, this.one, 8) as number) < 0 && koffi.errno() !== 11) throw new Error(`irqfd write failed: errno ${koffi.errno()}`);
  }

  /** irqfds are edge-triggered: raising the line is an edge, lowering it is a no-op. */
  setLevel(level: boolean): void {
    if (level) this.trigger();
  }

  close(): void {
    this.vm.assignIrqfd(this.fd, this.gsi, true);
    close(this.fd);
  }
}
