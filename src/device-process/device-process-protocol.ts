// The frontend ↔ device-process contract. The device process gets its region
// socket as the named fd "region" (src/sandbox TSVMM_HELPER_FDS) and its
// configuration in one IPC message; it answers 'serving' once jailed.
import type { DeviceDefinition } from '../machine/machine-definition.js';

export const REGION_FD_NAME = 'region';

export interface DeviceProcessConfig {
  device: DeviceDefinition;
  /** The region's size in bytes (the server bounds every offset by it). */
  regionSize: number;
  logLevel: string;
  sandbox: boolean;
  seccomp: 'enforce' | 'log' | 'off';
}

export type ToDeviceProcess = { type: 'start'; config: DeviceProcessConfig };

export type FromDeviceProcess =
  | { type: 'serving'; hostPid: number }
  | { type: 'failed'; error: string };
