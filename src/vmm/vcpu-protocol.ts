// What the VMM's main thread and a vCPU worker exchange. Everything here is
// structured-clone data: fds and raw addresses as numbers, SharedArrayBuffers
// for the few things both threads touch while the guest runs.
import type { PlannedDevice } from '../machine/device-plan.js';
import type { ExitStatsReport } from '../kvm/exit-stats.js';
import type { VmExit } from '../kvm/vm-exit.js';
import type { ForwardedRegion } from './forwarded-region.js';

export interface VcpuWorkerData {
  /** Which vCPU (0 = the boot CPU); the thread is named after it (VCPU_THREAD_NAME). */
  index: number;
  vcpuFd: number;
  vmFd: number;
  runAddress: number;
  runSize: number;
  /** Page index of the coalesced ring inside the vCPU mapping; 0 when absent or another thread consumes it. */
  coalescedRingPage: number;
  memory: { gpa: number; size: number; hostAddress: number }[];
  /** The plan's devices this thread serves (host 'vcpu-thread'; none with several vCPUs). */
  devices: PlannedDevice[];
  /** Regions served elsewhere (main thread, device processes): forwarded over their sockets. */
  forwardedRegions: ForwardedRegion[];
  /** Where console output goes. */
  consoleFd: number;
  /** Console bytes wait for the thread's next interruption, its ring sweep at the latest (console-output.ts); false: written at every exit. */
  consoleHeld: boolean;
  /** Int32Array: [CONTROL_COMMAND, CONTROL_TID, CONTROL_GO]. */
  control: SharedArrayBuffer;
  /** InputRing buffer for console input. */
  input: SharedArrayBuffer;
}

/** The first message a vCPU thread gets (vcpu-threads.ts): it may have started before its vCPU existed. */
export interface VcpuStart {
  type: 'start';
  data: VcpuWorkerData;
}

/** What `ps -L` shows for vCPU `index`'s thread (QEMU's say "CPU 0/KVM"); benchmarks tell the guest's CPU time from the VMM's by it. */
export const VCPU_THREAD_NAME = (index: number): string => `vcpu${index}`;

export const CONTROL_COMMAND = 0;
export const CONTROL_TID = 1;
/** 0 until the VMM lets the guest run (the helper jails itself in between). */
export const CONTROL_GO = 2;
/** Bytes of the control buffer. */
export const CONTROL_BYTES = 12;
export const COMMAND_NONE = 0;
export const COMMAND_STOP = 1;
/** Stay out of the guest until the command goes back to COMMAND_NONE. */
export const COMMAND_PAUSE = 2;

/** When the thread's start reached each step (epoch ms: startup-marks.ts epochNow), for the helper's start-up marks. */
export interface VcpuStartMarks {
  /** Its code loaded (the bundle run to its end). */
  codeLoaded: number;
  /** Given its vCPU. */
  started: number;
  /** Its devices and exit loop built, about to say 'ready'. */
  ready: number;
}

export type VcpuMessage =
  | { type: 'ready'; tid: number; startMarks: VcpuStartMarks }
  /** A device served elsewhere stopped answering; its region now fails. */
  | { type: 'device-failed'; device: string; why: string }
  /** The vCPU is out of the guest (pause) or back in it (resume). */
  | { type: 'paused'; paused: boolean }
  | { type: 'exit'; exit: VmExit; stats: ExitStatsReport }
  | { type: 'fatal'; message: string };
