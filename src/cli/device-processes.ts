// Starts the device models the device plan puts in their own jailed
// processes (machine devices with `process: separate`, disks with
// `process=separate`, shares), one process per name the plan gives them
// (usually one device each; `tsvmm exec`'s two shares share one). Each
// process may have been started before the plan was known (early-start.ts;
// process-launch.ts), and gets the descriptors the plan names for its
// devices over its descriptor socket, already created by the frontend
// (device-handover.ts): for each device one end of its region socket (the
// helper's exit loop forwards the region's accesses over the other), and for
// a virtio device guest RAM (a memfd the helper maps too), its files and the
// eventfds the helper registers with KVM (doorbells → ioeventfds, interrupt
// → irqfd).
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { DeviceProcessConfig, FromDeviceProcess, ToDeviceProcess } from '../device-process/device-process-protocol.js';
import type { Logger } from '../log.js';
import type { DevicePlan, PlannedDevice } from '../machine/device-plan.js';
import type { RamLayout } from '../memory/guest-memory.js';
import { markInheritedFdsCloseOnExec } from '../sandbox/close-on-exec.js';
import { markStartup } from '../startup-marks.js';
import { handDescriptors } from './hand-descriptors.js';
import { launchDeviceProcess, type ProcessLaunch } from './process-launch.js';
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
  /** How long one may take to serve once given its work (DEVICE_PROCESS_START_TIMEOUT_MS). */
  startTimeoutMs?: number;
}

/**
 * A device process serves within seconds, even in a nested L1; one that
 * has not after this is stuck, and the VM ends with an error instead of
 * waiting for it (the guest, already running, would wait as long for its
 * first answer: bus/ioregion-client.ts).
 */
export const DEVICE_PROCESS_START_TIMEOUT_MS = 60_000;

export interface DeviceProcessSet {
  /** Ends them (when the VM ended, or could not start); tsvmm can then exit. */
  killAll(): void;
}

/** The plan's device processes: each one's name and the devices it serves, in plan order. */
export function deviceProcessGroups(plan: DevicePlan): { name: string; devices: PlannedDevice[] }[] {
  const groups = new Map<string, PlannedDevice[]>();
  for (const d of plan.devices) {
    if (d.host !== 'device-process') continue;
    const name = d.process ?? d.name;
    groups.set(name, [...(groups.get(name) ?? []), d]);
  }
  return [...groups].map(([name, devices]) => ({ name, devices }));
}

/**
 * Spawns a process for each of the plan's device processes, as soon as the
 * plan is known and before their descriptors exist (each is a Node start-up
 * that needs nothing of the VM yet), taking those in `early` first and
 * ending the rest of them. Spawned here, the ~60-90 ms a spawn takes this
 * thread in a nested L1 come before the launcher's helper has connected
 * (usually), not while it waits for its VM.
 */
export function launchDeviceProcesses(plan: DevicePlan, sandbox: boolean, log: Logger, early: ProcessLaunch[] = []): ProcessLaunch[] {
  const launches = deviceProcessGroups(plan).map(() => early.shift() ?? launchDeviceProcess(sandbox, markInherited(log)));
  early.forEach((unused) => unused.discard());
  markStartup('deviceProcessesSpawned');
  return launches;
}

/**
 * Gives each of the plan's device processes (`launches`, one per group from
 * launchDeviceProcesses) its descriptors and configuration, all at once, and
 * resolves when they all serve; on failure, every one is killed.
 */
export async function startDeviceProcesses(
  plan: DevicePlan,
  handover: DeviceHandover,
  ram: RamLayout[],
  options: DeviceProcessOptions,
  log: Logger,
  launches: ProcessLaunch[],
): Promise<DeviceProcessSet> {
  const groups = deviceProcessGroups(plan);
  if (launches.length !== groups.length) throw new Error(`${groups.length} device processes planned, ${launches.length} launched`);
  const starting = groups.map((group, i) => {
    const fds = Object.assign({}, ...group.devices.map((d) => handover.forDeviceProcess(d.name))) as Record<string, number>;
    return startOne(launches[i], group.name, group.devices, fds, ram, options, log);
  });
  const settled = await Promise.allSettled(starting);
  const children = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    launches.forEach((l) => l.child.kill('SIGKILL'));
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

/** Descriptors the frontend inherited must not follow (jail-launch.ts). */
function markInherited(log: Logger): readonly number[] {
  const marked = markInheritedFdsCloseOnExec();
  if (marked.length) log.debug({ fds: marked }, 'inherited descriptors kept from the device process');
  return marked;
}

async function startOne(
  launch: ProcessLaunch,
  name: string,
  devices: PlannedDevice[],
  fds: Readonly<Record<string, number>>,
  ram: RamLayout[],
  options: DeviceProcessOptions,
  log: Logger,
): Promise<ChildProcess> {
  const what = `the ${name} device process`;
  const child = launch.child;
  child.stderr!.pipe(options.log, { end: false });
  // Seen even when it ended before this (an early start that died loading).
  const ended = launch.ended.then(({ code, signal, spawnError }): never => {
    throw new DeviceProcessError(spawnError ? `cannot start ${what}: ${spawnError.message}` : `${what} exited while starting (${signal ?? `code ${code}`})`);
  });
  ended.catch(() => {}); // awaited only while it starts: a later end is reported below
  const config: DeviceProcessConfig = {
    name,
    devices,
    descriptors: Object.keys(fds),
    ram: devices.some((d) => d.virtio) ? ram : [],
    logLevel: options.logLevel,
    prettyLogs: options.prettyLogs,
    sandbox: options.sandbox,
    seccomp: options.seccomp,
  };
  const serving = new Promise<number>((resolve, reject) => {
    child.on('message', (m: FromDeviceProcess) => {
      if (m.type === 'serving') resolve(m.hostPid);
      else reject(new DeviceProcessError(`${what} failed to start: ${m.error}`));
    });
  });
  let handedOver = true;
  try {
    handDescriptors(launch, Object.values(fds), what);
  } catch (e) {
    log.debug({ err: (e as Error).message }, `${what} could not be handed its descriptors`);
    handedOver = false;
  }
  launch.adopt();
  if (!handedOver) return await ended; // how it ended says why
  child.send({ type: 'start', config } satisfies ToDeviceProcess);
  const timeoutMs = options.startTimeoutMs ?? DEVICE_PROCESS_START_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeviceProcessError(`${what} did not serve within ${timeoutMs / 1000} s of being given its work`)), timeoutMs);
  });
  const hostPid = await Promise.race([serving, ended, stuck]).finally(() => clearTimeout(timer));
  child.on('exit', (code, signal) => {
    // Code 0 is its answer to the region closing: the helper (and the VM) ended
    // first, a race with killAll that is no failure of the device.
    if (code === 0) log.debug({ device: name }, `${what} ended with its VM`);
    else log.error({ device: name, code, signal }, `${what} died (${signal ?? `code ${code}`}); the guest now sees ${devices.length > 1 ? 'those devices' : 'that device'} fail`);
  });
  log.info({ device: name, pid: hostPid, sandbox: options.sandbox }, `device model${devices.length > 1 ? 's run in their' : ' runs in its'} own process (ioregionfd protocol)`);
  return child;
}
