// QEMU as the benchmarks' reference VMM (docs/architecture.md, "Tests and
// benchmarks"): microvm as the project's first measurements ran it,
// one vCPU, 256 MiB, serial on stdio and isa-debug-exit at our exit device's
// port, the default guest's vmlinux (PVH) and initrd. Every comparison runs
// it this way so that only what a benchmark adds differs.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { GuestManifest } from '../../src/cli/default-guest.js';
import { templateForHost } from '../../src/kvm/cpu-template.js';
import { detectHostKvm } from '../../src/kvm/host-kvm.js';
import { timedRun } from './process-timing.js';

export const QEMU = 'qemu-system-x86_64';
/** `-M` value; a benchmark may append options (`,acpi=off`). */
export const QEMU_MICROVM = 'microvm,x-option-roms=off,rtc=off,pit=on,pic=on,isa-serial=on';

export function qemuAvailable(): boolean {
  try {
    execFileSync(QEMU, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Everything but `-M`, the guest (`-kernel`, `-initrd`) and `-append`. */
export function qemuVmArgs(cpus = 1): string[] {
  return [
    '-enable-kvm', '-cpu', 'host,-arch-capabilities', '-m', '256M', '-smp', String(cpus),
    // Its vCPU threads named "CPU n/KVM", which vmm-cpu.ts tells from the VMM's own.
    '-name', 'qemu,debug-threads=on',
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot', '-serial', 'stdio',
    '-device', 'isa-debug-exit,iobase=0x501,iosize=1',
  ];
}

/** Everything but `-M` and `-append`. */
export function qemuGuestArgs(guest: GuestManifest, cpus = 1): string[] {
  return [...qemuVmArgs(cpus), '-kernel', guest.vmlinux, '-initrd', guest.initrd];
}

/** tsvmm gives the default guest a boot seed (src/cli/run-command.ts); QEMU gets one too, for a fair race. */
export function bootSeedWord(): string {
  return `tsvmm.seed=${randomBytes(32).toString('hex')}`;
}

/** What tsvmm's CPU template adds to a Linux command line on this host's KVM (kvm_pvm needs it whatever the VMM). */
export function hostKernelWords(): string {
  return templateForHost(detectHostKvm()).cmdline.join(' ');
}

/** The words tsvmm would add to the default guest's command line: the same race for QEMU. */
export function qemuKernelWords(): string {
  return [hostKernelWords(), bootSeedWord()].filter(Boolean).join(' ');
}

const virtioWords = new Map<string, string>();

/**
 * The `virtio_mmio.device=` words QEMU's microvm gives the kernel for these
 * arguments (`qemuGuestArgs` plus devices). With auto-kernel-cmdline it
 * appends them after `--`, to init's command, so a benchmark learns them
 * once with a throw-away boot and places them itself.
 */
export async function qemuVirtioWords(guest: GuestManifest, args: string[]): Promise<string> {
  const key = args.join('\0');
  const known = virtioWords.get(key);
  if (known !== undefined) return known;
  const r = await timedRun(QEMU, ['-M', `${QEMU_MICROVM},acpi=off,auto-kernel-cmdline=on`, ...args, '-append', `${guest.cmdline} ${hostKernelWords()} -- true`], { timeoutMs: 300_000 });
  const words = /Command line: .*/.exec(r.stdout)?.[0].match(/virtio_mmio\.device=\S+/g);
  if (!words) throw new Error(`QEMU announced no virtio-mmio device:\n${r.stdout.slice(0, 2000)}`);
  virtioWords.set(key, words.join(' '));
  return words.join(' ');
}
