// Starts the device models that run in their own jailed processes: machine
// devices with `process: separate`, and disks with `process=separate`. Each
// gets one end of a SOCK_SEQPACKET socketpair (the other goes to the helper,
// whose exit loop forwards the region's accesses over it); a disk also gets
// guest RAM (a memfd the helper maps too), its image and two eventfds the
// helper registers with KVM (doorbell → ioeventfd, interrupt → irqfd).
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { EFD_CLOEXEC, EFD_NONBLOCK, check, eventfd } from '../../ffi/libc.js';
import { createRegionSockets } from '../bus/ioregion-socket.js';
import type { DiskSpec } from '../block/disk-spec.js';
import { deviceRegion } from '../devices/device-region.js';
import { VIRTIO_MMIO_WINDOW } from '../devices/virtio/virtio-mmio.js';
import { DEVICE_FD, type DeviceModelConfig, type DeviceProcessConfig, type FromDeviceProcess, type ToDeviceProcess } from '../device-process/device-process-protocol.js';
import { HELPER_FILE, diskFdName, regionFdName } from '../helper/helper-protocol.js';
import type { Logger } from '../log.js';
import type { MachineDefinition } from '../machine/machine-definition.js';
import { GuestMemory, type RamLayout } from '../memory/guest-memory.js';
import { PROJECT_ROOT } from '../project-root.js';
import { buildJailLaunch, markInheritedFdsCloseOnExec } from '../sandbox/jail-launch.js';
import { diskName } from '../vmm/virtio-disks.js';

export const DEVICE_PROCESS_MAIN = join(PROJECT_ROOT, 'dist', 'src', 'device-process', 'main.js');

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
  /** Named fds for the helper (region sockets, eventfds, shared guest RAM). */
  helperFds: Record<string, number>;
  /** Closes the frontend's copies of everything handed out (once the helper has them). */
  releaseFds(): void;
  /** Ends them (when the VM ended, or could not start); tsvmm can then exit. */
  killAll(): void;
}

/** One device process to start: its config and the fds it gets (by name). */
interface Plan {
  name: string;
  model: DeviceModelConfig;
  regionSize: number;
  fds: Record<string, number>;
}

export async function startDeviceProcesses(
  machine: MachineDefinition,
  disks: readonly { spec: DiskSpec; imageFd: number }[],
  ram: RamLayout[],
  options: DeviceProcessOptions,
  log: Logger,
): Promise<DeviceProcessSet> {
  const handedOut: number[] = [];
  const helperFds: Record<string, number> = {};
  const children: ChildProcess[] = [];
  const pair = () => {
    const { vmmEnd, deviceEnd } = createRegionSockets();
    handedOut.push(vmmEnd, deviceEnd);
    return [vmmEnd, deviceEnd] as const;
  };
  const newEventfd = () => {
    const fd = check(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) as number, 'eventfd');
    handedOut.push(fd);
    return fd;
  };
  const plans: Plan[] = [];
  try {
    for (const device of machine.devices) {
      if (!('process' in device) || device.process !== 'separate') continue;
      const region = deviceRegion(device);
      if (!region) throw new DeviceProcessError(`${device.name}: a ${device.type} cannot run in a separate process`);
      const [vmmEnd, deviceEnd] = pair();
      helperFds[regionFdName(device.name)] = vmmEnd;
      plans.push({ name: device.name, model: { kind: 'test-device' }, regionSize: region.size, fds: { [DEVICE_FD.region]: deviceEnd } });
    }
    let ramFd: number | undefined;
    disks.forEach(({ spec, imageFd }, index) => {
      if (!spec.separateProcess) return;
      if (ramFd === undefined) {
        ramFd = GuestMemory.createSharedRam(ram);
        handedOut.push(ramFd);
        helperFds[HELPER_FILE.sharedRam] = ramFd;
      }
      const [vmmEnd, deviceEnd] = pair();
      const notify = newEventfd();
      const irq = newEventfd();
      Object.assign(helperFds, { [`${diskFdName(index)}.region`]: vmmEnd, [`${diskFdName(index)}.notify`]: notify, [`${diskFdName(index)}.irq`]: irq });
      plans.push({
        name: diskName(index),
        model: { kind: 'virtio-blk', spec, ram },
        regionSize: VIRTIO_MMIO_WINDOW,
        fds: { [DEVICE_FD.region]: deviceEnd, [DEVICE_FD.ram]: ramFd, [DEVICE_FD.notify]: notify, [DEVICE_FD.irq]: irq, [DEVICE_FD.disk]: imageFd },
      });
    });
    for (const plan of plans) children.push(await startOne(plan, options, log));
  } catch (e) {
    children.forEach((c) => c.kill('SIGKILL'));
    handedOut.forEach((fd) => closeSync(fd));
    throw e;
  }
  return {
    helperFds,
    releaseFds: () => handedOut.splice(0).forEach((fd) => closeSync(fd)),
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

async function startOne(plan: Plan, options: DeviceProcessOptions, log: Logger): Promise<ChildProcess> {
  // Nothing of the user's environment (jail-launch.ts): the device process reads only these.
  const env = { TSVMM_LOG_PRETTY: options.prettyLogs ? '1' : '0' };
  const launch = buildJailLaunch({ script: DEVICE_PROCESS_MAIN, fds: plan.fds, stdio: ['ignore', 'ignore', 'pipe'], extraStdio: ['ipc'], env });
  const [command, args] = options.sandbox ? [launch.command, launch.args] : [process.execPath, [DEVICE_PROCESS_MAIN]];
  // Descriptors the frontend inherited must not follow (jail-launch.ts).
  const marked = markInheritedFdsCloseOnExec();
  if (marked.length) log.debug({ fds: marked }, 'inherited descriptors kept from the device process');
  const child = spawn(command, args, { stdio: launch.stdio as StdioOptions, env: launch.env });
  child.stderr!.pipe(options.log, { end: false });
  const config: DeviceProcessConfig = { name: plan.name, model: plan.model, regionSize: plan.regionSize, logLevel: options.logLevel, sandbox: options.sandbox, seccomp: options.seccomp };
  const hostPid = await new Promise<number>((resolve, reject) => {
    child.on('message', (m: FromDeviceProcess) => {
      if (m.type === 'serving') resolve(m.hostPid);
      else reject(new DeviceProcessError(`the ${plan.name} device process failed to start: ${m.error}`));
    });
    child.on('exit', (code, signal) => reject(new DeviceProcessError(`the ${plan.name} device process exited while starting (${signal ?? `code ${code}`})`)));
    child.send({ type: 'start', config } satisfies ToDeviceProcess);
  });
  child.removeAllListeners('exit');
  child.on('exit', (code, signal) =>
    log.error({ device: plan.name, code, signal }, `the ${plan.name} device process died (${signal ?? `code ${code}`}); the guest now sees that device fail`),
  );
  log.info({ device: plan.name, pid: hostPid, sandbox: options.sandbox }, 'device model runs in its own process (ioregionfd protocol)');
  return child;
}
