// Catalog entry of the exit device (src/devices/exit-device.ts): one port; a
// byte written to it ends the VM with that status.
import { ExitDevice } from '../exit-device.js';
import { onePortKind, type OnePortDefinition } from './one-port-kind.js';

export type ExitDeviceDefinition = OnePortDefinition<'exit-device'>;

export const exitDeviceKind = onePortKind('exit-device', (env) => new ExitDevice((status) => env.guestExited(status)));
