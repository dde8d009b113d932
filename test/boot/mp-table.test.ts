import { describe, expect, it } from 'vitest';
import { buildMpTable, IOAPIC_ADDR, LAPIC_ADDR, MP_TABLE_ADDR } from '../../src/boot/mp-table.js';

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
});
