// Starts the machine's `process: separate` device models, each in its own
// jailed process with one end of a SOCK_SEQPACKET socketpair; the other end
// goes to the helper, whose exit loop forwards the region's accesses over it.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync } from 'node:fs';
import { join } from 'node:path';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_SEQPACKET, check, socketpair } from '../../ffi/libc.js';
import type { DeviceProcessConfig, FromDeviceProcess, ToDeviceProcess } from '../device-process/device-process-protocol.js';
import { REGION_FD_NAME } from '../device-process/device-process-protocol.js';
import type { Logger } from '../log.js';
import type { DeviceDefinition, MachineDefinition } from '../machine/machine-definition.js';
import { PROJECT_ROOT } from '../project-root.js';
import { buildJailLaunch } from '../sandbox/jail-launch.js';
import { deviceRegion } from '../devices/device-region.js';
import { regionFdName } from '../helper/helper-protocol.js';

export const DEVICE_PROCESS_MAIN = join(PROJECT_ROOT, 'dist', 'src', 'device-process', 'main.js');

export class DeviceProcessError extends Error {
  override name = 'DeviceProcessError';
}

export interface RunningDeviceProcess {
  device: string;
  child: ChildProcess;
  hostPid: number;
}

function regionSize(d: DeviceDefinition): number {
  const region = deviceRegion(d);
  if (!region) throw new DeviceProcessError(`${d.name}: a ${d.type} cannot run in a separate process yet`);
  return region.size;
}

export interface DeviceProcessSet {
  processes: RunningDeviceProcess[];
  /** Named fds for the helper: the VMM ends of the region sockets. */
  helperFds: Record<string, number>;
  /** Closes the frontend's copies of the helper's ends (after the helper has them). */
  releaseHelperFds(): void;
  killAll(): void;
}

export async function startDeviceProcesses(
  machine: MachineDefinition,
  options: { sandbox: boolean; seccomp: DeviceProcessConfig['seccomp']; logLevel: string; log: NodeJS.WritableStream; prettyLogs: boolean },
  log: Logger,
): Promise<DeviceProcessSet> {
  const processes: RunningDeviceProcess[] = [];
  const helperFds: Record<string, number> = {};
  const separate = machine.devices.filter((d) => 'process' in d && d.process === 'separate');
  try {
    for (const device of separate) {
      const pair = new Int32Array(2);
      check(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) as number, 'socketpair');
      const [vmmEnd, deviceEnd] = [pair[0], pair[1]];
      helperFds[regionFdName(device.name)] = vmmEnd;
      const launch = buildJailLaunch({ script: DEVICE_PROCESS_MAIN, fds: { [REGION_FD_NAME]: deviceEnd }, stdio: ['ignore', 'ignore', 'pipe'], extraStdio: ['ipc'] });
      const [command, args] = options.sandbox ? [launch.command, launch.args] : [process.execPath, [DEVICE_PROCESS_MAIN]];
      const child = spawn(command, args, { stdio: launch.stdio as StdioOptions, env: { ...launch.env, TSVMM_LOG_PRETTY: options.prettyLogs ? '1' : '0' } });
      closeSync(deviceEnd);
      child.stderr!.pipe(options.log, { end: false });
      const config: DeviceProcessConfig = { device, regionSize: regionSize(device), logLevel: options.logLevel, sandbox: options.sandbox, seccomp: options.seccomp };
      const hostPid = await new Promise<number>((resolve, reject) => {
        child.on('message', (m: FromDeviceProcess) => {
          if (m.type === 'serving') resolve(m.hostPid);
          else reject(new DeviceProcessError(`the ${device.name} device process failed to start: ${m.error}`));
        });
        child.on('exit', (code, signal) => reject(new DeviceProcessError(`the ${device.name} device process exited while starting (${signal ?? `code ${code}`})`)));
        child.send({ type: 'start', config } satisfies ToDeviceProcess);
      });
      child.removeAllListeners('exit');
      child.on('exit', (code, signal) =>
        log.error({ device: device.name, code, signal }, `the ${device.name} device process died (${signal ?? `code ${code}`}); the guest now sees that device fail`),
      );
      processes.push({ device: device.name, child, hostPid });
      log.info({ device: device.name, pid: hostPid, sandbox: options.sandbox }, 'device model runs in its own process (ioregionfd protocol)');
    }
  } catch (e) {
    processes.forEach((p) => p.child.kill('SIGKILL'));
    Object.values(helperFds).forEach((fd) => closeSync(fd));
    throw e;
  }
  return {
    processes,
    helperFds,
    releaseHelperFds: () => Object.values(helperFds).forEach((fd) => closeSync(fd)),
    killAll: () =>
      processes.forEach((p) => {
        p.child.removeAllListeners('exit');
        p.child.kill('SIGTERM');
      }),
  };
}
