// Machine definitions: the memory map, CPU template and devices of a VM, read
// from a JSON file in machines/ (format: machines/README.md) and validated on
// load. Every problem is reported with the file and the field's path. What a
// device entry holds, and what it occupies, each device kind declares in the
// catalog (src/devices/catalog.ts).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { DiskSpec } from '../block/disk-spec.js';
import { findDeviceKind, fixedWindows, machineFileKinds, type DeviceDefinition } from '../devices/catalog.js';
import { hex } from '../hex.js';
import { PROJECT_ROOT } from '../project-root.js';
import { AUTO_CPU_TEMPLATE, CPU_TEMPLATE_NAMES } from '../kvm/cpu-template.js';
import { FieldReader, MachineError } from './field-reader.js';

export type { DeviceDefinition } from '../devices/catalog.js';
export type { DeviceProcess } from './field-reader.js';
export { MachineError } from './field-reader.js';

/** The most vCPUs a machine may have: xAPIC IDs 0..253, the IOAPIC taking the next (boot/mp-table.ts). The host's KVM may allow fewer. */
export const MAX_VCPUS = 254;

/** A vCPU count from a machine file or the command line, or `fail(why)`. */
export function vcpuCountOr(value: unknown, fail: (why: string) => never): number {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_VCPUS) fail(`expected a whole number of vCPUs from 1 to ${MAX_VCPUS}, got ${JSON.stringify(value)}`);
  return n as number;
}

export interface MachineDefinition {
  name: string;
  description: string;
  source: string;
  memory: {
    /** Default RAM size when the user gives none. */
    defaultSize: number;
    /** No RAM is placed in [start, end): MMIO devices and KVM's TSS live there. */
    mmioGap: { start: number; end: number };
  };
  /** vCPU count (cpu.count, default 1) and CPUID template. */
  cpu: { count: number; template: string };
  /** Extra kernel command-line words this machine needs. */
  cmdline: string;
  devices: DeviceDefinition[];
  /** Disks to attach (before any --disk), paths resolved against the machine file's folder. */
  disks: DiskSpec[];
}

export const MACHINES_DIR = join(PROJECT_ROOT, 'machines');
/** The machine `run` boots without --machine, and `exec` always. */
export const DEFAULT_MACHINE = 'microvm';

/** Finds a machine by name (machines/NAME.json) or path. */
export function resolveMachinePath(nameOrPath: string): string {
  if (nameOrPath.includes('/') || nameOrPath.endsWith('.json')) return resolve(nameOrPath);
  const path = join(MACHINES_DIR, `${nameOrPath}.json`);
  if (!existsSync(path)) throw new MachineError(`no machine named "${nameOrPath}" (looked for ${path})`);
  return path;
}

export function loadMachine(nameOrPath: string): MachineDefinition {
  const path = resolveMachinePath(nameOrPath);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MachineError(`cannot read machine file ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MachineError(`${path}: not valid JSON: ${(e as Error).message}`);
  }
  return parseMachine(json, path);
}

/** Validates a parsed machine file; throws MachineError naming the bad field. */
export function parseMachine(json: unknown, source: string): MachineDefinition {
  const r = new FieldReader(source);
  const root = r.object(json, '');
  r.allowOnly(root, '', ['name', 'description', 'memory', 'cpu', 'cmdline', 'devices', 'disks']);
  const memory = r.object(root.memory, 'memory');
  r.allowOnly(memory, 'memory', ['defaultSize', 'mmioGap']);
  const gap = r.object(memory.mmioGap, 'memory.mmioGap');
  r.allowOnly(gap, 'memory.mmioGap', ['start', 'end']);
  const mmioGap = { start: r.address(gap.start, 'memory.mmioGap.start'), end: r.address(gap.end, 'memory.mmioGap.end') };
  if (mmioGap.end <= mmioGap.start || mmioGap.start % 4096 || mmioGap.end % 4096)
    r.fail('memory.mmioGap', 'must be a page-aligned range with start < end');
  const cpu = root.cpu === undefined ? {} : r.object(root.cpu, 'cpu');
  r.allowOnly(cpu, 'cpu', ['count', 'template']);
  const devicesJson = r.array(root.devices, 'devices');
  const names = new Set<string>();
  const devices = devicesJson.map((d, i) => {
    const dev = parseDevice(r, d, `devices[${i}]`);
    if (names.has(dev.name)) r.fail(`devices[${i}].name`, `duplicate device name "${dev.name}"`);
    names.add(dev.name);
    return dev;
  });
  checkPlacement(r, devices, mmioGap);
  return {
    name: r.string(root.name, 'name'),
    description: root.description === undefined ? '' : r.string(root.description, 'description'),
    source,
    memory: { defaultSize: r.size(memory.defaultSize, 'memory.defaultSize'), mmioGap },
    cpu: {
      count: cpu.count === undefined ? 1 : vcpuCountOr(cpu.count, (why) => r.fail('cpu.count', why)),
      template: cpu.template === undefined ? AUTO_CPU_TEMPLATE : r.oneOf(cpu.template, CPU_TEMPLATE_NAMES, 'cpu.template'),
    },
    cmdline: root.cmdline === undefined ? '' : r.string(root.cmdline, 'cmdline'),
    devices,
    disks: (root.disks === undefined ? [] : r.array(root.disks, 'disks')).map((d, i) => r.disk(d, `disks[${i}]`, dirname(source))),
  };
}

function parseDevice(r: FieldReader, json: unknown, path: string): DeviceDefinition {
  const d = r.object(json, path);
  const type = r.string(d.type, `${path}.type`);
  const name = d.name === undefined ? type : r.string(d.name, `${path}.name`);
  const kind = findDeviceKind(type);
  if (!kind?.entry) {
    const known = machineFileKinds().map((k) => k.type).join(', ');
    return r.fail(`${path}.type`, `unknown device type "${type}" (known: ${known})`);
  }
  r.allowOnly(d, path, ['type', 'name', ...kind.entry.fields]);
  return { type, name, ...kind.entry.parse(d, r, path) } as DeviceDefinition;
}

/**
 * Devices may not share ports or MMIO addresses, and MMIO windows must lie in
 * the MMIO gap: outside it is guest RAM (ramLayout), which KVM would serve
 * instead of the device.
 */
function checkPlacement(r: FieldReader, devices: DeviceDefinition[], gap: { start: number; end: number }): void {
  const placed = devices.flatMap((d, i) => fixedWindows(d).map((w) => ({ ...w, path: `devices[${i}]`, name: d.name })));
  const describe = (f: (typeof placed)[number]) =>
    `${f.space === 'pio' ? 'ports' : 'MMIO'} ${hex(f.base)}..${hex(f.base + f.size - 1)}`;
  for (const [i, f] of placed.entries()) {
    if (f.space === 'pio' && f.base + f.size > 0x10000) r.fail(`${f.path}.${f.field}`, `${describe(f)} run past port 0xffff`);
    if (f.space === 'mmio' && (f.base < gap.start || f.base + f.size > gap.end))
      r.fail(`${f.path}.${f.field}`, `${describe(f)} is not inside memory.mmioGap ${hex(gap.start)}..${hex(gap.end - 1)} (outside it is guest RAM)`);
    const other = placed.slice(0, i).find((o) => o.space === f.space && o.base < f.base + f.size && f.base < o.base + o.size);
    if (other) r.fail(`${f.path}.${f.field}`, `${describe(f)} overlap ${other.path} ("${other.name}") at ${describe(other)}`);
  }
}
