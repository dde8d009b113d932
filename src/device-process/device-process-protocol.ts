// The frontend ↔ device-process contract. The device process gets its fds
// over its descriptor socket (src/sandbox/received-descriptors.ts), named by
// the device plan, and its configuration in one IPC message; it answers
// 'serving' once jailed.
import type { PlannedDevice } from '../machine/device-plan.js';
import type { RamLayout } from '../memory/guest-memory.js';

export interface DeviceProcessConfig {
  /** The device as the plan places it: its kind's entry, its window, the names of its descriptors. */
  device: PlannedDevice;
  /** The names of the descriptors sent over the descriptor socket, in the order they were sent. */
  descriptors: string[];
  /** For a device doing DMA: the guest RAM layout, mapped from the shared memfd exactly as the VMM maps it. */
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
