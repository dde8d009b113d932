// CPU templates: what CPUID the guest sees, derived from what this host's KVM
// supports. `nested-safe` hides every feature the software-nested KVM
// (kvm_pvm) on some of the project's machines cannot emulate (measured:
// docs/host-kvm.md); `host` passes on what a hardware KVM supports. The
// default, `auto`, picks one of the two by probing the host (host-kvm.ts), so
// one binary boots on both.
import type { CpuidRegister, CpuidTable } from './cpuid-table.js';
import type { HostKvmKind } from './host-kvm.js';

export interface FeatureBit {
  name: string;
  fn: number;
  index: number;
  reg: CpuidRegister;
  bit: number;
}

const f = (name: string, fn: number, index: number, reg: CpuidRegister, bit: number): FeatureBit => ({ name, fn, index, reg, bit });

/** Features the kvm_pvm emulator faults on (or that drag in ones that do). */
const NESTED_UNSAFE: FeatureBit[] = [
  f('sse3', 1, 0, 'ecx', 0),
  f('pclmulqdq', 1, 0, 'ecx', 1),
  f('ssse3', 1, 0, 'ecx', 9),
  f('fma', 1, 0, 'ecx', 12),
  f('cx16', 1, 0, 'ecx', 13),
  f('pcid', 1, 0, 'ecx', 17),
  f('sse4_1', 1, 0, 'ecx', 19),
  f('sse4_2', 1, 0, 'ecx', 20),
  f('movbe', 1, 0, 'ecx', 22),
  f('popcnt', 1, 0, 'ecx', 23),
  f('aes', 1, 0, 'ecx', 25),
  f('xsave', 1, 0, 'ecx', 26),
  f('osxsave', 1, 0, 'ecx', 27),
  f('avx', 1, 0, 'ecx', 28),
  f('f16c', 1, 0, 'ecx', 29),
  f('rdrand', 1, 0, 'ecx', 30),
  f('fsgsbase', 7, 0, 'ebx', 0),
  f('avx2', 7, 0, 'ebx', 5),
  f('invpcid', 7, 0, 'ebx', 10),
  f('avx512f', 7, 0, 'ebx', 16),
  f('rdseed', 7, 0, 'ebx', 18),
  f('smap', 7, 0, 'ebx', 20),
  f('clflushopt', 7, 0, 'ebx', 23),
  f('clwb', 7, 0, 'ebx', 24),
  f('sha_ni', 7, 0, 'ebx', 29),
  f('rdpid', 7, 0, 'ecx', 22),
  f('arch_capabilities', 7, 0, 'edx', 29),
];

export interface CpuTemplate {
  readonly name: string;
  readonly description: string;
  /** Linux command-line words that hide what CPUID cannot (the frontend adds them to a Linux guest's). */
  readonly cmdline: readonly string[];
  apply(cpuid: CpuidTable): void;
}

const HYPERVISOR_BIT = 31;

/** What every template does. (APIC IDs and topology are each vCPU's own: cpu-topology.ts.) */
function common(cpuid: CpuidTable): void {
  const leaf1 = cpuid.find(1, 0);
  if (leaf1) leaf1.ecx = (leaf1.ecx | (1 << HYPERVISOR_BIT)) >>> 0;
}

export const CPU_TEMPLATES: Record<string, CpuTemplate> = {
  host: {
    name: 'host',
    description: "everything this host's KVM supports (hardware KVM)",
    cmdline: [],
    apply: (cpuid) => common(cpuid),
  },
  'nested-safe': {
    name: 'nested-safe',
    description: 'hides the features a software-nested KVM (kvm_pvm) cannot emulate',
    // kvm_pvm shows the guest the processor's own CPUID bits for what its KVM
    // does not report, whatever KVM_SET_CPUID2 says: the kernel must be told.
    // Each word is explained in tools/guest/README.md ("Command line"); Linux
    // 6.1 cuts clearcpuid= at 127 characters.
    cmdline: ['noxsave', 'clearcpuid=cx16,popcnt,rdrand,rdseed,invpcid,pcid,rdpid,clflushopt,fsgsbase,smap,erms,fsrm'],
    apply: (cpuid) => {
      common(cpuid);
      for (const b of NESTED_UNSAFE) cpuid.clearBit(b.fn, b.index, b.reg, b.bit);
      cpuid.removeLeaf(0xd); // XSAVE state components: meaningless without XSAVE
    },
  },
};

/** Stands for the template that fits this host's KVM (templateForHost). */
export const AUTO_CPU_TEMPLATE = 'auto';
export const CPU_TEMPLATE_NAMES: readonly string[] = [AUTO_CPU_TEMPLATE, ...Object.keys(CPU_TEMPLATES)];

/** `host` where the processor runs the guest (kvm_amd, kvm_intel); `nested-safe` on kvm_pvm, and where unsure. */
export function templateForHost(kind: HostKvmKind): CpuTemplate {
  return CPU_TEMPLATES[kind === 'kvm_amd' || kind === 'kvm_intel' ? 'host' : 'nested-safe'];
}

/** The template named, with `auto` resolved for `host`. */
export function cpuTemplate(name: string, host?: HostKvmKind): CpuTemplate {
  if (name === AUTO_CPU_TEMPLATE) {
    if (host === undefined) throw new Error('the CPU template "auto" must be resolved before the VM is built');
    return templateForHost(host);
  }
  const t = CPU_TEMPLATES[name];
  if (!t) throw new Error(`unknown CPU template "${name}" (known: ${CPU_TEMPLATE_NAMES.join(', ')})`);
  return t;
}

export const NESTED_UNSAFE_FEATURES: readonly FeatureBit[] = NESTED_UNSAFE;
