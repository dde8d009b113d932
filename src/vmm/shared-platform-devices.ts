// With several vCPUs, the platform devices (UART, exit device, i8042, the
// ACPI sleep register...) cannot live in a vCPU thread: every vCPU may touch
// them, and a JavaScript object belongs to one thread. So they are served
// here, on the VMM's main thread, the way virtio devices already are: each
// register window gets a socket pair and an IoregionServer, and every vCPU
// thread forwards its accesses over the one socket, taking the window's
// RegionLock (virtual-machine.ts gives every forwarded region one) for each
// request and its answer. One vCPU keeps the faster
// arrangement (the devices in its own thread: vcpu-worker.ts).
//
// The coalesced ring has a single consumer, this thread: it is drained before
// every forwarded access is served (a read of the UART's status register must
// see the transmit-register writes queued before it) and on the ring watch's
// timer. That drain may replay entries queued after a posted write reached
// the socket, so writes here are not posted: the vCPU waits for each one.
// Otherwise a transmit byte written after a line-control write (DLAB) would
// be replayed before it, and when the ring is full (KVM then exits on the
// transmit register instead) a vCPU's own later bytes would overtake its
// earlier one.
//
// What a device can answer without being asked (the UART's line and modem
// status) it keeps in a RegisterMirror, and the vCPU threads read it there.
import { close } from '../../ffi/libc.js';
import { awaitsQueuedWrites, CoalescedRing, type AwaitsQueuedWrites } from '../bus/coalesced-ring.js';
import type { BusDevice } from '../bus/device.js';
import { IoBus } from '../bus/io-bus.js';
import { createRegionSockets } from '../bus/ioregion-socket.js';
import { IoregionServer } from '../bus/ioregion-server.js';
import { mirrorsRegisters, RegisterMirror } from '../bus/register-mirror.js';
import { platformKind } from '../devices/platform-catalog.js';
import type { VcpuEnvironment } from '../devices/device-kind.js';
import type { ExitStats } from '../kvm/exit-stats.js';
import type { PlannedDevice } from '../machine/device-plan.js';
import type { ForwardedRegion } from './forwarded-region.js';

/** Serves `device`, draining the coalesced ring first so that queued writes land before the access. */
class AfterQueuedWrites implements BusDevice {
  constructor(
    private readonly device: BusDevice,
    private readonly drain: () => void,
  ) {}

  get name(): string {
    return this.device.name;
  }

  read(offset: number, data: Uint8Array): void {
    this.drain();
    this.device.read(offset, data);
  }

  write(offset: number, data: Uint8Array): void {
    this.drain();
    this.device.write(offset, data);
  }
}

/** A mirror the device keeps of its window, when it can (one window only). */
function mirrorOf(device: BusDevice, planned: PlannedDevice): RegisterMirror | undefined {
  if (!mirrorsRegisters(device) || planned.windows.length !== 1) return undefined;
  const mirror = RegisterMirror.create(planned.windows[0].size);
  device.mirrorRegisters(mirror);
  return mirror;
}

export class SharedPlatformDevices {
  private readonly servers: { server: IoregionServer; deviceEnd: number; vmmEnd: number }[] = [];
  private readonly pio = new IoBus('pio');
  private readonly mmio = new IoBus('mmio');
  /** The coalesced ring, once this thread consumes it. */
  ring: CoalescedRing | undefined;
  /** The windows every vCPU thread forwards. */
  readonly regions: ForwardedRegion[] = [];
  private readonly awaiting: AwaitsQueuedWrites[] = [];

  /** Builds the plan's vCPU-thread devices here and a forwarded region for each of their windows. */
  constructor(devices: readonly PlannedDevice[], env: VcpuEnvironment, private readonly stats: ExitStats) {
    const drain = () => this.ring?.drain();
    try {
      for (const d of devices) {
        const device = platformKind(d.config).build(d.config, env);
        const served = new AfterQueuedWrites(device, drain);
        if (awaitsQueuedWrites(device)) this.awaiting.push(device);
        const mirror = mirrorOf(device, d);
        for (const w of d.windows) {
          (w.space === 'pio' ? this.pio : this.mmio).add(w.base, w.size, device);
          const { vmmEnd, deviceEnd } = createRegionSockets();
          const server = new IoregionServer(deviceEnd, served, w.size);
          this.servers.push({ server, deviceEnd, vmmEnd });
          server.start();
          this.regions.push({ name: d.name, space: w.space, base: w.base, size: w.size, fd: vmmEnd, inProcess: true, writesWait: true, ...(mirror ? { mirror: mirror.shared } : {}) });
        }
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** From now on this thread replays the ring at `ringAddress` (in vCPU 0's kvm_run mapping). */
  consumeRing(ringAddress: number): void {
    this.ring = new CoalescedRing(ringAddress, this.pio, this.mmio, this.stats, { producerRunsConcurrently: true });
  }

  /** Whether a device waits for writes queued in the ring (the ring watch then looks sooner). */
  get drainAwaited(): boolean {
    return this.awaiting.some((d) => d.awaitsQueuedWrites);
  }

  drainRing(): void {
    this.ring?.drain();
  }

  close(): void {
    for (const s of this.servers) {
      s.server.stop();
      close(s.deviceEnd);
      close(s.vmmEnd);
    }
    this.servers.length = 0;
  }
}
