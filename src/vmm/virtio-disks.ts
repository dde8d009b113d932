// virtio-blk disks on the helper's main thread: each disk sits in one
// virtio-mmio slot of the machine, takes queue notifications through a KVM
// ioeventfd and raises interrupts through a KVM irqfd, so neither costs a
// vCPU exit. Register accesses (setup, interrupt status) do exit; the vCPU
// thread forwards them here over an ioregionfd-protocol socket.
import koffi from 'koffi';
import { AF_UNIX, EFD_CLOEXEC, EFD_NONBLOCK, F_GETFL, F_SETFL, O_NONBLOCK, SOCK_CLOEXEC, SOCK_SEQPACKET, check, close, eventfd, fcntl, read, socketpair } from '../../ffi/libc.js';
import { DiskImage } from '../block/disk-image.js';
import type { DiskSpec } from '../block/disk-spec.js';
import { createBlockBackend } from '../block/open-block-backend.js';
import type { BlockBackend } from '../block/block-backend.js';
import { IoregionServer } from '../bus/ioregion-server.js';
import { VirtioBlk } from '../devices/virtio/virtio-blk.js';
import { VIRTIO_MMIO_WINDOW, VirtioMmioTransport } from '../devices/virtio/virtio-mmio.js';
import { IrqfdLine } from '../kvm/irqfd-line.js';
import type { Vm } from '../kvm/vm.js';
import type { Logger } from '../log.js';
import type { MachineDefinition, VirtioMmioDefinition } from '../machine/machine-definition.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { ForwardedRegion } from './forwarded-region.js';

/** A disk as the frontend hands it over: its spec, and the image opened (and locked) by the frontend. */
export interface DiskHandOver {
  spec: DiskSpec;
  fd: number;
}

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

interface AttachedDisk {
  name: string;
  spec: DiskSpec;
  image: DiskImage;
  backend: BlockBackend;
  blk: VirtioBlk;
  transport: VirtioMmioTransport;
  irq: IrqfdLine;
  notifyFd: number;
  notifyPoll: ReturnType<typeof koffi.node.poll>;
  server: IoregionServer;
  serverFd: number;
  region: ForwardedRegion;
}

export class VirtioDisks {
  private constructor(private readonly disks: AttachedDisk[]) {}

  static attach(vm: Vm, memory: GuestMemory, machine: MachineDefinition, handOvers: readonly DiskHandOver[], log: Logger): VirtioDisks {
    const disks: AttachedDisk[] = [];
    try {
      handOvers.forEach((h, i) => disks.push(attachOne(vm, memory, machine, h, i, log)));
    } catch (e) {
      for (const d of disks) release(d);
      throw e;
    }
    return new VirtioDisks(disks);
  }

  get count(): number {
    return this.disks.length;
  }

  /** The register windows the vCPU thread must forward here. */
  get regions(): ForwardedRegion[] {
    return this.disks.map((d) => d.region);
  }

  /** The largest writable image: the helper's RLIMIT_FSIZE must allow writes up to it. */
  get largestWritableImage(): number {
    return Math.max(0, ...this.disks.filter((d) => !d.image.readOnly).map((d) => d.image.size));
  }

  get usesIoUring(): boolean {
    return this.disks.some((d) => d.backend.kind === 'io_uring');
  }

  statistics(): Record<string, unknown> {
    // dma.directBytes vs dma.bouncedBytes: how much of the data moved zero-copy.
    return Object.fromEntries(this.disks.map((d) => [d.name, { engine: d.backend.kind, ...d.blk.stats, dma: { ...d.blk.mapper.stats } }]));
  }

  /** Finishes I/O in flight (the guest's memory is still mapped), then closes everything. */
  close(): void {
    for (const d of this.disks) release(d);
    this.disks.length = 0;
  }
}

function attachOne(vm: Vm, memory: GuestMemory, machine: MachineDefinition, h: DiskHandOver, index: number, log: Logger): AttachedDisk {
  const name = `vd${String.fromCharCode(0x61 + index)}`;
  const { base, irq: gsi } = virtioSlot(machine, index);
  const image = DiskImage.fromFd(h.fd, h.spec.path, { readOnly: h.spec.readOnly, direct: h.spec.cache === 'none', own: true });
  const { backend, fallbacks } = createBlockBackend(image, h.spec.engine);
  const blk = new VirtioBlk(backend, memory, { serial: h.spec.serial, onError: (m) => log.warn({ disk: name }, m) });
  const irq = new IrqfdLine(vm, gsi);
  const transport = new VirtioMmioTransport(blk, memory, irq, { interruptMode: 'edge', onError: (m) => log.warn({ disk: name }, m) });

  // Queue 0's doorbell: a KVM ioeventfd, read on this thread's event loop.
  const notifyFd = check(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) as number, 'eventfd');
  vm.assignIoeventfd(notifyFd, base + transport.notifyOffset, 4, { datamatch: 0n });
  const counter = new Uint8Array(8);
  const notifyPoll = koffi.node.poll(notifyFd, { readable: true }, () => {
    if ((read(notifyFd, counter, 8) as number) === 8) transport.notifyQueue(0);
  });

  // Register accesses: the vCPU thread forwards them over this socketpair.
  const pair = new Int32Array(2);
  check(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) as number, 'socketpair');
  const serverFd = pair[1];
  fcntl(serverFd, F_SETFL, (fcntl(serverFd, F_GETFL, 0) as number) | O_NONBLOCK);
  const server = new IoregionServer(serverFd, transport, VIRTIO_MMIO_WINDOW);
  server.start();

  log.info(
    { disk: name, path: h.spec.path, readOnly: image.readOnly, cache: h.spec.cache, engine: backend.kind, size: image.size, base: `0x${base.toString(16)}`, irq: gsi, ...(fallbacks.length ? { fallbacks } : {}) },
    `disk ${name}: ${h.spec.path} (${backend.kind}${image.readOnly ? ', read-only' : ''})`,
  );
  return {
    name, spec: h.spec, image, backend, blk, transport, irq, notifyFd, notifyPoll, server, serverFd,
    region: { name, base, size: VIRTIO_MMIO_WINDOW, fd: pair[0] },
  };
}

function release(d: AttachedDisk): void {
  d.notifyPoll.close();
  d.server.stop();
  d.transport.reset(); // waits for I/O in flight
  d.backend.close();
  d.image.close();
  d.irq.close();
  close(d.notifyFd);
  close(d.serverFd);
  close(d.region.fd);
}
