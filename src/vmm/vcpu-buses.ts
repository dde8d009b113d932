// The port and MMIO buses a vCPU's exit loop dispatches to, built the same
// way wherever the vCPU runs (its worker thread, or the helper's main thread
// with one vCPU: main-thread-vcpu.ts): the plan's exit-serviced devices,
// built through the catalog; the regions served elsewhere, reached over their
// sockets; and, on the main thread, the virtio transports served there,
// called directly.
import { viewAt } from '../../ffi/libc.js';
import type { BusDevice } from '../bus/device.js';
import { EventfdCounter } from '../bus/eventfd-signals.js';
import { IoBus } from '../bus/io-bus.js';
import { IOREGION_RESPONSE_TIMEOUTS, IoregionClient } from '../bus/ioregion-client.js';
import { MirroredReads } from '../bus/mirrored-reads.js';
import { RegionLock } from '../bus/region-lock.js';
import type { VcpuEnvironment } from '../devices/device-kind.js';
import { platformKind } from '../devices/platform-catalog.js';
import { SHARED_REGISTERS_BYTES } from '../devices/virtio/register-snapshot.js';
import { VirtioRegisterShortcut } from '../devices/virtio/virtio-register-shortcut.js';
import type { ExitStats } from '../kvm/exit-stats.js';
import type { PlannedDevice } from '../machine/device-plan.js';
import type { ForwardedRegion } from './forwarded-region.js';

/** A virtio transport served on the vCPU's own thread: its accesses are calls. */
export interface LocalRegion {
  name: string;
  base: number;
  size: number;
  device: BusDevice;
  /** The transport's InterruptStatus word, for the ACKs KVM counts (countedAcks). */
  interruptStatus?: SharedArrayBuffer;
  countedAcks?: number;
}

export interface VcpuBuses {
  pio: IoBus;
  mmio: IoBus;
  /** What answered accesses without the device: counted into the vCPU's statistics at its end. */
  shortcuts: VirtioRegisterShortcut[];
  mirrored: MirroredReads[];
}

export interface VcpuBusPlan {
  devices: readonly PlannedDevice[];
  forwarded: readonly ForwardedRegion[];
  local?: readonly LocalRegion[];
  /** A device served elsewhere stopped answering. */
  onDeviceDead(device: string, why: string): void;
}

export function buildVcpuBuses(plan: VcpuBusPlan, env: VcpuEnvironment): VcpuBuses {
  const buses: VcpuBuses = { pio: new IoBus('pio'), mmio: new IoBus('mmio'), shortcuts: [], mirrored: [] };
  const withCountedAcks = (device: BusDevice, shared: ArrayBufferLike, countedAcks: number | undefined) => {
    const shortcut = new VirtioRegisterShortcut(device, shared, countedAcks === undefined ? undefined : new EventfdCounter(countedAcks));
    buses.shortcuts.push(shortcut);
    return shortcut;
  };
  // Devices served elsewhere: their accesses go over their region sockets
  // (shared by every vCPU thread under the region's lock, with several).
  for (const r of plan.forwarded) {
    const lock = r.lock && new RegionLock(r.lock);
    const client = new IoregionClient(r.name, r.fd, (why) => plan.onDeviceDead(r.name, why), !r.writesWait, IOREGION_RESPONSE_TIMEOUTS, r.inProcess ? 'thread' : 'process', lock);
    const status = r.interruptStatus;
    const shared = status === undefined ? undefined : status instanceof SharedArrayBuffer ? status : viewAt(status.address, SHARED_REGISTERS_BYTES);
    const mirror = r.mirror && new MirroredReads(client, r.mirror);
    if (mirror) buses.mirrored.push(mirror);
    const device = shared ? withCountedAcks(client, shared, r.countedAcks) : mirror || client;
    (r.space === 'pio' ? buses.pio : buses.mmio).add(r.base, r.size, device);
  }
  for (const r of plan.local ?? []) {
    // Counted and reported by the plan's name (`vda`), as a forwarded one is, not the model's.
    const named = r.device.name === r.name ? r.device : renamed(r.device, r.name);
    buses.mmio.add(r.base, r.size, r.interruptStatus ? withCountedAcks(named, r.interruptStatus, r.countedAcks) : named);
  }
  // Exit-serviced devices, as the plan places them; the catalog builds each.
  for (const d of plan.devices) {
    const device = platformKind(d.config).build(d.config, env);
    for (const w of d.windows) (w.space === 'pio' ? buses.pio : buses.mmio).add(w.base, w.size, device);
  }
  return buses;
}

function renamed(device: BusDevice, name: string): BusDevice {
  return { name, read: (offset, data) => device.read(offset, data), write: (offset, data) => device.write(offset, data) };
}

/** At the vCPU's end: what the shortcuts answered, into its statistics. */
export function countShortcuts(buses: VcpuBuses, stats: ExitStats): void {
  for (const shortcut of buses.shortcuts) {
    shortcut.takeUncountedAcks();
    stats.countShortcut(shortcut.name, shortcut.readsAnswered, shortcut.acksWithoutExit);
  }
  for (const m of buses.mirrored) stats.countShortcut(m.name, m.readsAnswered, 0);
}
