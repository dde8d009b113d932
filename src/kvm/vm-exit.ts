// How a VM ended, as the exit loop reports it to the VMM and the CLI.

export type VmExitKind =
  /** The guest wrote its status to the exit device. */
  | 'guest-status'
  /** The guest asked for a reset (i8042, triple fault, reboot) — tsvmm has nothing to reboot into. */
  | 'reset'
  /** The guest powered off (KVM system event). */
  | 'poweroff'
  /** The VMM was asked to stop (signal, control channel). */
  | 'stopped'
  /** Nobody reads the guest's console any more (tsvmm's stdout was closed): ended as SIGPIPE ends a program. */
  | 'output-closed'
  /** KVM could not run the guest: internal error, failed entry, unknown exit. */
  | 'error';

export interface VmExit {
  kind: VmExitKind;
  /** Process exit status for the CLI. */
  status: number;
  message: string;
}

/** Exit statuses for endings that are not the guest's own status byte. */
export const EXIT_STATUS = {
  poweroff: 0,
  reset: 1,
  stopped: 130,
  /** A shell's status for a program killed by SIGPIPE. */
  outputClosed: 128 + 13,
  error: 2,
} as const;
