// The InterruptStatus register in shared memory: the transport raises reasons
// in it, and a vCPU thread's shortcut answers the driver's InterruptStatus
// reads and InterruptACK writes from it, with the transport's own rules; every
// other access still reaches the device.
import { afterEach, describe, expect, it } from 'vitest';
import { EFD_CLOEXEC, EFD_NONBLOCK, check, close, eventfd, write } from '../../../ffi/libc.js';
import { EventfdCounter } from '../../../src/bus/eventfd-signals.js';
import type { BusDevice } from '../../../src/bus/device.js';
import { VirtioInterruptStatus } from '../../../src/devices/virtio/interrupt-status.js';
import { VirtioRegisterShortcut } from '../../../src/devices/virtio/virtio-register-shortcut.js';
import { VIRTIO_MMIO, VIRTIO_MMIO_INT_CONFIG, VIRTIO_MMIO_INT_VRING } from '../../../src/devices/virtio/virtio-mmio.js';

describe('VirtioInterruptStatus', () => {
  it('holds raised reasons until the driver reads and acknowledges them', () => {
    const s = new VirtioInterruptStatus();
    s.raise(VIRTIO_MMIO_INT_VRING);
    s.raise(VIRTIO_MMIO_INT_CONFIG);
    expect(s.pending).toBe(3);
    expect(s.read()).toBe(3);
    expect(s.acknowledge(VIRTIO_MMIO_INT_VRING)).toBe(VIRTIO_MMIO_INT_CONFIG);
    expect(s.acknowledge(VIRTIO_MMIO_INT_CONFIG)).toBe(0);
    expect(s.read()).toBe(0);
  });

  it('keeps a reason raised after the driver read, even when the ACK names it', () => {
    const s = new VirtioInterruptStatus();
    s.raise(VIRTIO_MMIO_INT_VRING);
    expect(s.read()).toBe(1);
    s.raise(VIRTIO_MMIO_INT_VRING); // a completion between the handler's read and its ACK
    expect(s.acknowledge(VIRTIO_MMIO_INT_VRING)).toBe(1);
    expect(s.read()).toBe(1); // its own interrupt finds it
    expect(s.acknowledge(VIRTIO_MMIO_INT_VRING)).toBe(0);
  });

  it('is the same word wherever its buffer is', () => {
    const s = new VirtioInterruptStatus();
    const other = new VirtioInterruptStatus(s.shared); // as a vCPU thread builds it
    s.raise(VIRTIO_MMIO_INT_VRING);
    expect(other.read()).toBe(1);
    expect(other.acknowledge(VIRTIO_MMIO_INT_VRING)).toBe(0);
    expect(s.pending).toBe(0);
  });

  it('ignores bits beyond the two reasons and clears on reset', () => {
    const s = new VirtioInterruptStatus();
    s.raise(0x1ff01);
    expect(s.pending).toBe(1);
    s.clear();
    expect(s.read()).toBe(0);
    s.raise(VIRTIO_MMIO_INT_VRING);
    s.read();
    expect(s.acknowledge(0xffffff01)).toBe(0);
  });
});

class RecordingDevice implements BusDevice {
  readonly name = 'recorder';
  readonly accesses: string[] = [];
  writesInFlight = false;
  read(offset: number, data: Uint8Array): void {
    this.accesses.push(`read ${offset.toString(16)}/${data.length}`);
    data.fill(0xab);
  }
  write(offset: number, data: Uint8Array): void {
    this.accesses.push(`write ${offset.toString(16)}/${data.length}`);
  }
}

describe('VirtioRegisterShortcut', () => {
  it("answers 32-bit InterruptStatus reads and InterruptACK writes from the shared word, without the device", () => {
    const device = new RecordingDevice();
    const status = new VirtioInterruptStatus();
    const shortcut = new VirtioRegisterShortcut(device, status.shared);
    expect(shortcut.name).toBe('recorder');
    status.raise(VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
    const data = new Uint8Array(4).fill(0xff);
    shortcut.read(VIRTIO_MMIO.INTERRUPT_STATUS, data);
    expect([...data]).toEqual([3, 0, 0, 0]);
    shortcut.write(VIRTIO_MMIO.INTERRUPT_ACK, Uint8Array.of(1, 0, 0, 0));
    expect(status.pending).toBe(VIRTIO_MMIO_INT_CONFIG);
    expect(device.accesses).toEqual([]);
  });

  it('reads InterruptStatus through the device while a posted write may be unserved (a reset must show)', () => {
    const device = new RecordingDevice();
    const status = new VirtioInterruptStatus();
    const shortcut = new VirtioRegisterShortcut(device, status.shared);
    status.raise(VIRTIO_MMIO_INT_VRING);
    device.writesInFlight = true;
    const data = new Uint8Array(4);
    shortcut.read(VIRTIO_MMIO.INTERRUPT_STATUS, data);
    expect(device.accesses).toEqual(['read 60/4']);
    expect([...data]).toEqual([0xab, 0xab, 0xab, 0xab]); // the device's answer
    device.writesInFlight = false;
    shortcut.read(VIRTIO_MMIO.INTERRUPT_STATUS, data);
    expect(device.accesses).toHaveLength(1);
    expect([...data]).toEqual([1, 0, 0, 0]);
  });

  it('forwards every other register, and odd-sized accesses to these two', () => {
    const device = new RecordingDevice();
    const shortcut = new VirtioRegisterShortcut(device, new VirtioInterruptStatus().shared);
    shortcut.read(VIRTIO_MMIO.STATUS, new Uint8Array(4));
    shortcut.write(VIRTIO_MMIO.QUEUE_NOTIFY, new Uint8Array(4));
    shortcut.read(VIRTIO_MMIO.INTERRUPT_STATUS, new Uint8Array(1));
    shortcut.write(VIRTIO_MMIO.INTERRUPT_ACK, new Uint8Array(2));
    shortcut.read(VIRTIO_MMIO.INTERRUPT_ACK, new Uint8Array(4));
    expect(device.accesses).toEqual(['read 70/4', 'write 50/4', 'read 60/1', 'write 64/2', 'read 64/4']);
  });
});

describe('VirtioRegisterShortcut with ACKs KVM only counts', () => {
  const fds: number[] = [];
  afterEach(() => fds.splice(0).forEach((fd) => close(fd)));

  /** A shortcut whose ACKs of the used-buffer reason arrive as KVM's ioeventfd delivers them: one eventfd write each. */
  function rig() {
    const fd = check(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) as number, 'eventfd');
    fds.push(fd);
    const device = new RecordingDevice();
    const status = new VirtioInterruptStatus();
    const shortcut = new VirtioRegisterShortcut(device, status.shared, new EventfdCounter(fd));
    const one = new Uint8Array(new BigUint64Array([1n]).buffer);
    const countedAck = () => expect(write(fd, one, 8)).toBe(8);
    const readStatus = () => {
      const data = new Uint8Array(4);
      shortcut.read(VIRTIO_MMIO.INTERRUPT_STATUS, data);
      return data[0];
    };
    return { device, status, countedAck, readStatus, shortcut };
  }

  it('applies a counted ACK at the next InterruptStatus read, as if it had exited', () => {
    const { status, countedAck, readStatus, shortcut } = rig();
    status.raise(VIRTIO_MMIO_INT_VRING);
    expect(readStatus()).toBe(1);
    countedAck(); // the guest's ACK: counted by KVM, the word not touched yet
    expect(status.pending).toBe(1);
    expect(readStatus()).toBe(0); // a read with nothing raised since finds it acknowledged
    expect(shortcut.acksWithoutExit).toBe(1);
    expect(shortcut.readsAnswered).toBe(2);
  });

  it('keeps a reason raised between the read and its counted ACK, and never reads the counter when nothing could be cleared', () => {
    const { status, countedAck, readStatus, shortcut } = rig();
    status.raise(VIRTIO_MMIO_INT_VRING);
    expect(readStatus()).toBe(1);
    status.raise(VIRTIO_MMIO_INT_VRING); // a completion while the handler ran
    countedAck();
    expect(readStatus()).toBe(1); // its own interrupt finds it
    expect(shortcut.acksWithoutExit).toBe(0); // raised afresh: the counter was left alone
    countedAck();
    expect(readStatus()).toBe(0);
    expect(shortcut.acksWithoutExit).toBe(2); // both ACKs, applied once: they clear the same bit
    countedAck();
    expect(shortcut.takeUncountedAcks()).toBe(1); // what no read took, at the end of the run
    expect(shortcut.acksWithoutExit).toBe(3);
  });

  it('leaves the configuration reason to ACKs that exit', () => {
    const { status, countedAck, readStatus, shortcut } = rig();
    status.raise(VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
    expect(readStatus()).toBe(3);
    shortcut.write(VIRTIO_MMIO.INTERRUPT_ACK, Uint8Array.of(3, 0, 0, 0)); // KVM counts only a write of 1
    expect(readStatus()).toBe(0);
    status.raise(VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
    expect(readStatus()).toBe(3);
    countedAck(); // an ACK of 1 alone
    expect(readStatus()).toBe(VIRTIO_MMIO_INT_CONFIG);
  });

  it('applies counted ACKs before a read goes through the device too', () => {
    const { device, status, countedAck, readStatus } = rig();
    status.raise(VIRTIO_MMIO_INT_VRING);
    expect(readStatus()).toBe(1);
    countedAck();
    device.writesInFlight = true;
    readStatus();
    expect(device.accesses).toEqual(['read 60/4']);
    expect(status.pending).toBe(0); // what the device answers from
  });
});
