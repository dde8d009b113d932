// virtio-blk disks: each sits in one virtio-mmio slot of the machine, takes
// queue notifications through a KVM ioeventfd and raises interrupts through
// a KVM irqfd, so neither costs a vCPU exit. Register accesses (setup,
// interrupt status) do exit; the vCPU thread forwards them over an
// ioregionfd-protocol socket to whoever serves the disk: this (main) thread,
// or the disk's own device process (`process=separate`).
import { EFD_CLOEXEC, EFD_NONBLOCK, check, close, eventfd } from '../../ffi/libc.js';
import { createRegionSockets } from '../bus/ioregion-socket.js';
import type { DiskSpec } from '../block/disk-spec.js';
import { IoregionServer } from '../bus/ioregion-server.js';
import { VIRTIO_MMIO, VIRTIO_MMIO_WINDOW } from '../devices/virtio/virtio-mmio.js';
import { VirtioBlkDevice } from '../devices/virtio/virtio-blk-device.js';
import { IrqfdLine } from '../kvm/irqfd-line.js';
import type { Vm } from '../kvm/vm.js';
import type { Logger } from '../log.js';
import type { MachineDefinition, VirtioMmioDefinition } from '../machine/machine-definition.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { ForwardedRegion } from './forwarded-region.js';

/** A disk as the frontend hands it over. */
export type DiskHandOver =
  /** Served here: the image, opened (and locked) by the frontend. */
  | { spec: DiskSpec; fd: number }
  /** Served by a device process: the VMM end of its region socket and the eventfds it shares with it. */
  | { spec: DiskSpec; separate: { regionFd: number; notifyFd: number; irqFd: number } };

export class VirtioSlotError extends Error {
  override name = 'VirtioSlotError';
}

/** Where disk `index` lives: the machine's virtio-mmio slot `index`. */
export function virtioSlot(machine: MachineDefinition, index: number): { base: number; irq: number; transport: VirtioMmioDefinition } {
  const transport = machine.devices.find((d): d is VirtioMmioDefinition => d.type === 'virtio-mmio');
  if (!transport) throw new VirtioSlotError(`machine ${machine.name} has no virtio-mmio slots for disks`);
  if (index >= transport.irqs.length)
    throw new VirtioSlotError(`machine ${machine.name} has ${transport.irqs.length} virtio-mmio slots; disk ${index + 1} does not fit`);
  return { base: transport.base + index * transport.slotSize, irq: transport.irqs[index], transport };
}

/** The kernel command-line words that announce the disks (VIRTIO_MMIO_CMDLINE_DEVICES). */
export function virtioCmdline(machine: MachineDefinition, diskCount: number): string {
  const words: string[] = [];
  for (let i = 0; i < diskCount; i++) {
    const { base, irq } = virtioSlot(machine, i);
    words.push(`virtio_mmio.device=4K@0x${base.toString(16)}:${irq}`);
  }
  return words.join(' ');
}

export function diskName(index: number): string {
  return `vd${String.fromCharCode(0x61 + index)}`;
}

interface LocalDisk {
  device: VirtioBlkDevice;
  irq: IrqfdLine;
  notifyFd: number;
  server: IoregionServer;
  /** The server's socket end; -1 once closed. */
  serverFd: number;
}

interface AttachedDisk {
  name: string;
  region: ForwardedRegion;
  /** Served on this thread; undefined for a device-process disk. */
  local?: LocalDisk;
}

export class VirtioDisks {
  private constructor(private readonly disks: AttachedDisk[]) {}

  static attach(vm: Vm, memory: GuestMemory, machine: MachineDefinition, handOvers: readonly DiskHandOver[], log: Logger): VirtioDisks {
    const disks: AttachedDisk[] = [];
    try {
      handOvers.forEach((h, i) => disks.push('fd' in h ? attachLocal(vm, memory, machine, h, i, log) : attachSeparate(vm, machine, h, i, log)));
    } catch (e) {
      for (const d of disks) release(d);
      throw e;
    }
    return new VirtioDisks(disks);
  }

  get count(): number {
    return this.disks.length;
  }

  /** The register windows the vCPU thread must forward. */
  get regions(): ForwardedRegion[] {
    return this.disks.map((d) => d.region);
  }

  /** The largest writable image served here: the helper's RLIMIT_FSIZE must allow writes up to it. */
  get largestWritableImage(): number {
    return Math.max(0, ...this.disks.flatMap((d) => (d.local && !d.local.device.image.readOnly ? [d.local.device.image.size] : [])));
  }

  get usesIoUring(): boolean {
    return this.disks.some((d) => d.local?.device.backend.kind === 'io_uring');
  }

  statistics(): Record<string, unknown> {
    return Object.fromEntries(this.disks.map((d) => [d.name, d.local ? d.local.device.statistics() : { servedBy: 'device process' }]));
  }

  /** Finishes I/O in flight (the guest's memory is still mapped), then closes everything. */
  close(): void {
    for (const d of this.disks) release(d);
    this.disks.length = 0;
  }
}

function attachLocal(vm: Vm, memory: GuestMemory, machine: MachineDefinition, h: { spec: DiskSpec; fd: number }, index: number, log: Logger): AttachedDisk {
  const name = diskName(index);
  const { base, irq: gsi } = virtioSlot(machine, index);
  const irq = new IrqfdLine(vm, gsi);
  const notifyFd = check(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) as number, 'eventfd');
  vm.assignIoeventfd(notifyFd, base + VIRTIO_MMIO.QUEUE_NOTIFY, 4, { datamatch: 0n });
  const device = new VirtioBlkDevice(name, h.spec, h.fd, memory, irq, notifyFd, log.child({ base: `0x${base.toString(16)}`, irq: gsi }));
  // Register accesses: the vCPU thread forwards them over this socket pair,
  // waiting as long as this thread takes (inProcess: no response timeout).
  const { vmmEnd, deviceEnd } = createRegionSockets();
  // A server that gave up closes its end: the vCPU thread then sees the disk
  // gone instead of waiting for an answer that will not come.
  const server = new IoregionServer(deviceEnd, device.transport, VIRTIO_MMIO_WINDOW, () => closeServerEnd(local));
  const local: LocalDisk = { device, irq, notifyFd, server, serverFd: deviceEnd };
  server.start();
  return { name, region: { name, base, size: VIRTIO_MMIO_WINDOW, fd: vmmEnd, inProcess: true }, local };
}

function closeServerEnd(local: LocalDisk): void {
  if (local.serverFd < 0) return;
  close(local.serverFd);
  local.serverFd = -1;
}

function attachSeparate(vm: Vm, machine: MachineDefinition, h: Extract<DiskHandOver, { separate: unknown }>, index: number, log: Logger): AttachedDisk {
  const name = diskName(index);
  const { base, irq: gsi } = virtioSlot(machine, index);
  // The device process signals these eventfds; KVM turns them into the guest's interrupt and doorbell.
  vm.assignIrqfd(h.separate.irqFd, gsi);
  vm.assignIoeventfd(h.separate.notifyFd, base + VIRTIO_MMIO.QUEUE_NOTIFY, 4, { datamatch: 0n });
  log.info({ disk: name, path: h.spec.path, base: `0x${base.toString(16)}`, irq: gsi }, `disk ${name}: served by its own device process`);
  return { name, region: { name, base, size: VIRTIO_MMIO_WINDOW, fd: h.separate.regionFd } };
}

function release(d: AttachedDisk): void {
  if (!d.local) return; // a device process owns its disk
  d.local.server.stop();
  d.local.device.close();
  d.local.irq.close();
  close(d.local.notifyFd);
  closeServerEnd(d.local);
  close(d.region.fd);
}
