// The host's processor name in the guest's CPUID brand-string leaves
// (src/kvm/cpu-brand.ts), read back the way a guest's CPUID instruction
// returns it: the registers of 0x8000_0002..4 in order, as ASCII up to the
// first NUL.
import { describe, expect, it } from 'vitest';
import { hostCpuBrand, setCpuBrand } from '../../src/kvm/cpu-brand.js';
import { CpuidTable } from '../../src/kvm/cpuid-table.js';

const leaf = (fn: number, eax = 0) => ({ function: fn, index: 0, flags: 0, eax, ebx: 0, ecx: 0, edx: 0 });

/** The table KVM_GET_SUPPORTED_CPUID gives: the brand leaves present and zero. */
const kvmTable = () => new CpuidTable([leaf(1), leaf(0x8000_0000, 0x8000_0021), leaf(0x8000_0002), leaf(0x8000_0003), leaf(0x8000_0004)]);

function brandOf(t: CpuidTable): string {
  const bytes = Buffer.alloc(48);
  for (let i = 0; i < 3; i++) {
    const e = t.find(0x8000_0002 + i)!;
    [e.eax, e.ebx, e.ecx, e.edx].forEach((r, j) => bytes.writeUInt32LE(r >>> 0, 16 * i + 4 * j));
  }
  const end = bytes.indexOf(0);
  return bytes.toString('latin1', 0, end < 0 ? 48 : end);
}

describe('the CPU brand string', () => {
  it("takes the host's first model name from /proc/cpuinfo", () => {
    const cpuinfo = 'processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13 64-Core Processor\n\nprocessor\t: 1\nmodel name\t: other\n';
    expect(hostCpuBrand(cpuinfo)).toBe('AMD EPYC 7B13 64-Core Processor');
    expect(hostCpuBrand('processor\t: 0\n')).toBeUndefined();
    expect(hostCpuBrand('model name\t: \n')).toBeUndefined();
  });

  it('fills the three leaves, which a guest reads back as the name', () => {
    const t = kvmTable();
    setCpuBrand(t, 'AMD EPYC-Rome Processor');
    expect(brandOf(t)).toBe('AMD EPYC-Rome Processor');
    expect(t.find(1)!.eax).toBe(0);
  });

  it('keeps a NUL at the end of a long name, and only printable ASCII', () => {
    const t = kvmTable();
    setCpuBrand(t, `Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz ${'x'.repeat(40)}`);
    expect(brandOf(t)).toHaveLength(47);
    setCpuBrand(t, 'Prozessor “7”\tneu');
    expect(brandOf(t)).toBe('Prozessor ?7??neu');
  });

  it('adds leaves the table lacks, but none past its highest extended leaf', () => {
    const missing = new CpuidTable([leaf(0x8000_0000, 0x8000_0008)]);
    setCpuBrand(missing, 'AMD');
    expect(brandOf(missing)).toBe('AMD');
    const short = new CpuidTable([leaf(0x8000_0000, 0x8000_0001)]);
    setCpuBrand(short, 'AMD');
    expect(short.find(0x8000_0002)).toBeUndefined();
  });
});
