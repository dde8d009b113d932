// Which guest-physical (or port) ranges of each device KVM may coalesce.
// Each device kind declares in the catalog the windows where a delayed write
// changes nothing the guest can observe before its next exit (every exit
// drains the ring first); the machine file can switch coalescing off per
// device. (This lived in bus/ once, which made the bus layer know particular
// devices.)
import { deviceKind } from '../devices/catalog.js';
import type { DeviceConfig } from '../devices/device-kind.js';

export interface CoalescedZone {
  device: string;
  addr: number;
  size: number;
  pio: boolean;
}

export function coalescedZonesFor(d: DeviceConfig): CoalescedZone[] {
  const kind = deviceKind(d.type);
  if (kind.family !== 'platform' || !kind.coalesced(d)) return [];
  const [window] = kind.windows(d);
  return kind.coalescable.map((w) => ({ device: d.name, addr: window.base + w.offset, size: w.size, pio: window.space === 'pio' }));
}

/** What the registry needs from a VM: KVM_(UN)REGISTER_COALESCED_MMIO. */
export interface CoalescedZoneTarget {
  registerCoalescedZone(addr: number, size: number, pio: boolean, unregister?: boolean): void;
}

/**
 * The zones registered with KVM, by device: a device's zones are registered
 * when it is added, follow it when it moves, and go when it is removed.
 * Unregistering never loses writes already queued: KVM leaves them in the
 * ring, and the next drain delivers them (to the device's old range).
 */
export class CoalescedZoneRegistry {
  private readonly byDevice = new Map<string, CoalescedZone[]>();

  constructor(
    private readonly vm: CoalescedZoneTarget,
    private readonly pioCapable: boolean,
  ) {}

  /** Registers the zones `definition` declares; returns them (PIO zones are skipped without KVM_CAP_COALESCED_PIO). */
  add(definition: DeviceConfig): CoalescedZone[] {
    if (this.byDevice.has(definition.name)) throw new Error(`coalesced zones for ${definition.name} are already registered`);
    const zones = coalescedZonesFor(definition).filter((z) => !z.pio || this.pioCapable);
    for (const z of zones) this.vm.registerCoalescedZone(z.addr, z.size, z.pio);
    this.byDevice.set(definition.name, zones);
    return zones;
  }

  remove(name: string): void {
    for (const z of this.byDevice.get(name) ?? []) this.vm.registerCoalescedZone(z.addr, z.size, z.pio, true);
    this.byDevice.delete(name);
  }

  /** The device now lives at `moved` (same name, new address). */
  move(moved: DeviceConfig): CoalescedZone[] {
    this.remove(moved.name);
    return this.add(moved);
  }

  zones(name: string): readonly CoalescedZone[] {
    return this.byDevice.get(name) ?? [];
  }
}
