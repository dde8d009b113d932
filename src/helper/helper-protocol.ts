// The frontend ↔ helper contract. The frontend opens every file with the
// user's rights and hands the helper the descriptors over a socket
// (SCM_RIGHTS); the two talk in JSON messages over Node's IPC channel (a
// unix socketpair). The helper may be started before its VM is known
// (src/cli/process-launch.ts): everything about the VM comes with 'start'.
import type { ExitStatsReport } from '../kvm/exit-stats.js';
import type { VmExit } from '../kvm/vm-exit.js';
import type { MachineDefinition } from '../machine/machine-definition.js';
import type { DevicePlan } from '../machine/device-plan.js';

/**
 * The helper's fds 0, 1 and 2 are the console input pipe, the console output
 * and the log stream. The VM's files arrive over the descriptor socket, in
 * the order HelperConfig.descriptors names them: these names, plus the
 * descriptors the device plan names for its devices (src/machine/handover-name.ts).
 * `console`, when sent, is tsvmm's own stdout (a pipe, socket or terminal):
 * the helper writes the guest's console there itself instead of into fd 1
 * for the frontend to copy.
 */
export const HELPER_FILE = {
  kvm: 'kvm',
  kernel: 'kernel',
  initrd: 'initrd',
  console: 'console',
} as const;

/** The console output when no `console` descriptor came: a pipe the frontend copies to where the console goes. */
export const CONSOLE_OUT_FD = 1;

export interface HelperConfig {
  /** The names of the descriptors sent over the descriptor socket, in the order they were sent. */
  descriptors: string[];
  /** Format logs for a terminal. */
  prettyLogs: boolean;
  machine: MachineDefinition;
  memorySize: number;
  /** vCPUs (1..MAX_VCPUS, checked by the frontend). */
  cpus: number;
  cpuTemplate?: string;
  /** The host's processor name, for the guest's CPUID (cpu-brand.ts). */
  cpuBrand?: string;
  coalesced: boolean;
  /** 'linux': kernel fd holds a bzImage or vmlinux; 'real-mode': a flat test payload. */
  bootKind: 'linux' | 'real-mode';
  cmdline: string;
  hasInitrd: boolean;
  /** Give a Linux guest ACPI tables (when the machine has an acpi-sleep device). */
  acpi: boolean;
  /** Where every device goes, and the names of the descriptors passed for them (guest RAM too, when plan.sharedRam). */
  plan: DevicePlan;
  /** plan.sharedRam's file gets 2 MiB pages (a tmpfs of its own, not a memfd: memory/shared-ram-file.ts). */
  sharedRamOnHugePages: boolean;
  logLevel: string;
  /** Jail the helper before the guest runs (default). */
  sandbox: boolean;
  seccomp: 'enforce' | 'log' | 'off';
}

export type VmState = 'starting' | 'running' | 'paused' | 'ended';

export type FrontendMessage =
  | { type: 'start'; config: HelperConfig }
  | { type: 'stop' }
  /** Each of these is answered with a 'state' message. */
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'status' };

export type HelperMessage =
  /** Jailed (or not, with --no-sandbox) and about to run the guest; hostPid names it in kernel logs. */
  | { type: 'running'; hostPid: number; sandbox: string }
  | { type: 'state'; state: VmState }
  | { type: 'exit'; exit: VmExit; stats: ExitStatsReport }
  /** The helper could not start the VM (bad kernel, KVM refused, jail failed). */
  | { type: 'failed'; error: { name: string; message: string } };
