import { describe, expect, it } from 'vitest';
import { CpuidTable } from '../../src/kvm/cpuid-table.js';
import { applyTopology, coreIdBits } from '../../src/kvm/cpu-topology.js';

/** A host's view (an 8-core, 16-thread AMD package), which must not leak into the guest's. */
function hostTable(): CpuidTable {
  return new CpuidTable([
    { function: 1, index: 0, flags: 0, eax: 0x830f10, ebx: 0x05100800, ecx: 0xfed83203, edx: 0x178bfbff },
    { function: 4, index: 0, flags: 1, eax: 0x1c004121, ebx: 0, ecx: 0, edx: 0 }, // L1d: 8 cores, 2 threads share it
    { function: 4, index: 3, flags: 1, eax: 0x1c03c163, ebx: 0, ecx: 0, edx: 0 }, // L3: 16 threads share it
    { function: 0xb, index: 0, flags: 1, eax: 1, ebx: 2, ecx: 0x100, edx: 5 },
    { function: 0xb, index: 1, flags: 1, eax: 4, ebx: 16, ecx: 0x201, edx: 5 },
    { function: 0xb, index: 2, flags: 1, eax: 0, ebx: 0, ecx: 2, edx: 5 },
    { function: 0x8000_0001, index: 0, flags: 0, eax: 0, ebx: 0, ecx: 0x75c237ff, edx: 0 },
    { function: 0x8000_0008, index: 0, flags: 0, eax: 0x3030, ebx: 0, ecx: 0x400f, edx: 0 },
    { function: 0x8000_001e, index: 0, flags: 0, eax: 5, ebx: 0x102, ecx: 0, edx: 0 },
  ]);
}

describe('vCPU topology in CPUID', () => {
  it('numbers cores in the fewest APIC ID bits', () => {
    expect([1, 2, 3, 4, 5, 8, 9, 255].map(coreIdBits)).toEqual([0, 1, 2, 2, 3, 3, 4, 8]);
  });

  it('one vCPU: APIC ID 0, one logical processor, no HTT / CmpLegacy', () => {
    const t = hostTable();
    applyTopology(t, { index: 0, count: 1 });
    const leaf1 = t.find(1, 0)!;
    expect(leaf1.ebx >>> 24).toBe(0);
    expect((leaf1.ebx >>> 16) & 0xff).toBe(1);
    expect(leaf1.ebx & 0xffff).toBe(0x0800); // CLFLUSH size etc. kept
    expect((leaf1.edx >>> 28) & 1).toBe(0);
    expect((t.find(0x8000_0001)!.ecx >>> 1) & 1).toBe(0);
    expect(t.find(0x8000_0008)!.ecx & 0xf0ff).toBe(0);
    expect([t.find(0xb, 0)!.ebx, t.find(0xb, 1)!.ebx, t.find(0xb, 1)!.eax]).toEqual([1, 1, 0]);
  });

  it('vCPU 2 of 3: its own APIC ID everywhere, one package of 3 single-thread cores', () => {
    const t = hostTable();
    applyTopology(t, { index: 2, count: 3 });
    const leaf1 = t.find(1, 0)!;
    expect(leaf1.ebx >>> 24).toBe(2);
    expect((leaf1.ebx >>> 16) & 0xff).toBe(4); // addressable IDs: 2 bits
    expect((leaf1.edx >>> 28) & 1).toBe(1);
    for (const i of [0, 1, 2]) expect(t.find(0xb, i)!.edx).toBe(2);
    expect(t.find(0xb, 0)).toMatchObject({ eax: 0, ebx: 1, ecx: 0x100 }); // SMT: one thread
    expect(t.find(0xb, 1)).toMatchObject({ eax: 2, ebx: 3, ecx: 0x201 }); // cores: 3, IDs shifted by 2
    expect(t.find(0xb, 2)).toMatchObject({ eax: 0, ebx: 0, ecx: 2 }); // the end of the levels
    expect(t.find(4, 0)!.eax >>> 26).toBe(3); // cores per package - 1 (power-of-two IDs)
    expect((t.find(4, 0)!.eax >>> 14) & 0xfff).toBe(0); // L1 is a core's own
    expect((t.find(4, 3)!.eax >>> 14) & 0xfff).toBe(3); // L3 is the package's
    expect(t.find(4, 0)!.eax & 0x3fff).toBe(0x0121); // the cache description kept
    expect((t.find(0x8000_0001)!.ecx >>> 1) & 1).toBe(1);
    expect(t.find(0x8000_0008)!.ecx & 0xf0ff).toBe((2 << 12) | 2);
    expect(t.find(0x8000_001e)).toMatchObject({ eax: 2, ebx: 2, ecx: 0 });
  });
});
