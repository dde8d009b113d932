// The VM's virtio devices, as the device plan places them: each sits in its
// virtio-mmio slot, takes queue notifications through a KVM ioeventfd and
// raises interrupts through a KVM irqfd, so neither costs a vCPU exit.
// Register accesses (setup) do exit; a vCPU on a worker thread forwards them
// over an ioregionfd-protocol socket to whoever serves the device: this
// (main) thread, which builds the model from the catalog, or the device's own
// process, whose eventfds are registered here. A vCPU on this thread
// (main-thread-vcpu.ts) calls the transports built here directly. The
// interrupt status register is answered by the vCPU's thread itself, from
// shared memory (VirtioRegisterShortcut; a mapped page for a device process):
// Linux reads and acknowledges it on every interrupt. The usual
// acknowledgement, of used buffers alone, does not even exit: KVM counts it
// in an eventfd.
import { EFD_CLOEXEC, EFD_NONBLOCK, check, close, eventfd } from '../../ffi/libc.js';
import { createRegionSockets } from '../bus/ioregion-socket.js';
import { IoregionServer } from '../bus/ioregion-server.js';
import { virtioKind } from '../devices/catalog.js';
import { describeOpenedFile, type VirtioInstance } from '../devices/device-kind.js';
import { mapInterruptStatusPage, type MappedInterruptStatus } from '../devices/virtio/interrupt-status-page.js';
import { VIRTIO_MMIO, VIRTIO_MMIO_INT_VRING, VIRTIO_MMIO_WINDOW } from '../devices/virtio/virtio-mmio.js';
import { hex } from '../hex.js';
import { IrqfdLine } from '../kvm/irqfd-line.js';
import type { Vm } from '../kvm/vm.js';
import type { Logger } from '../log.js';
import { plannedDescriptor, type PlannedDevice } from '../machine/device-plan.js';
import { INTERRUPT_STATUS_ROLE, queueNotifyRole } from '../machine/handover-name.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { ForwardedRegion } from './forwarded-region.js';
import type { LocalRegion } from './vcpu-buses.js';

interface LocalDevice {
  instance: VirtioInstance;
  irq: IrqfdLine;
  notifyFds: number[];
  /** Serves the register socket a vCPU worker forwards to; none when the vCPU is on this thread. */
  server?: IoregionServer;
  /** The server's socket end; -1 once closed or when there is none. */
  serverFd: number;
}

interface AttachedDevice {
  name: string;
  /** Where `run --stats` groups it. */
  group: string;
  /** How a vCPU reaches its registers: over a socket, or by calling the transport on this thread (`direct`). */
  registers: { forwarded: ForwardedRegion; direct?: never } | { direct: LocalRegion; forwarded?: never };
  /** Served on this thread; undefined for a device-process device. */
  local?: LocalDevice;
  /** A device-process device's InterruptStatus page, mapped here for the vCPU threads. */
  interruptStatusPage?: MappedInterruptStatus;
}

export class VirtioDevices {
  private constructor(private readonly devices: AttachedDevice[]) {}

  /**
   * Attaches the plan's virtio devices; `fds`: the descriptors the frontend
   * passed, by plan name. `direct`: the vCPU runs on this thread and calls
   * the transports served here (localRegions) instead of forwarding to them.
   */
  static attach(vm: Vm, memory: GuestMemory, planned: readonly PlannedDevice[], fds: Readonly<Record<string, number>>, log: Logger, direct = false): VirtioDevices {
    const devices: AttachedDevice[] = [];
    const fd = (name: string) => {
      const n = fds[name];
      if (n === undefined) throw new Error(`the frontend passed no "${name}" descriptor`);
      return n;
    };
    try {
      for (const d of planned) {
        if (!d.virtio) continue;
        const device = d.host === 'device-process' ? attachSeparate(vm, d, fd, log) : attachLocal(vm, memory, d, fd, log, direct);
        devices.push(device);
        const window = device.registers.forwarded ?? device.registers.direct;
        if (window.interruptStatus) window.countedAcks = countAcks(vm, window.base);
      }
    } catch (e) {
      for (const d of devices) release(d);
      throw e;
    }
    return new VirtioDevices(devices);
  }

  get count(): number {
    return this.devices.length;
  }

  /** The register windows a vCPU must forward (over their sockets). */
  get regions(): ForwardedRegion[] {
    return this.devices.flatMap((d) => (d.registers.forwarded ? [d.registers.forwarded] : []));
  }

  /** The transports served here that a vCPU on this thread calls directly (`direct`). */
  get localRegions(): LocalRegion[] {
    return this.devices.flatMap((d) => (d.registers.direct ? [d.registers.direct] : []));
  }

  /** The largest file a device served here may write to: the helper's RLIMIT_FSIZE must allow writes up to it. */
  get largestWritableImage(): number {
    return Math.max(0, ...this.devices.flatMap((d) => (d.local ? [d.local.instance.needs.maxFileSize] : [])));
  }

  get usesIoUring(): boolean {
    return this.devices.some((d) => d.local?.instance.needs.ioUring);
  }

  /** The host directories devices served here share (virtio-9p): the helper's jail binds them. */
  get sharedDirectories(): { path: string; readOnly: boolean }[] {
    return this.devices.flatMap((d) => (d.local?.instance.needs.sharedDirectory ? [d.local.instance.needs.sharedDirectory] : []));
  }

  get setsTapOffloads(): boolean {
    return this.devices.some((d) => d.local?.instance.needs.tapOffload);
  }

  /** By statistics group, then device name: `{ disks: { vda: {...} } }`. */
  statistics(): Record<string, Record<string, unknown>> {
    const groups: Record<string, Record<string, unknown>> = {};
    for (const d of this.devices) (groups[d.group] ??= {})[d.name] = d.local ? d.local.instance.statistics() : { servedBy: 'device process' };
    return groups;
  }

  /** Finishes work in flight (the guest's memory is still mapped), then closes everything. */
  close(): void {
    for (const d of this.devices) release(d);
    this.devices.length = 0;
  }
}

function attachLocal(vm: Vm, memory: GuestMemory, d: PlannedDevice, fd: (name: string) => number, log: Logger, direct: boolean): AttachedDevice {
  const kind = virtioKind(d.config);
  const { base } = d.windows[0];
  const gsi = d.virtio!.irq;
  const irq = new IrqfdLine(vm, gsi);
  const notifyFds: number[] = [];
  let instance: VirtioInstance;
  try {
    // One doorbell per queue: KVM matches the queue index the guest writes.
    for (let q = 0; q < kind.queueCount(d.config); q++) {
      notifyFds.push(check(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) as number, 'eventfd'));
      vm.assignIoeventfd(notifyFds[q], base + VIRTIO_MMIO.QUEUE_NOTIFY, 4, { datamatch: BigInt(q) });
    }
    instance = kind.build(d.config, {
      memory,
      interrupt: irq,
      notifyFds,
      file: (role) => fd(plannedDescriptor(d, role).name),
      log: log.child({ base: hex(base), irq: gsi }),
    });
  } catch (e) {
    irq.close();
    notifyFds.forEach((n) => close(n));
    throw e;
  }
  const interruptStatus = instance.transport.interruptStatusShared;
  if (direct) {
    const local: LocalDevice = { instance, irq, notifyFds, serverFd: -1 };
    const region: LocalRegion = { name: d.name, base, size: VIRTIO_MMIO_WINDOW, device: instance.transport, ...(interruptStatus ? { interruptStatus } : {}) };
    return { name: d.name, group: kind.statisticsGroup, registers: { direct: region }, local };
  }
  // Register accesses: the vCPU thread forwards them over this socket pair,
  // waiting as long as this thread takes (inProcess: no response timeout).
  const { vmmEnd, deviceEnd } = createRegionSockets();
  // A server that gave up closes its end: the vCPU thread then sees the device
  // gone instead of waiting for an answer that will not come.
  const server = new IoregionServer(deviceEnd, instance.transport, VIRTIO_MMIO_WINDOW, () => closeServerEnd(local));
  const local: LocalDevice = { instance, irq, notifyFds, server, serverFd: deviceEnd };
  server.start();
  const region: ForwardedRegion = { name: d.name, base, size: VIRTIO_MMIO_WINDOW, fd: vmmEnd, inProcess: true, ...(interruptStatus ? { interruptStatus } : {}) };
  return { name: d.name, group: kind.statisticsGroup, registers: { forwarded: region }, local };
}

function closeServerEnd(local: LocalDevice): void {
  if (local.serverFd < 0) return;
  close(local.serverFd);
  local.serverFd = -1;
}

function attachSeparate(vm: Vm, d: PlannedDevice, fd: (name: string) => number, log: Logger): AttachedDevice {
  const kind = virtioKind(d.config);
  const { base } = d.windows[0];
  const gsi = d.virtio!.irq;
  // The device process signals these eventfds; KVM turns them into the guest's interrupt and doorbell.
  vm.assignIrqfd(fd(plannedDescriptor(d, 'irq').name), gsi);
  for (let q = 0; q < kind.queueCount(d.config); q++) {
    vm.assignIoeventfd(fd(plannedDescriptor(d, queueNotifyRole(q)).name), base + VIRTIO_MMIO.QUEUE_NOTIFY, 4, { datamatch: BigInt(q) });
  }
  const files = Object.fromEntries(kind.files(d.config).map(({ role, file }) => [role, describeOpenedFile(file)]));
  log.info({ [kind.label]: d.name, ...files, base: hex(base), irq: gsi }, `${kind.label} ${d.name}: served by its own device process`);
  const page = mapInterruptStatusPage(fd(plannedDescriptor(d, INTERRUPT_STATUS_ROLE).name));
  const region: ForwardedRegion = { name: d.name, base, size: VIRTIO_MMIO_WINDOW, fd: fd(plannedDescriptor(d, 'region').name), interruptStatus: { address: page.address } };
  return { name: d.name, group: kind.statisticsGroup, registers: { forwarded: region }, interruptStatusPage: page };
}

/**
 * An eventfd KVM adds 1 to for each InterruptACK write of VIRTIO_MMIO_INT_VRING
 * alone, instead of exiting (VirtioRegisterShortcut applies them).
 */
function countAcks(vm: Vm, base: number): number {
  const fd = check(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) as number, 'eventfd');
  try {
    vm.assignIoeventfd(fd, base + VIRTIO_MMIO.INTERRUPT_ACK, 4, { datamatch: BigInt(VIRTIO_MMIO_INT_VRING) });
  } catch (e) {
    close(fd);
    throw e;
  }
  return fd;
}

function release(d: AttachedDevice): void {
  d.interruptStatusPage?.unmap();
  const { countedAcks } = d.registers.forwarded ?? d.registers.direct;
  if (countedAcks !== undefined) close(countedAcks);
  if (!d.local) return; // a device process owns its device
  d.local.server?.stop();
  d.local.instance.close();
  d.local.irq.close();
  d.local.notifyFds.forEach((n) => close(n));
  closeServerEnd(d.local);
  if (d.registers.forwarded) close(d.registers.forwarded.fd);
}
