// The platform device kinds: the devices served on a vCPU's exits (in the
// vCPU thread with one vCPU, on the main thread with several). A vCPU thread
// builds them from this list alone, so it does not load the virtio devices,
// the block and network backends or the 9p server (catalog.ts has those).
import type { DeviceConfig, PlatformDeviceKind } from './device-kind.js';
import { acpiResetKind } from './kinds/acpi-reset-kind.js';
import { acpiSleepKind } from './kinds/acpi-sleep-kind.js';
import { exitDeviceKind } from './kinds/exit-device-kind.js';
import { i8042Kind } from './kinds/i8042-kind.js';
import { testDeviceKind } from './kinds/test-device-kind.js';
import { uart16550Kind } from './kinds/uart16550-kind.js';

export const PLATFORM_KINDS = [uart16550Kind, exitDeviceKind, i8042Kind, acpiSleepKind, acpiResetKind, testDeviceKind] as const;

export class UnknownDeviceKindError extends Error {
  override name = 'UnknownDeviceKindError';
}

const BY_TYPE: ReadonlyMap<string, PlatformDeviceKind> = new Map(PLATFORM_KINDS.map((k) => [k.type, k as PlatformDeviceKind]));

export function platformKind(config: DeviceConfig): PlatformDeviceKind {
  const kind = BY_TYPE.get(config.type);
  if (!kind) throw new UnknownDeviceKindError(`${config.name}: a ${config.type} is not a platform device`);
  return kind;
}
