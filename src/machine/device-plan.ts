// The device plan: where every device of a VM goes, decided once by the
// frontend, as plain data: the thread or process that serves it, its register
// windows, its virtio-mmio slot and IRQ, and every descriptor that must cross
// a process boundary for it (what it is, its name, who gets it). The helper
// and the device processes apply the plan; they place nothing themselves.
// (Firecracker's device_manager owns the same decisions; here they are a
// value that can be tested, logged, and sent to other processes.)
import { deviceKind } from '../devices/catalog.js';
import type { DeviceDefinition } from '../devices/catalog.js';
import type { DeviceConfig, DeviceHost, OpenedFile } from '../devices/device-kind.js';
import { handoverName, INTERRUPT_STATUS_ROLE, queueNotifyRole, WHOLE_VM, type DescriptorRole } from './handover-name.js';
import type { MachineDefinition } from './machine-definition.js';
import { VirtioSlotAllocator } from './virtio-slot-allocator.js';

export type DescriptorSource =
  /** A socketpair for the ioregionfd protocol: the VMM's end to the helper, the other to the device's process. */
  | { kind: 'region-socket' }
  /** An eventfd the helper registers with KVM and the device process signals or watches. */
  | { kind: 'eventfd' }
  /** Guest RAM as a memfd, one for the VM, mapped by the helper and every device process doing DMA. */
  | { kind: 'shared-ram' }
  /** A virtio device's InterruptStatus word, a one-page memfd: its process raises reasons there, the vCPU threads answer the driver from it. */
  | { kind: 'interrupt-status' }
  /** A file the frontend opens with the user's rights. */
  | { kind: 'file'; file: OpenedFile };

export interface PlannedDescriptor {
  /** Its name in every process that gets it (handoverName). */
  name: string;
  role: DescriptorRole;
  source: DescriptorSource;
  /** Whether the helper gets it (for a region socket: the VMM's end). */
  helper: boolean;
  /** Whether the device's own process gets it (for a region socket: the device's end). */
  deviceProcess: boolean;
}

export interface PlannedWindow {
  space: 'pio' | 'mmio';
  base: number;
  size: number;
}

export interface PlannedDevice {
  name: string;
  type: string;
  /** The kind's parsed entry. */
  config: DeviceDefinition;
  host: DeviceHost;
  windows: PlannedWindow[];
  /** For a virtio device: its slot (index among the machine's slots) and GSI. */
  virtio?: { slot: number; irq: number };
  descriptors: PlannedDescriptor[];
  /** For a device served in a device process: that process's name. Devices with the same name share one process; by default each has its own, named after it. */
  process?: string;
}

export interface DevicePlan {
  /** Platform devices in machine-file order, then virtio devices in slot order. */
  devices: PlannedDevice[];
  /** Kernel command-line words announcing the virtio-mmio devices (VIRTIO_MMIO_CMDLINE_DEVICES), in slot order. */
  kernelWords: string;
  /** The shared guest RAM descriptor when a device process does DMA, else undefined. */
  sharedRam?: PlannedDescriptor;
}

export class DevicePlanError extends Error {
  override name = 'DevicePlanError';
}

export interface DevicePlanOptions {
  /**
   * Devices served together, each list by one device process (by device
   * name; each must be served in a device process). `tsvmm exec` serves its
   * two shares so: a Node process fewer to start (docs/security.md says why
   * that gives the guest nothing it did not have).
   */
  sharedProcesses?: readonly (readonly string[])[];
}

/**
 * Places the machine's devices and `attached` (virtio devices from the
 * command line: disks). Virtio devices take slots in this order: `attached`
 * first (disks keep the slots they always had), then the machine file's own.
 */
export function planDevices(machine: MachineDefinition, attached: readonly DeviceDefinition[], options: DevicePlanOptions = {}): DevicePlan {
  const slots = new VirtioSlotAllocator(machine);
  const platform: PlannedDevice[] = [];
  const virtio: PlannedDevice[] = [];
  const ram: PlannedDescriptor = { name: handoverName(WHOLE_VM, 'ram'), role: 'ram', source: { kind: 'shared-ram' }, helper: true, deviceProcess: true };
  const names = new Set(machine.devices.map((d) => d.name));
  for (const d of attached)
    if (names.has(d.name)) throw new DevicePlanError(`${d.name}: the machine already has a device of that name`);
  const virtioEntries = [...attached, ...machine.devices.filter((d) => deviceKind(d.type).family === 'virtio')];

  for (const d of machine.devices) {
    const kind = deviceKind(d.type);
    if (kind.family !== 'platform') continue;
    const host = checkedHost(d, kind.hosts, kind.host(d));
    const descriptors = host === 'device-process' ? [regionSocket(d)] : [];
    platform.push({ name: d.name, type: d.type, config: d, host, windows: kind.windows(d).map(({ space, base, size }) => ({ space, base, size })), descriptors });
  }
  for (const d of virtioEntries) {
    const kind = deviceKind(d.type);
    if (kind.family !== 'virtio') throw new DevicePlanError(`${d.name}: a ${d.type} is not a virtio device`);
    const host = checkedHost(d, kind.hosts, kind.host(d));
    const slot = slots.allocate(d);
    const files: PlannedDescriptor[] = kind.files(d).map(({ role, file }) => ({
      name: handoverName(d.name, role),
      role,
      source: { kind: 'file', file },
      helper: host !== 'device-process',
      deviceProcess: host === 'device-process',
    }));
    const signals: PlannedDescriptor[] =
      host === 'device-process'
        ? [regionSocket(d), ...Array.from({ length: kind.queueCount(d) }, (_, q) => sharedEventfd(d, queueNotifyRole(q))), sharedEventfd(d, 'irq'), interruptStatusPage(d), ram]
        : [];
    virtio.push({
      name: d.name,
      type: d.type,
      config: d,
      host,
      windows: [{ space: 'mmio', base: slot.base, size: slot.size }],
      virtio: { slot: slot.index, irq: slot.irq },
      descriptors: [...signals, ...files],
    });
  }
  const devices = [...platform, ...virtio];
  assignProcesses(devices, options.sharedProcesses ?? []);
  return {
    devices,
    kernelWords: virtio.map((d) => `virtio_mmio.device=4K@0x${d.windows[0].base.toString(16)}:${d.virtio!.irq}`).join(' '),
    sharedRam: virtio.some((d) => d.host === 'device-process') ? ram : undefined,
  };
}

/** The descriptor of `device` for `role`; throws when the plan has none (a plan and its reader disagree: a bug). */
export function plannedDescriptor(device: PlannedDevice, role: DescriptorRole): PlannedDescriptor {
  const found = device.descriptors.find((x) => x.role === role);
  if (!found) throw new DevicePlanError(`the plan gives ${device.name} no "${role}" descriptor`);
  return found;
}

/** Names each device-process device's process: its own name, or its shared process's. */
function assignProcesses(devices: PlannedDevice[], shared: readonly (readonly string[])[]): void {
  const byName = new Map(devices.map((d) => [d.name, d]));
  for (const d of devices) if (d.host === 'device-process') d.process = d.name;
  const grouped = new Set<string>();
  for (const names of shared) {
    const processName = names.join('+');
    for (const name of names) {
      const d = byName.get(name);
      if (!d) throw new DevicePlanError(`no device ${name} to serve in process ${processName}`);
      if (d.host !== 'device-process') throw new DevicePlanError(`${name}: served on the ${d.host}, not in a device process (process ${processName})`);
      if (grouped.has(name)) throw new DevicePlanError(`${name}: named for two device processes`);
      grouped.add(name);
      d.process = processName;
    }
  }
}

function checkedHost(d: DeviceConfig, hosts: readonly DeviceHost[], host: DeviceHost): DeviceHost {
  if (!hosts.includes(host)) throw new DevicePlanError(`${d.name}: a ${d.type} cannot run on the ${host} (only: ${hosts.join(', ')})`);
  return host;
}

function regionSocket(d: DeviceConfig): PlannedDescriptor {
  return { name: handoverName(d.name, 'region'), role: 'region', source: { kind: 'region-socket' }, helper: true, deviceProcess: true };
}

function interruptStatusPage(d: DeviceConfig): PlannedDescriptor {
  return { name: handoverName(d.name, INTERRUPT_STATUS_ROLE), role: INTERRUPT_STATUS_ROLE, source: { kind: 'interrupt-status' }, helper: true, deviceProcess: true };
}

function sharedEventfd(d: DeviceConfig, role: DescriptorRole): PlannedDescriptor {
  return { name: handoverName(d.name, role), role, source: { kind: 'eventfd' }, helper: true, deviceProcess: true };
}
