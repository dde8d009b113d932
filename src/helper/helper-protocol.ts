// The frontend ↔ helper contract. The frontend opens every file with the
// user's rights and hands the helper file descriptors at fixed positions; the
// two talk in JSON messages over Node's IPC channel (a unix socketpair).
import type { ExitStatsReport } from '../kvm/exit-stats.js';
import type { VmExit } from '../kvm/vm-exit.js';
import type { MachineDefinition } from '../machine/machine-definition.js';

/** Descriptor numbers in the helper. 0: console input pipe, 1: console output, 2: logs. */
export const HELPER_FD = {
  consoleIn: 0,
  consoleOut: 1,
  log: 2,
  ipc: 3,
  kvm: 4,
  kernel: 5,
  /** -1 in the config when there is no initrd. */
  initrd: 6,
} as const;

export interface HelperConfig {
  machine: MachineDefinition;
  memorySize: number;
  cpuTemplate?: string;
  coalesced: boolean;
  /** 'linux': kernel fd holds a bzImage or vmlinux; 'real-mode': a flat test payload. */
  bootKind: 'linux' | 'real-mode';
  cmdline: string;
  hasInitrd: boolean;
  logLevel: string;
  /** Jail the helper before the guest runs (default). */
  sandbox: boolean;
  seccomp: 'enforce' | 'log' | 'off';
}

export type FrontendMessage =
  | { type: 'start'; config: HelperConfig }
  | { type: 'stop' }
  | { type: 'status' };

export type HelperMessage =
  | { type: 'running' }
  | { type: 'status'; state: 'booting' | 'running' | 'stopping' }
  | { type: 'exit'; exit: VmExit; stats: ExitStatsReport }
  /** The helper could not start the VM (bad kernel, KVM refused, jail failed). */
  | { type: 'failed'; error: { name: string; message: string } };
