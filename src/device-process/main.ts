// A device process: serves device models' MMIO regions over the ioregionfd
// protocol from its own jailed process, so that a guest that breaks a model
// lands in a jail holding nothing but its devices' fds. Usually one device;
// the plan may give one process several (`tsvmm exec`'s two shares). Virtio
// devices also map guest RAM (a shared memfd, mapped once) for DMA, and
// signal the guest through eventfds the VMM registered with KVM (irqfd,
// ioeventfd). Once serving, it warms its data path up while the guest boots
// (devices/data-path-warm-up.ts).
import { BlockingLoop } from '../bus/blocking-loop.js';
import type { BusDevice } from '../bus/device.js';
import { EventfdInterrupt } from '../bus/eventfd-signals.js';
import { useFdWatcher } from '../bus/fd-watch.js';
import { IoregionServer } from '../bus/ioregion-server.js';
import { deviceKind } from '../devices/catalog.js';
import { warmUpWhileIdle, type DataPathWarmUp } from '../devices/data-path-warm-up.js';
import type { DeviceNeeds, VcpuEnvironment } from '../devices/device-kind.js';
import { createLogger, type Logger } from '../log.js';
import { markStartup, startupMarks } from '../startup-marks.js';
import { plannedDescriptor, type PlannedDevice } from '../machine/device-plan.js';
import { INTERRUPT_STATUS_ROLE, queueNotifyRole } from '../machine/handover-name.js';
import { VirtioInterruptStatus } from '../devices/virtio/interrupt-status.js';
import { mapInterruptStatusPage } from '../devices/virtio/interrupt-status-page.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { deviceProcessPolicy } from '../sandbox/device-process-policy.js';
import { enterJail, sharedDirectoryRoot } from '../sandbox/jail.js';
import { closeStrayFds } from '../sandbox/close-stray-fds.js';
import { DESCRIPTOR_SOCKET_FD } from '../sandbox/descriptor-socket.js';
import { receiveNamedDescriptors } from '../sandbox/received-descriptors.js';
import type { DeviceProcessConfig, FromDeviceProcess, ToDeviceProcess } from './device-process-protocol.js';
import { runMain } from '../startup-snapshot.js';

function send(m: FromDeviceProcess): void {
  if (process.connected) process.send!(m);
}

interface Served {
  device: BusDevice;
  needs: DeviceNeeds;
  /** The device's kind, and its data path's warm-up if it has one. */
  type: string;
  warmUp?: () => DataPathWarmUp;
}

/** What the jail must allow them all together. */
function neededByAll(served: readonly Served[]): { maxFileSize: number; ioUring: boolean; tapOffload: boolean; shares: NonNullable<DeviceNeeds['sharedDirectory']>[] } {
  return {
    maxFileSize: Math.max(0, ...served.map((s) => s.needs.maxFileSize)),
    ioUring: served.some((s) => s.needs.ioUring),
    tapOffload: served.some((s) => s.needs.tapOffload),
    shares: served.flatMap((s) => (s.needs.sharedDirectory ? [s.needs.sharedDirectory] : [])),
  };
}

const NO_NEEDS: DeviceNeeds = { maxFileSize: 0, ioUring: false, tapOffload: false };

/** A platform device in its own process has no vCPU thread to lean on: kinds that may run here use none of this. */
const NO_VCPU: VcpuEnvironment = {
  irqLine: () => unavailable('an interrupt line'),
  consoleOutput: () => unavailable('the console'),
  attachConsoleInput: () => unavailable('the console'),
  guestExited: () => unavailable("the VM's end"),
  guestPoweredOff: () => unavailable("the VM's end"),
  guestReset: () => unavailable("the VM's end"),
};

function unavailable(what: string): never {
  throw new Error(`${what} is not available in a device process`);
}

/** Builds a planned device's model through the catalog, from the descriptors the plan names; `memory` maps guest RAM from its memfd (once per process), `log` is the device's. */
function buildModel(planned: PlannedDevice, fds: Record<string, number>, memory: (ramFd: number) => GuestMemory, log: Logger): Served {
  const fd = (role: string) => {
    const name = plannedDescriptor(planned, role).name;
    const n = fds[name];
    if (n === undefined) throw new Error(`no "${name}" descriptor was passed`);
    return n;
  };
  const kind = deviceKind(planned.type);
  switch (kind.family) {
    case 'platform':
      return { device: kind.build(planned.config, NO_VCPU), needs: NO_NEEDS, type: planned.type };
    case 'virtio': {
      const notifyFds = Array.from({ length: kind.queueCount(planned.config) }, (_, q) => fd(queueNotifyRole(q)));
      const instance = kind.build(planned.config, { memory: memory(fd('ram')), interrupt: new EventfdInterrupt(fd('irq')), notifyFds, file: fd, log });
      // The helper's vCPU threads answer InterruptStatus from this page; it stays mapped for the process's life.
      if (!instance.transport.shareInterruptStatus(new VirtioInterruptStatus(mapInterruptStatusPage(fd(INTERRUPT_STATUS_ROLE)).buffer)))
        throw new Error(`${planned.name}: a level-triggered virtio device cannot run in its own process`);
      return { device: instance.transport, needs: instance.needs, type: planned.type, warmUp: instance.warmUp?.bind(instance) };
    }
    case 'virtio-slots':
      throw new Error(`${planned.name}: a ${planned.type} has no model to serve`);
  }
}

/**
 * One warm-up per kind of device served (the rest share its code), made
 * before the jail; none with TSVMM_NO_WARM_UP=1. One that cannot be made is
 * left out: the devices serve as well without.
 */
function warmUpsOf(served: readonly Served[], log: Logger): DataPathWarmUp[] {
  if (process.env.TSVMM_NO_WARM_UP === '1') return [];
  const kinds = new Map<string, DataPathWarmUp>();
  for (const s of served) {
    if (s.warmUp === undefined || kinds.has(s.type)) continue;
    try {
      kinds.set(s.type, s.warmUp());
    } catch (e) {
      log.debug({ type: s.type, error: (e as Error).message }, 'no data-path warm-up');
    }
  }
  return [...kinds.values()];
}

function start(config: DeviceProcessConfig): void {
  markStartup('configured');
  const logger = createLogger({ level: config.logLevel as never, pretty: config.prettyLogs });
  const log = logger.child({ device: config.name });
  let hostPid = process.pid;
  const servers: IoregionServer[] = [];
  let warmUps: DataPathWarmUp[] = [];
  try {
    const fds = receiveNamedDescriptors(DESCRIPTOR_SOCKET_FD, config.descriptors);
    // Only the descriptors the frontend sent stay open (see jail-launch.ts).
    const stray = closeStrayFds(Object.values(fds));
    if (stray.length) log.warn({ fds: stray }, 'closed descriptors the device process was not meant to get');
    // As in the helper: the data path waits in a loop of its own, not a libuv
    // turn per doorbell (bus/blocking-loop.ts); TSVMM_DEVICE_LOOP=libuv keeps Node's.
    if (process.env.TSVMM_DEVICE_LOOP !== 'libuv') useFdWatcher(new BlockingLoop());
    markStartup('descriptorsReceived');
    let memory: GuestMemory | undefined;
    const guestMemory = (ramFd: number) => (memory ??= GuestMemory.allocate(config.ram, { memfd: ramFd, populateBeforeDma: true }));
    const served = config.devices.map((d) => buildModel(d, fds, guestMemory, logger.child({ device: d.name })));
    markStartup('modelBuilt');
    for (const [i, d] of config.devices.entries()) {
      const regionFd = fds[plannedDescriptor(d, 'region').name];
      if (regionFd === undefined) throw new Error(`no region descriptor was passed for ${d.name}`);
      const closed = (why: string) => {
        log.debug({ device: d.name, why }, 'region closed: the VM is gone');
        process.exit(0);
      };
      servers.push(new IoregionServer(regionFd, served[i].device, d.windows[0].size, closed));
    }
    markStartup('regionsOpen');
    warmUps = warmUpsOf(served, log);
    markStartup('warmUpsMade');
    const needs = neededByAll(served);
    if (config.sandbox)
      hostPid = enterJail({
        seccomp: config.seccomp === 'enforce' ? 'kill' : config.seccomp,
        policy: deviceProcessPolicy({ jit: true, ioUring: needs.ioUring, tapOffload: needs.tapOffload, fileServer: needs.shares.length > 0 }),
        limits: { maxFileSize: needs.maxFileSize },
        root: sharedDirectoryRoot(needs.shares),
      }).hostPid;
  } catch (e) {
    send({ type: 'failed', error: (e as Error).message });
    process.exit(1);
  }
  servers.forEach((s) => s.start());
  markStartup('serving');
  log.debug({ hostPid, msSinceStart: startupMarks() }, 'device process serving');
  send({ type: 'serving', hostPid });
  warmUpWhileIdle(warmUps, (w, outcome) => log.debug({ warmUp: w.name, ...outcome }, 'data path warmed up'));
}

// Run as the process starts (from the build's startup snapshot, or after
// loading every module: src/startup-snapshot.ts).
runMain(() => {
  markStartup('codeLoaded');
  process.on('message', (m: ToDeviceProcess) => {
    if (m.type === 'start') start(m.config);
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
});
