// The frontend ↔ device-process contract. The device process gets its fds by
// name (src/sandbox TSVMM_HELPER_FDS) and its configuration in one IPC
// message; it answers 'serving' once jailed.
import type { DiskSpec } from '../block/disk-spec.js';
import type { RamLayout } from '../memory/guest-memory.js';

/** Named fds: always the region socket; a virtio-blk disk also gets guest RAM, its eventfds and its image. */
export const DEVICE_FD = { region: 'region', ram: 'ram', notify: 'notify', irq: 'irq', disk: 'disk' } as const;

export type DeviceModelConfig =
  | { kind: 'test-device' }
  /** `ram`: the guest RAM layout, mapped from the shared memfd exactly as the VMM maps it. */
  | { kind: 'virtio-blk'; spec: DiskSpec; ram: RamLayout[] };

export interface DeviceProcessConfig {
  name: string;
  model: DeviceModelConfig;
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
