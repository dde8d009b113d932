import { describe, expect, it } from 'vitest';
import { buildMpTable, IOAPIC_ADDR, LAPIC_ADDR, MP_MAX_CPUS, MP_TABLE_ADDR } from '../../src/boot/mp-table.js';

const sum = (b: Uint8Array) => b.reduce((s, x) => (s + x) & 0xff, 0);

describe('MP table', () => {
  const t = buildMpTable();
  const v = new DataView(t.buffer);

  it('has a valid floating pointer pointing at the configuration table', () => {
    expect(String.fromCharCode(...t.subarray(0, 4))).toBe('_MP_');
    expect(sum(t.subarray(0, 16))).toBe(0);
    expect(v.getUint32(4, true)).toBe(MP_TABLE_ADDR + 16);
    expect([t[8], t[9], t[11]]).toEqual([1, 4, 0]);
  });

  it('has a configuration table whose checksum and length add up', () => {
    expect(String.fromCharCode(...t.subarray(16, 20))).toBe('PCMP');
    const length = v.getUint16(20, true);
    expect(16 + length).toBe(t.length);
    expect(sum(t.subarray(16, 16 + length))).toBe(0);
    expect(v.getUint32(16 + 36, true)).toBe(LAPIC_ADDR);
  });

  it('lists one bootstrap CPU, an ISA bus, the IOAPIC, 16 ISA IRQs and LINT0/LINT1', () => {
    const count = v.getUint16(16 + 34, true);
    const types: number[] = [];
    let at = 16 + 44;
    for (let i = 0; i < count; i++) {
      types.push(t[at]);
      if (t[at] === 0) expect(t[at + 3]).toBe(3); // enabled, bootstrap
      if (t[at] === 2) expect(v.getUint32(at + 4, true)).toBe(IOAPIC_ADDR);
      if (t[at] === 3) expect(t[at + 7]).toBe(t[at + 5]); // ISA IRQ n → IOAPIC pin n (KVM's default routing)
      at += t[at] === 0 ? 20 : 8;
    }
    expect(at).toBe(t.length);
    expect(types).toEqual([0, 1, 2, ...new Array(16).fill(3), 4, 4]);
  });

  it('lists every CPU of a multi-CPU machine (APIC ID = index, only CPU 0 the bootstrap one) and gives the IOAPIC the next ID', () => {
    const m = buildMpTable(4);
    const mv = new DataView(m.buffer);
    const length = mv.getUint16(20, true);
    expect(16 + length).toBe(m.length);
    expect(sum(m.subarray(16, 16 + length))).toBe(0);
    expect(mv.getUint16(16 + 34, true)).toBe(4 + 1 + 1 + 16 + 2);
    const cpus: [number, number][] = [];
    let at = 16 + 44;
    for (; m[at] === 0; at += 20) cpus.push([m[at + 1], m[at + 3]]);
    expect(cpus).toEqual([[0, 3], [1, 1], [2, 1], [3, 1]]);
    expect(m[at + 8]).toBe(2); // after the bus: the IOAPIC
    expect(m[at + 9]).toBe(4);
    expect(m[at + 16 + 6]).toBe(4); // the first I/O interrupt names it too
  });

  it('refuses CPU counts it cannot describe', () => {
    expect(() => buildMpTable(0)).toThrow(RangeError);
    expect(() => buildMpTable(MP_MAX_CPUS + 1)).toThrow(/CPUs/);
    expect(buildMpTable(MP_MAX_CPUS).length).toBeLessThan(0xe0000 - MP_TABLE_ADDR); // below the ACPI tables
  });
});
