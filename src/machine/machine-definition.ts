// Machine definitions: the memory map, CPU template and devices of a VM, read
// from a JSON file in machines/ (format: machines/README.md) and validated on
// load. Every problem is reported with the file and the field's path.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDiskSpec, type DiskSpec } from '../block/disk-spec.js';
import { hex } from '../hex.js';
import { PROJECT_ROOT } from '../project-root.js';
import { AUTO_CPU_TEMPLATE, CPU_TEMPLATE_NAMES } from '../kvm/cpu-template.js';
import { deviceFootprint, MIN_VIRTIO_SLOT } from './device-footprint.js';
import { parseSize } from './size.js';

export interface UartDefinition {
  type: 'uart16550';
  name: string;
  port: number;
  irq: number;
  /** Connected to the VMM's console (stdin/stdout). */
  console: boolean;
  /** Let KVM coalesce writes to the transmit register (see machines/README.md). */
  coalesced: boolean;
}

export interface ExitDeviceDefinition {
  type: 'exit-device';
  name: string;
  port: number;
}

export interface I8042Definition {
  type: 'i8042';
  name: string;
  port: number;
}

export interface VirtioMmioDefinition {
  type: 'virtio-mmio';
  name: string;
  /** Guest-physical base of the first slot; slot i is at base + i * slotSize. */
  base: number;
  slotSize: number;
  /** One IRQ per slot. */
  irqs: number[];
  coalesced: boolean;
}

/** Where a device model runs: on the vCPU thread, or in its own jailed process (ioregionfd protocol). */
export type DeviceProcess = 'inline' | 'separate';

export interface TestDeviceDefinition {
  type: 'test-device';
  name: string;
  base: number;
  /** Let KVM coalesce writes to the scratch window. */
  coalesced: boolean;
  process: DeviceProcess;
}

export type DeviceDefinition = UartDefinition | ExitDeviceDefinition | I8042Definition | VirtioMmioDefinition | TestDeviceDefinition;

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
  cpu: { template: string };
  /** Extra kernel command-line words this machine needs. */
  cmdline: string;
  devices: DeviceDefinition[];
  /** Disks to attach (before any --disk), paths resolved against the machine file's folder. */
  disks: DiskSpec[];
}

export class MachineError extends Error {
  override name = 'MachineError';
}

export const MACHINES_DIR = join(PROJECT_ROOT, 'machines');

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
  r.allowOnly(cpu, 'cpu', ['template']);
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
    cpu: { template: cpu.template === undefined ? AUTO_CPU_TEMPLATE : r.oneOf(cpu.template, CPU_TEMPLATE_NAMES, 'cpu.template') },
    cmdline: root.cmdline === undefined ? '' : r.string(root.cmdline, 'cmdline'),
    devices,
    disks: (root.disks === undefined ? [] : r.array(root.disks, 'disks')).map((d, i) => r.disk(d, `disks[${i}]`, dirname(source))),
  };
}

function parseDevice(r: FieldReader, json: unknown, path: string): DeviceDefinition {
  const d = r.object(json, path);
  const type = r.string(d.type, `${path}.type`);
  const name = d.name === undefined ? type : r.string(d.name, `${path}.name`);
  switch (type) {
    case 'uart16550':
      r.allowOnly(d, path, ['type', 'name', 'port', 'irq', 'console', 'coalesced']);
      return {
        type,
        name,
        port: r.port(d.port, `${path}.port`),
        irq: r.irq(d.irq, `${path}.irq`),
        console: d.console === undefined ? false : r.boolean(d.console, `${path}.console`),
        coalesced: d.coalesced === undefined ? true : r.boolean(d.coalesced, `${path}.coalesced`),
      };
    case 'exit-device':
    case 'i8042':
      r.allowOnly(d, path, ['type', 'name', 'port']);
      return { type, name, port: r.port(d.port, `${path}.port`) };
    case 'virtio-mmio': {
      r.allowOnly(d, path, ['type', 'name', 'base', 'slotSize', 'irqs', 'coalesced']);
      const irqs = r.array(d.irqs, `${path}.irqs`).map((x, i) => r.irq(x, `${path}.irqs[${i}]`));
      if (irqs.length === 0) r.fail(`${path}.irqs`, 'needs at least one IRQ (one per slot)');
      const slotSize = r.size(d.slotSize, `${path}.slotSize`);
      if (slotSize < MIN_VIRTIO_SLOT) r.fail(`${path}.slotSize`, `${slotSize} bytes is smaller than a virtio-mmio window (${MIN_VIRTIO_SLOT} bytes)`);
      return {
        type,
        name,
        base: r.address(d.base, `${path}.base`),
        slotSize,
        irqs,
        coalesced: d.coalesced === undefined ? false : r.boolean(d.coalesced, `${path}.coalesced`),
      };
    }
    case 'test-device':
      r.allowOnly(d, path, ['type', 'name', 'base', 'coalesced', 'process']);
      return {
        type,
        name,
        base: r.address(d.base, `${path}.base`),
        coalesced: d.coalesced === undefined ? true : r.boolean(d.coalesced, `${path}.coalesced`),
        process: r.deviceProcess(d.process, `${path}.process`),
      };
    default:
      return r.fail(`${path}.type`, `unknown device type "${type}" (known: uart16550, exit-device, i8042, virtio-mmio, test-device)`);
  }
}

/**
 * Devices may not share ports or MMIO addresses, and MMIO windows must lie in
 * the MMIO gap: outside it is guest RAM (ramLayout), which KVM would serve
 * instead of the device.
 */
function checkPlacement(r: FieldReader, devices: DeviceDefinition[], gap: { start: number; end: number }): void {
  const placed = devices.map((d, i) => ({ ...deviceFootprint(d), path: `devices[${i}]`, name: d.name }));
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

type Json = Record<string, unknown>;

class FieldReader {
  constructor(private readonly source: string) {}

  fail(path: string, message: string): never {
    throw new MachineError(`${this.source}: ${path || '(top level)'}: ${message}`);
  }
  object(v: unknown, path: string): Json {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, 'expected an object');
    return v as Json;
  }
  array(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'expected an array');
    return v;
  }
  string(v: unknown, path: string): string {
    if (typeof v !== 'string') this.fail(path, 'expected a string');
    return v;
  }
  oneOf(v: unknown, allowed: readonly string[], path: string): string {
    const s = this.string(v, path);
    if (!allowed.includes(s)) this.fail(path, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(s)}`);
    return s;
  }
  boolean(v: unknown, path: string): boolean {
    if (typeof v !== 'boolean') this.fail(path, 'expected true or false');
    return v;
  }
  /** A number, or a string in decimal or 0x hex. */
  integer(v: unknown, path: string): number {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < 0) this.fail(path, `expected a non-negative integer (decimal or "0x..." hex), got ${JSON.stringify(v)}`);
    return n;
  }
  port(v: unknown, path: string): number {
    const n = this.integer(v, path);
    if (n > 0xffff) this.fail(path, `I/O port ${n} is above 0xffff`);
    return n;
  }
  irq(v: unknown, path: string): number {
    const n = this.integer(v, path);
    if (n < 1 || n > 23) this.fail(path, `IRQ ${n} is outside the IOAPIC's 1..23`);
    return n;
  }
  address(v: unknown, path: string): number {
    const n = this.integer(v, path);
    if (n >= 2 ** 52) this.fail(path, 'address beyond the 52-bit physical address space');
    return n;
  }
  size(v: unknown, path: string): number {
    const n = typeof v === 'string' || typeof v === 'number' ? parseSize(v) : undefined;
    if (n === undefined || n === 0) this.fail(path, `expected a size such as "256M", got ${JSON.stringify(v)}`);
    return n;
  }
  deviceProcess(v: unknown, path: string): DeviceProcess {
    if (v === undefined) return 'inline';
    if (v !== 'inline' && v !== 'separate') this.fail(path, `expected "inline" or "separate", got ${JSON.stringify(v)}`);
    return v;
  }
  /** A disk in --disk syntax; a relative path is relative to the machine file. */
  disk(v: unknown, path: string, baseDir: string): DiskSpec {
    try {
      const spec = parseDiskSpec(this.string(v, path));
      return { ...spec, path: isAbsolute(spec.path) ? spec.path : resolve(baseDir, spec.path) };
    } catch (e) {
      if (e instanceof MachineError) throw e;
      return this.fail(path, (e as Error).message);
    }
  }
  allowOnly(o: Json, path: string, keys: string[]): void {
    for (const k of Object.keys(o))
      if (!keys.includes(k)) this.fail(path ? `${path}.${k}` : k, `unknown field (allowed: ${keys.join(', ')})`);
  }
}
