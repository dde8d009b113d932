import { describe, expect, it } from 'vitest';
import { CpuidTable } from '../../src/kvm/cpuid-table.js';
import { cpuTemplate, NESTED_UNSAFE_FEATURES } from '../../src/kvm/cpu-template.js';
import { detectHostKvm } from '../../src/kvm/host-kvm.js';

function table(): CpuidTable {
  return new CpuidTable([
    { function: 1, index: 0, flags: 0, eax: 0x806f8, ebx: 0xff0800, ecx: 0xffffffff, edx: 0xffffffff },
    { function: 7, index: 0, flags: 1, eax: 0, ebx: 0xffffffff, ecx: 0xffffffff, edx: 0xffffffff },
    { function: 0xd, index: 0, flags: 1, eax: 7, ebx: 0, ecx: 0, edx: 0 },
    { function: 0xd, index: 1, flags: 1, eax: 1, ebx: 0, ecx: 0, edx: 0 },
  ]);
}

describe('CPU templates', () => {
  it('nested-safe hides every listed feature and the XSAVE leaf', () => {
    const t = table();
    cpuTemplate('nested-safe').apply(t);
    for (const f of NESTED_UNSAFE_FEATURES) expect([f.name, (t.find(f.fn, f.index)![f.reg] >>> f.bit) & 1]).toEqual([f.name, 0]);
    expect(t.find(0xd, 0)).toBeUndefined();
    expect(t.find(0xd, 1)).toBeUndefined();
  });

  it('sets the hypervisor bit, keeps the rest', () => {
    const t = table();
    cpuTemplate('host').apply(t);
    const leaf1 = t.find(1, 0)!;
    expect(leaf1.ecx >>> 31).toBe(1);
    expect(leaf1.ebx).toBe(0xff0800);
    expect(t.find(7, 0)!.ebx).toBe(0xffffffff);
  });

  it('encodes as struct kvm_cpuid2', () => {
    const buf = table().encode();
    expect(buf.readUInt32LE(0)).toBe(4);
    expect(buf.length).toBe(8 + 4 * 40);
    expect(buf.readUInt32LE(8 + 40 + 0)).toBe(7);
  });

  it('names the known templates when given an unknown one', () => {
    expect(() => cpuTemplate('pentium')).toThrow(/unknown CPU template "pentium" \(known: auto, host, nested-safe\)/);
  });

  it('auto picks host on hardware KVM and nested-safe (with its command-line words) on kvm_pvm', () => {
    expect(cpuTemplate('auto', 'kvm_amd').name).toBe('host');
    expect(cpuTemplate('auto', 'kvm_intel').name).toBe('host');
    expect(cpuTemplate('auto', 'kvm_pvm').name).toBe('nested-safe');
    expect(cpuTemplate('auto', 'unknown').name).toBe('nested-safe');
    expect(cpuTemplate('auto', 'kvm_pvm').cmdline).toContain('noxsave');
    expect(cpuTemplate('host').cmdline).toEqual([]);
    expect(() => cpuTemplate('auto')).toThrow(/must be resolved/);
  });
});

describe('host KVM detection', () => {
  const cpuinfo = (flags: string) => `processor\t: 0\nflags\t\t: fpu vme ${flags} sse2\n`;
  const modules = (...loaded: string[]) => (name: string) => loaded.includes(name);
  it('tells kvm_pvm (no SVM/VMX) from hardware KVM', () => {
    expect(detectHostKvm(cpuinfo('svm npt'), modules('kvm', 'kvm_amd'))).toBe('kvm_amd');
    expect(detectHostKvm(cpuinfo('vmx ept'), modules('kvm', 'kvm_intel'))).toBe('kvm_intel');
    expect(detectHostKvm(cpuinfo('hypervisor'), modules('kvm', 'kvm_pvm'))).toBe('kvm_pvm');
    // a processor with SVM whose kvm_amd is not loaded: /dev/kvm is someone else's
    expect(detectHostKvm(cpuinfo('svm'), modules('kvm', 'kvm_pvm'))).toBe('kvm_pvm');
    expect(detectHostKvm('', modules())).toBe('unknown');
  });
});
