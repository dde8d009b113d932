// The frontend ↔ device-process contract. The device process gets its fds by
// the names the device plan gives them (src/sandbox TSVMM_HELPER_FDS) and its
// configuration in one IPC message; it answers 'serving' once jailed.
import type { PlannedDevice } from '../machine/device-plan.js';
import type { RamLayout } from '../memory/guest-memory.js';

export interface DeviceProcessConfig {
  /** The device as the plan places it: its kind's entry, its window, the names of its descriptors. */
  device: PlannedDevice;
  /** For a device doing DMA: the guest RAM layout, mapped from the shared memfd exactly as the VMM maps it. */
  ram: RamLayout[];
  logLevel: string;
  sandbox: boolean;
  seccomp: 'enforce' | 'log' | 'off';
}

export type ToDeviceProcess = { type: 'start'; config: DeviceProcessConfig };

export type FromDeviceProcess =
  | { type: 'serving'; hostPid: number }
  | { type: 'failed'; error: string };
