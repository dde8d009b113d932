// Starts the device models the device plan puts in their own jailed
// processes (machine devices with `process: separate`, disks with
// `process=separate`). Each gets the descriptors the plan names for it,
// already created by the frontend (device-handover.ts): one end of its
// region socket (the helper's exit loop forwards the region's accesses over
// the other), and for a virtio device guest RAM (a memfd the helper maps
// too), its files and two eventfds the helper registers with KVM (doorbell →
// ioeventfd, interrupt → irqfd).
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Socket } from 'node:net';
import type { DeviceProcessConfig, FromDeviceProcess, ToDeviceProcess } from '../device-process/device-process-protocol.js';
import type { Logger } from '../log.js';
import type { DevicePlan, PlannedDevice } from '../machine/device-plan.js';
import type { RamLayout } from '../memory/guest-memory.js';
import { entryPointScript } from '../entry-points.js';
import { markInheritedFdsCloseOnExec } from '../sandbox/close-on-exec.js';
import { buildJailLaunch, pickEnvironment } from '../sandbox/jail-launch.js';
import { MEASUREMENT_KNOBS, deviceProcessNodeArgs } from './helper-launch.js';
import type { DeviceHandover } from './device-handover.js';


export class DeviceProcessError extends Error {
  override name = 'DeviceProcessError';
}

export interface DeviceProcessOptions {
  sandbox: boolean;
  seccomp: DeviceProcessConfig['seccomp'];
  logLevel: string;
  log: NodeJS.WritableStream;
  prettyLogs: boolean;
}

export interface DeviceProcessSet {
  /** Ends them (when the VM ended, or could not start); tsvmm can then exit. */
  killAll(): void;
}

/** Whether the plan puts any device in a process of its own. */
export function hasDeviceProcesses(plan: DevicePlan): boolean {
  return plan.devices.some((d) => d.host === 'device-process');
}

/**
 * Starts a process for every device the plan hosts in one, all at once (each
 * is a Node start-up); on failure, every one that started is killed.
 */
export async function startDeviceProcesses(plan: DevicePlan, handover: DeviceHandover, ram: RamLayout[], options: DeviceProcessOptions, log: Logger): Promise<DeviceProcessSet> {
  const starting = plan.devices.filter((d) => d.host === 'device-process').map((device) => startOne(device, handover.forDeviceProcess(device.name), ram, options, log));
  const settled = await Promise.allSettled(starting);
  const children = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    children.forEach((c) => c.kill('SIGKILL'));
    throw failed.reason;
  }
  return {
    killAll: () =>
      children.forEach((c) => {
        c.removeAllListeners('exit');
        c.kill('SIGTERM');
        // Their IPC channels and pipes must not keep the frontend alive: after
        // a start-up error nothing else would ever end them.
        c.unref();
        c.channel?.unref();
        (c.stderr as Socket | null)?.unref();
      }),
  };
}

async function startOne(device: PlannedDevice, fds: Readonly<Record<string, number>>, ram: RamLayout[], options: DeviceProcessOptions, log: Logger): Promise<ChildProcess> {
  // Nothing of the user's environment (jail-launch.ts): the device process reads only these.
  const env: NodeJS.ProcessEnv = { TSVMM_LOG_PRETTY: options.prettyLogs ? '1' : '0', ...pickEnvironment(MEASUREMENT_KNOBS) };
  const script = entryPointScript('device-process');
  const nodeArgs = deviceProcessNodeArgs();
  const launch = buildJailLaunch({ script, nodeArgs, fds, stdio: ['ignore', 'ignore', 'pipe'], extraStdio: ['ipc'], env });
  const [command, args] = options.sandbox ? [launch.command, launch.args] : [process.execPath, [...nodeArgs, script]];
  // Descriptors the frontend inherited must not follow (jail-launch.ts).
  const marked = markInheritedFdsCloseOnExec();
  if (marked.length) log.debug({ fds: marked }, 'inherited descriptors kept from the device process');
  const child = spawn(command, args, { stdio: launch.stdio as StdioOptions, env: launch.env });
  child.stderr!.pipe(options.log, { end: false });
  const config: DeviceProcessConfig = { device, ram: device.virtio ? ram : [], logLevel: options.logLevel, sandbox: options.sandbox, seccomp: options.seccomp };
  const hostPid = await new Promise<number>((resolve, reject) => {
    child.on('message', (m: FromDeviceProcess) => {
      if (m.type === 'serving') resolve(m.hostPid);
      else reject(new DeviceProcessError(`the ${device.name} device process failed to start: ${m.error}`));
    });
    child.on('exit', (code, signal) => reject(new DeviceProcessError(`the ${device.name} device process exited while starting (${signal ?? `code ${code}`})`)));
    child.send({ type: 'start', config } satisfies ToDeviceProcess);
  });
  child.removeAllListeners('exit');
  child.on('exit', (code, signal) => {
    // Code 0 is its answer to the region closing: the helper (and the VM) ended
    // first, a race with killAll that is no failure of the device.
    if (code === 0) log.debug({ device: device.name }, `the ${device.name} device process ended with its VM`);
    else log.error({ device: device.name, code, signal }, `the ${device.name} device process died (${signal ?? `code ${code}`}); the guest now sees that device fail`);
  });
  log.info({ device: device.name, pid: hostPid, sandbox: options.sandbox }, 'device model runs in its own process (ioregionfd protocol)');
  return child;
}
