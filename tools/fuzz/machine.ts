// Fuzz target: the machine-definition parser (src/machine/machine-definition.ts).
// Inputs start from the real machine files and are mutated structurally
// (values replaced by other types, edge numbers, hex and size strings, keys
// added or deleted, devices duplicated, moved or retyped) or, now and then,
// as JSON text (only what JSON.parse still accepts is parsed).
// Invariants: parseMachine throws nothing but MachineError; and what it
// accepts is a machine the rest of tsvmm can build: names unique, ports and
// IRQs in range, port ranges below 0x10000, MMIO windows inside the MMIO gap
// and no two devices overlapping (checked here independently of the parser),
// sizes positive safe integers, a known CPU template.
import { readFileSync } from 'node:fs';
import { CPU_TEMPLATE_NAMES } from '../../src/kvm/cpu-template.js';
import { MachineError, parseMachine, type MachineDefinition } from '../../src/machine/machine-definition.js';
import { Outcomes, check, repoFile, show, unitInterval, type FuzzTarget, type Prng } from './harness.js';
import { mutate } from '../../test/boot/support/mutations.js';

const SEED_FILES = ['machines/microvm.json', 'test/machines/test-devices.json', 'test/machines/test-device-separate.json'];

interface MachineInput {
  json: unknown;
  /** Set when the input came from mutated JSON text. */
  text?: string;
}

const KEYS = ['name', 'description', 'memory', 'cpu', 'cmdline', 'devices', 'disks', 'defaultSize', 'mmioGap', 'start', 'end', 'template', 'type', 'port', 'irq', 'irqs', 'console', 'coalesced', 'base', 'slotSize', 'process', '__proto__', 'constructor', 'toString'];
const TYPES = ['uart16550', 'exit-device', 'i8042', 'acpi-sleep', 'acpi-reset', 'virtio-mmio', 'test-device', 'virtio-blk', ''];

function randomScalar(rng: Prng): unknown {
  switch (rng.below(16)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, 1, -1, 0.5, 0xffff, 0x10000, 2 ** 52, 2 ** 53, 2 ** 53 + 2, 1e308, -0, 23, 24]);
    case 3:
      return `0x${rng.u32().toString(16)}`;
    case 4:
      return rng.pick(['0x', '0x-1', '1e3', ' 12 ', '0x3f8 ', '256M', '0M', '4K', '1T', '8191T', '0x10000000000000G', 'NaN', '-5', '007', '0X1000', '256MiB', '1.5G', '']);
    case 5:
      return rng.pick(TYPES);
    case 6:
      return rng.pick(['auto', 'host', 'nested-safe', 'bogus']);
    case 7:
      return rng.pick(['disk.img', 'disk.img,ro', 'x,cache=none,engine=aio', ',ro', 'a,serial=' + 'x'.repeat(21), 'a,unknown=1', 'a,ro,ro', 'a,process=separate']);
    case 8:
      return [];
    case 9:
      return {};
    case 10:
      return rng.below(24);
    case 11:
      return `0x${(0xc0000000 + 0x1000 * rng.below(0x40000)).toString(16)}`;
    default:
      return rng.below(0x20000);
  }
}

function clone(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

/** All (container, key) slots in a JSON tree. */
function slots(root: unknown): [Record<string, unknown> | unknown[], string | number][] {
  const out: [Record<string, unknown> | unknown[], string | number][] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach((x, i) => (out.push([v, i]), walk(x)));
    else if (v !== null && typeof v === 'object') for (const k of Object.keys(v)) out.push([v as Record<string, unknown>, k]), walk((v as Record<string, unknown>)[k]);
  };
  walk(root);
  return out;
}

function mutateJson(rng: Prng, root: Record<string, unknown>): void {
  for (let n = rng.range(1, 4); n > 0; n--) {
    const all = slots(root);
    if (all.length === 0) return;
    const [box, key] = rng.pick(all);
    const op = rng.below(10);
    if (Array.isArray(box)) {
      const i = key as number;
      if (op < 2) box.splice(i, 1);
      else if (op < 4) box.splice(rng.below(box.length + 1), 0, clone(box[i]));
      else if (op < 5) [box[i], box[box.length - 1]] = [box[box.length - 1], box[i]];
      else box[i] = op < 8 ? randomScalar(rng) : clone(rng.pick(all)[0]);
    } else {
      const o = box as Record<string, unknown>;
      if (op < 2) delete o[key as string];
      else if (op < 4) Object.defineProperty(o, rng.pick(KEYS), { value: randomScalar(rng), enumerable: true, configurable: true, writable: true });
      else o[key as string] = randomScalar(rng);
    }
  }
}

export class MachineTarget implements FuzzTarget<MachineInput> {
  readonly name = 'machine';
  readonly description = 'machine-definition parser: mutated machine files';
  readonly outcomes = new Outcomes();
  private readonly seeds: Record<string, unknown>[] = SEED_FILES.map((f) => JSON.parse(readFileSync(repoFile(f), 'utf8')) as Record<string, unknown>);

  generate(rng: Prng): MachineInput {
    const base = clone(rng.pick(this.seeds)) as Record<string, unknown>;
    if (rng.chance(0.1)) {
      const bytes = new TextEncoder().encode(JSON.stringify(base));
      const text = new TextDecoder().decode(mutate(bytes, unitInterval(rng), []));
      try {
        return { json: JSON.parse(text), text };
      } catch {
        // not JSON any more: mutate the structure instead
      }
    }
    if (rng.chance(0.9)) mutateJson(rng, base);
    return { json: base };
  }

  describe(input: MachineInput): string {
    return input.text !== undefined ? JSON.stringify(input.text) : show(input.json);
  }

  execute(input: MachineInput): void {
    let m: MachineDefinition;
    try {
      m = parseMachine(input.json, '/fuzz/machine.json');
    } catch (e) {
      if (e instanceof MachineError) {
        this.outcomes.add('refused');
        return;
      }
      throw e;
    }
    this.outcomes.add('accepted');
    checkMachine(m);
  }
}

const PORT_SPAN: Record<string, number> = { 'uart16550': 8, 'exit-device': 1, 'i8042': 5, 'acpi-sleep': 1, 'acpi-reset': 1 };
const TEST_DEVICE_WINDOW = 0x1000;

/** What any accepted machine must satisfy, computed without the parser's own helpers. */
function checkMachine(m: MachineDefinition): void {
  const safe = (n: number) => Number.isSafeInteger(n) && n >= 0;
  check(typeof m.name === 'string', 'name is not a string');
  check(safe(m.memory.defaultSize) && m.memory.defaultSize > 0, `defaultSize ${m.memory.defaultSize}`);
  const gap = m.memory.mmioGap;
  check(safe(gap.start) && safe(gap.end) && gap.start < gap.end && gap.start % 4096 === 0 && gap.end % 4096 === 0, `mmioGap ${gap.start}..${gap.end}`);
  check(CPU_TEMPLATE_NAMES.includes(m.cpu.template), `cpu template ${m.cpu.template}`);
  const names = new Set<string>();
  const pio: [number, number, string][] = [];
  const mmio: [number, number, string][] = [];
  for (const d of m.devices) {
    check(typeof d.name === 'string' && !names.has(d.name), `device name ${String(d.name)} missing or duplicated`);
    names.add(d.name);
    switch (d.type) {
      case 'uart16550':
      case 'exit-device':
      case 'i8042':
      case 'acpi-sleep':
      case 'acpi-reset': {
        check(safe(d.port) && d.port + PORT_SPAN[d.type] <= 0x10000, `${d.name}: port ${d.port} (+${PORT_SPAN[d.type]}) past 0xffff`);
        if (d.type === 'uart16550') check(Number.isInteger(d.irq) && d.irq >= 1 && d.irq <= 23, `${d.name}: irq ${d.irq}`);
        pio.push([d.port, d.port + PORT_SPAN[d.type], d.name]);
        break;
      }
      case 'virtio-mmio': {
        check(d.irqs.length > 0 && d.irqs.every((q) => Number.isInteger(q) && q >= 1 && q <= 23), `${d.name}: irqs ${d.irqs}`);
        check(safe(d.slotSize) && d.slotSize >= 0x1000, `${d.name}: slot size ${d.slotSize}`);
        const end = d.base + d.slotSize * d.irqs.length;
        check(safe(d.base) && Number.isSafeInteger(end), `${d.name}: window end ${end} is not exact`);
        mmio.push([d.base, end, d.name]);
        break;
      }
      case 'test-device':
        check(d.process === 'inline' || d.process === 'separate', `${d.name}: process ${d.process}`);
        mmio.push([d.base, d.base + TEST_DEVICE_WINDOW, d.name]);
        break;
      case 'virtio-rng':
        // No window of its own: it gets a virtio-mmio slot when the VM is planned.
        check(d.process === 'inline' || d.process === 'separate', `${d.name}: process ${d.process}`);
        check(safe(d.bytesPerSecond) && d.bytesPerSecond > 0 && safe(d.burst) && d.burst > 0, `${d.name}: rate ${d.bytesPerSecond}, burst ${d.burst}`);
        break;
      default:
        check(false, `unknown device type ${(d as { type: string }).type} accepted`);
    }
  }
  for (const [lo, hi, name] of mmio) check(lo >= gap.start && hi <= gap.end, `${name}: MMIO ${lo}..${hi} outside the gap ${gap.start}..${gap.end}`);
  for (const list of [pio, mmio]) {
    for (let i = 0; i < list.length; i++)
      for (let j = 0; j < i; j++) check(!(list[i][0] < list[j][1] && list[j][0] < list[i][1]), `${list[i][2]} overlaps ${list[j][2]}`);
  }
  for (const disk of m.disks) check(typeof disk.path === 'string' && disk.path.startsWith('/'), `disk path ${disk.path} not absolute`);
}
