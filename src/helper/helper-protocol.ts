// The frontend ↔ helper contract. The frontend opens every file with the
// user's rights and hands the helper file descriptors at fixed positions; the
// two talk in JSON messages over Node's IPC channel (a unix socketpair).
import type { ExitStatsReport } from '../kvm/exit-stats.js';
import type { VmExit } from '../kvm/vm-exit.js';
import type { MachineDefinition } from '../machine/machine-definition.js';
import type { DiskSpec } from '../block/disk-spec.js';

/**
 * The helper's fds 0, 1 and 2 are the console input pipe, the console output
 * and the log stream. The VM's files arrive as named fds (src/sandbox's
 * TSVMM_HELPER_FDS): these names.
 */
export const HELPER_FILE = {
  kvm: 'kvm',
  kernel: 'kernel',
  initrd: 'initrd',
  /** Guest RAM as a memfd, when device processes must reach it too. */
  sharedRam: 'ram',
} as const;

/**
 * The named fd of disk `index`: the image, opened and locked by the frontend;
 * for a `process=separate` disk, `<name>.region`, `<name>.notify` and `<name>.irq` instead.
 */
export function diskFdName(index: number): string {
  return `disk.${index}`;
}
export const CONSOLE_OUT_FD = 1;

/** The named fd of a `process: separate` device's region socket. */
export function regionFdName(device: string): string {
  return `region.${device}`;
}

export interface HelperConfig {
  machine: MachineDefinition;
  memorySize: number;
  cpuTemplate?: string;
  coalesced: boolean;
  /** 'linux': kernel fd holds a bzImage or vmlinux; 'real-mode': a flat test payload. */
  bootKind: 'linux' | 'real-mode';
  cmdline: string;
  hasInitrd: boolean;
  /** virtio-blk disks in slot order; disk i arrives as fd diskFdName(i). */
  disks: DiskSpec[];
  /** Guest RAM comes as the memfd HELPER_FILE.sharedRam (device processes map it too). */
  sharedRam: boolean;
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
