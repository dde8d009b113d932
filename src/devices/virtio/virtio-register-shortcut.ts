// The vCPU thread's view of a virtio-mmio window whose device is served
// elsewhere (forwarded over a socket): what it can answer without a round
// trip to the device, it answers. That is the driver's InterruptStatus reads
// and InterruptACK writes, which Linux makes on every interrupt, from the
// transport's shared word (interrupt-status.ts), and the registers fixed for
// the device's life, which Linux reads while it sets the device up, from the
// snapshot beside that word (register-snapshot.ts). Every other access goes
// to the device as before, and so does every write (the snapshot only notes
// the selectors on their way). Same rules as the transport: only aligned
// 32-bit accesses reach the interrupt registers; others are forwarded, and
// the transport treats them as it always did. A read of InterruptStatus
// right after a posted write (a reset, say) goes through the device too, so
// that it sees that write served, as it always did.
//
// The common ACK, of the used-buffer reason alone, need not exit at all: KVM
// counts it in an eventfd (an ioeventfd matching the value 1) and the next
// InterruptStatus read applies it first. Applied late it clears exactly what
// it would have cleared on time, since the word remembers what was raised
// since the driver's read (interrupt-status.ts), and that read is the one the
// ACK answered: Linux reads and acknowledges in one handler, never two at
// once for one line. The counter is read only when it could matter (a reason
// pending that was not raised since the last read), so the usual interrupt,
// which raised its reason afresh, costs no system call here either.
import type { BusDevice } from '../../bus/device.js';
import type { EventfdCounter } from '../../bus/eventfd-signals.js';
import { VirtioInterruptStatus } from './interrupt-status.js';
import { VirtioRegisterSnapshot } from './register-snapshot.js';
import { VIRTIO_MMIO, VIRTIO_MMIO_INT_VRING } from './virtio-mmio-registers.js';

const REGISTER_BYTES = 4;

export class VirtioRegisterShortcut implements BusDevice {
  readonly name: string;
  private readonly status: VirtioInterruptStatus;
  private readonly fixed: VirtioRegisterSnapshot;
  /** Reads answered here, without the device (`run --stats`). */
  readsAnswered = 0;
  /** ACKs KVM counted that were taken from the counter (the rest: takeUncountedAcks()). */
  acksWithoutExit = 0;

  /** `countedAcks`: where KVM counts the ACKs of VIRTIO_MMIO_INT_VRING alone, if registered. */
  constructor(
    private readonly device: BusDevice & { readonly writesInFlight?: boolean },
    sharedRegisters: ArrayBufferLike,
    private readonly countedAcks?: EventfdCounter,
  ) {
    this.name = device.name;
    this.status = new VirtioInterruptStatus(sharedRegisters);
    this.fixed = new VirtioRegisterSnapshot(sharedRegisters);
  }

  read(offset: number, data: Uint8Array): void {
    if (offset !== VIRTIO_MMIO.INTERRUPT_STATUS || data.length !== REGISTER_BYTES) {
      if (this.fixed.read(offset, data)) this.readsAnswered++;
      else this.device.read(offset, data);
      return;
    }
    if (this.countedAcks !== undefined && (this.status.clearable & VIRTIO_MMIO_INT_VRING) !== 0) this.applyCountedAcks(this.countedAcks);
    if (this.device.writesInFlight) return this.device.read(offset, data);
    this.readsAnswered++;
    const v = this.status.read();
    data[0] = v;
    data[1] = 0;
    data[2] = 0;
    data[3] = 0;
  }

  private applyCountedAcks(counter: EventfdCounter): void {
    const count = counter.take();
    if (count === 0) return;
    this.status.acknowledge(VIRTIO_MMIO_INT_VRING);
    this.acksWithoutExit += count;
  }

  /** At the end of the run: the ACKs KVM counted that no read needed to take (for the statistics). */
  takeUncountedAcks(): number {
    const count = this.countedAcks?.take() ?? 0;
    this.acksWithoutExit += count;
    return count;
  }

  write(offset: number, data: Uint8Array): void {
    if (offset !== VIRTIO_MMIO.INTERRUPT_ACK || data.length !== REGISTER_BYTES) {
      this.fixed.observeWrite(offset, data);
      return this.device.write(offset, data);
    }
    this.status.acknowledge(data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24));
  }
}
