// The vCPU thread's view of a virtio-mmio window whose device is served
// elsewhere (forwarded over a socket): the driver's InterruptStatus reads and
// InterruptACK writes, which Linux makes on every interrupt, are answered
// here from the transport's shared word (interrupt-status.ts); every other
// access goes to the device as before. Same rules as the transport: only
// aligned 32-bit accesses reach the register; others are forwarded, and the
// transport treats them as it always did. A read right after a posted write
// (a reset, say) goes through the device too, so that it sees that write
// served, as it always did.
import type { BusDevice } from '../../bus/device.js';
import { VirtioInterruptStatus } from './interrupt-status.js';
import { VIRTIO_MMIO } from './virtio-mmio-registers.js';

const REGISTER_BYTES = 4;

export class VirtioInterruptShortcut implements BusDevice {
  readonly name: string;
  private readonly status: VirtioInterruptStatus;

  constructor(
    private readonly device: BusDevice & { readonly writesInFlight?: boolean },
    interruptStatus: ArrayBufferLike,
  ) {
    this.name = device.name;
    this.status = new VirtioInterruptStatus(interruptStatus);
  }

  read(offset: number, data: Uint8Array): void {
    if (offset !== VIRTIO_MMIO.INTERRUPT_STATUS || data.length !== REGISTER_BYTES || this.device.writesInFlight) return this.device.read(offset, data);
    const v = this.status.read();
    data[0] = v;
    data[1] = 0;
    data[2] = 0;
    data[3] = 0;
  }

  write(offset: number, data: Uint8Array): void {
    if (offset !== VIRTIO_MMIO.INTERRUPT_ACK || data.length !== REGISTER_BYTES) return this.device.write(offset, data);
    this.status.acknowledge(data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24));
  }
}
