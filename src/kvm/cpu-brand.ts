// The processor's name in the guest's CPUID (leaves 0x8000_0002-0x8000_0004:
// 48 bytes of ASCII, NUL-padded), the host's, as QEMU's `-cpu host` and
// Firecracker give it. KVM_GET_SUPPORTED_CPUID reports those leaves as zeros
// (measured in the nested L1), and Linux then names the processor by numbers:
// "AMD 17/31" in its boot log and as /proc/cpuinfo's model name.
import type { CpuidTable } from './cpuid-table.js';

const EXTENDED_MAX_LEAF = 0x8000_0000;
const FIRST_BRAND_LEAF = 0x8000_0002;
const BRAND_LEAVES = 3;
const BRAND_BYTES = 16 * BRAND_LEAVES;

/** The host's processor name: the first "model name" of its /proc/cpuinfo (host-kvm.ts hostCpuinfo); undefined where it has none. */
export function hostCpuBrand(cpuinfo: string): string | undefined {
  const name = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim();
  return name || undefined;
}

/**
 * Puts `brand` in the brand-string leaves: printable ASCII (anything else a
 * '?'), cut to 47 bytes so that a NUL ends it. A table whose highest
 * extended leaf is below them is left as it is.
 */
export function setCpuBrand(cpuid: CpuidTable, brand: string): void {
  if ((cpuid.find(EXTENDED_MAX_LEAF)?.eax ?? 0) < FIRST_BRAND_LEAF + BRAND_LEAVES - 1) return;
  const bytes = Buffer.alloc(BRAND_BYTES);
  bytes.write(brand.replace(/[^\x20-\x7e]/g, '?').slice(0, BRAND_BYTES - 1), 'latin1');
  for (let i = 0; i < BRAND_LEAVES; i++) {
    const fn = FIRST_BRAND_LEAF + i;
    let leaf = cpuid.find(fn);
    if (!leaf) cpuid.entries.push((leaf = { function: fn, index: 0, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: 0 }));
    leaf.eax = bytes.readUInt32LE(16 * i);
    leaf.ebx = bytes.readUInt32LE(16 * i + 4);
    leaf.ecx = bytes.readUInt32LE(16 * i + 8);
    leaf.edx = bytes.readUInt32LE(16 * i + 12);
  }
}
