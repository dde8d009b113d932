// The device catalog: every device kind tsvmm knows, each declared in one file
// of src/devices/kinds/ (see device-kind.ts for what an entry says). The
// machine parser, the device plan, the VM assembly, the coalesced-zone
// registry and the device processes iterate over this list; adding a kind is
// one file and one line here (or in platform-catalog.ts for a device served
// on a vCPU's exits).
import type { ConfigOf, DeviceConfig, DeviceKind, RegisterWindow, VirtioDeviceKind } from './device-kind.js';
import { PLATFORM_KINDS, UnknownDeviceKindError } from './platform-catalog.js';
import { virtioBlkKind } from './kinds/virtio-blk-kind.js';
import { virtioConsoleKind } from './kinds/virtio-console-kind.js';
import { virtioMmioSlotsKind } from './kinds/virtio-mmio-slots-kind.js';
import { virtioNetKind } from './kinds/virtio-net-kind.js';
import { virtio9pKind } from './kinds/virtio-9p-kind.js';
import { virtioRngKind } from './kinds/virtio-rng-kind.js';

export const DEVICE_KINDS = [
  ...PLATFORM_KINDS,
  virtioMmioSlotsKind,
  virtioBlkKind,
  virtioRngKind,
  virtioNetKind,
  virtio9pKind,
  virtioConsoleKind,
] as const satisfies readonly DeviceKind[];

/** Any parsed device entry of a kind in the catalog. */
export type DeviceDefinition = ConfigOf<(typeof DEVICE_KINDS)[number]>;

export { UnknownDeviceKindError, platformKind } from './platform-catalog.js';

const BY_TYPE: ReadonlyMap<string, DeviceKind> = new Map(DEVICE_KINDS.map((k) => [k.type, k]));

export function findDeviceKind(type: string): DeviceKind | undefined {
  return BY_TYPE.get(type);
}

export function deviceKind(type: string): DeviceKind {
  const kind = BY_TYPE.get(type);
  if (!kind) throw new UnknownDeviceKindError(`no device kind "${type}" in the catalog`);
  return kind;
}

export function virtioKind(config: DeviceConfig): VirtioDeviceKind {
  const kind = deviceKind(config.type);
  if (kind.family !== 'virtio') throw new UnknownDeviceKindError(`${config.name}: a ${config.type} is not a virtio device`);
  return kind;
}

/** The kinds a machine file may list in `devices[]`, in catalog order. */
export function machineFileKinds(): DeviceKind[] {
  return DEVICE_KINDS.filter((k) => k.entry !== undefined);
}

/** What an entry occupies at addresses the machine file gives (a virtio device's window comes from its slot instead). */
export function fixedWindows(config: DeviceConfig): RegisterWindow[] {
  const kind = deviceKind(config.type);
  return kind.family === 'virtio' ? [] : kind.windows(config);
}
