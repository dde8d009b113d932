// What CPUID tells each vCPU about who it is and how many there are: its
// APIC ID (= its index) in every leaf that carries one, and one package of
// `count` cores with one thread each. The guest's scheduler and its APIC
// setup read these; the MP table and the MADT list the same IDs
// (mp-table.ts, acpi/madt.ts). KVM_GET_SUPPORTED_CPUID describes the host's
// topology, which has nothing to do with the guest's, so every topology
// field is written here, never inherited.
import type { CpuidTable } from './cpuid-table.js';

export interface VcpuTopology {
  /** This vCPU: its index, which is also its APIC ID. */
  index: number;
  /** vCPUs in the VM. */
  count: number;
}

/** Bits an APIC ID needs to number `count` cores. */
export function coreIdBits(count: number): number {
  return count <= 1 ? 0 : 32 - Math.clz32(count - 1);
}

const HTT_BIT = 28; // leaf 1 EDX: the package has more than one logical processor
const CMP_LEGACY_BIT = 1; // leaf 0x8000_0001 ECX (AMD): the same, the old way
/** Leaf 0xB / 0x1F level types (ECX[15:8]). */
const LEVEL_SMT = 1;
const LEVEL_CORE = 2;

export function applyTopology(cpuid: CpuidTable, { index, count }: VcpuTopology): void {
  const shift = coreIdBits(count);
  const leaf1 = cpuid.find(1, 0);
  if (leaf1) {
    // EBX[31:24] initial APIC ID, EBX[23:16] addressable logical processors per package.
    leaf1.ebx = ((leaf1.ebx & 0x0000ffff) | (Math.min(1 << shift, 255) << 16) | (index << 24)) >>> 0;
    leaf1.edx = count > 1 ? (leaf1.edx | (1 << HTT_BIT)) >>> 0 : (leaf1.edx & ~(1 << HTT_BIT)) >>> 0;
  }
  // Deterministic cache parameters (Intel): EAX[31:26] = cores per package - 1, EAX[25:14] = threads sharing the cache - 1.
  for (const e of cpuid.entries)
    if (e.function === 4 && (e.eax & 0x1f) !== 0) {
      const level = (e.eax >>> 5) & 0x7;
      const sharing = level >= 3 ? (1 << shift) - 1 : 0; // the last-level cache is the package's, the others a core's
      e.eax = ((e.eax & 0x3fff) | (sharing << 14) | (((1 << shift) - 1) << 26)) >>> 0;
    }
  // Extended topology (0xB, and 0x1F where present): an SMT level of one thread, a core level of `count`.
  for (const fn of [0xb, 0x1f]) {
    for (const e of cpuid.entries) {
      if (e.function !== fn) continue;
      e.edx = index;
      if (e.index === 0) [e.eax, e.ebx, e.ecx] = [0, 1, (LEVEL_SMT << 8) | 0];
      else if (e.index === 1) [e.eax, e.ebx, e.ecx] = [shift, count, (LEVEL_CORE << 8) | 1];
      else [e.eax, e.ebx, e.ecx] = [0, 0, e.index];
    }
  }
  const ext1 = cpuid.find(0x8000_0001, 0);
  if (ext1) ext1.ecx = count > 1 ? (ext1.ecx | (1 << CMP_LEGACY_BIT)) >>> 0 : (ext1.ecx & ~(1 << CMP_LEGACY_BIT)) >>> 0;
  // AMD: ECX[7:0] = cores - 1, ECX[15:12] = APIC ID bits for the core number.
  const ext8 = cpuid.find(0x8000_0008, 0);
  if (ext8) ext8.ecx = ((ext8.ecx & ~0xf0ff) | (shift << 12) | (count - 1)) >>> 0;
  // AMD TOPOEXT: extended APIC ID; core ID with one thread per core; node 0 of one.
  const ext1e = cpuid.find(0x8000_001e, 0);
  if (ext1e) [ext1e.eax, ext1e.ebx, ext1e.ecx] = [index, index & 0xff, 0];
}
