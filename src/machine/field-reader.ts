// Reads the fields of a machine file: each reader checks one JSON value and
// fails with a MachineError naming the file and the field's path. The machine
// parser and every device kind of the catalog (src/devices/catalog.ts) read
// their fields through it, so all errors look alike.
import { isAbsolute, resolve } from 'node:path';
import { parseDiskSpec, type DiskSpec } from '../block/disk-spec.js';
import { parseSize } from './size.js';

export class MachineError extends Error {
  override name = 'MachineError';
}

/** Where a device model runs when the machine file gives a choice: on the VMM, or in its own jailed process. */
export type DeviceProcess = 'inline' | 'separate';

export type Json = Record<string, unknown>;

export class FieldReader {
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
