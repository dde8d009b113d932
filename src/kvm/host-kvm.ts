// Which KVM this host's /dev/kvm is. The two the project runs on differ in
// what a guest may execute (docs/host-kvm.md): kvm_pvm, software-nested KVM
// without SVM/VMX, runs much of the guest through KVM's instruction emulator,
// which faults on many instructions; kvm_amd/kvm_intel run the guest on the
// processor. The frontend asks before the jail (it reads /proc and /sys).
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';

export type HostKvmKind = 'kvm_pvm' | 'kvm_amd' | 'kvm_intel' | 'unknown';

/** Why this user cannot use /dev/kvm here, or undefined when it can. */
export function kvmDeviceProblem(path = '/dev/kvm'): string | undefined {
  if (!existsSync(path)) return `there is no ${path} on this machine`;
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return undefined;
  } catch {
    return `${path} is not readable and writable by this user`;
  }
}

/** This host's /proc/cpuinfo ('' where there is none). */
export function hostCpuinfo(): string {
  return readOrEmpty('/proc/cpuinfo');
}

export function detectHostKvm(cpuinfo = hostCpuinfo(), moduleLoaded = (name: string) => existsSync(`/sys/module/${name}`)): HostKvmKind {
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '').trim().split(/\s+/));
  // A processor with SVM/VMX has hardware KVM; kvm_pvm serves hosts that have neither.
  if (flags.has('svm') && moduleLoaded('kvm_amd')) return 'kvm_amd';
  if (flags.has('vmx') && moduleLoaded('kvm_intel')) return 'kvm_intel';
  if (moduleLoaded('kvm_pvm')) return 'kvm_pvm';
  return 'unknown';
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
