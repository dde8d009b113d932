// The frontend ↔ device-process contract. The device process gets its fds
// over its descriptor socket (src/sandbox/received-descriptors.ts), named by
// the device plan, and its configuration in one IPC message; it answers
// 'serving' once jailed.
import type { PlannedDevice } from '../machine/device-plan.js';
import type { RamLayout } from '../memory/guest-memory.js';

export interface DeviceProcessConfig {
  /** The process's name in the plan (its device's, or its devices' joined by "+"). */
  name: string;
  /** The devices it serves, as the plan places them: each kind's entry, window, and the names of its descriptors. */
  devices: PlannedDevice[];
  /** The names of the descriptors sent over the descriptor socket, in the order they were sent. */
  descriptors: string[];
  /** For devices doing DMA: the guest RAM layout, mapped (once) from the shared memfd exactly as the VMM maps it. */
  ram: RamLayout[];
  logLevel: string;
  /** Format logs for a terminal. */
  prettyLogs: boolean;
  sandbox: boolean;
  seccomp: 'enforce' | 'log' | 'off';
}

export type ToDeviceProcess = { type: 'start'; config: DeviceProcessConfig };

export type FromDeviceProcess =
  | { type: 'serving'; hostPid: number }
  | { type: 'failed'; error: string };
