// A device process: serves one device model's MMIO region over the ioregionfd
// protocol from its own jailed process, so that a guest that breaks the model
// lands in a jail holding nothing but that device's fds. A virtio-blk disk
// also maps guest RAM (a shared memfd) for DMA, and signals the guest through
// eventfds the VMM registered with KVM (irqfd, ioeventfd).
import type { BusDevice } from '../bus/device.js';
import { EventfdInterrupt } from '../bus/eventfd-signals.js';
import { IoregionServer } from '../bus/ioregion-server.js';
import { TestDevice } from '../devices/test-device.js';
import { VirtioBlkDevice } from '../devices/virtio/virtio-blk-device.js';
import { createLogger, type Logger } from '../log.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { deviceProcessPolicy } from '../sandbox/device-process-policy.js';
import { enterJail } from '../sandbox/jail.js';
import { closeStrayFds, helperFds } from '../sandbox/jail-launch.js';
import { DEVICE_FD, type DeviceProcessConfig, type FromDeviceProcess, type ToDeviceProcess } from './device-process-protocol.js';

function send(m: FromDeviceProcess): void {
  if (process.connected) process.send!(m);
}

interface Served {
  device: BusDevice;
  maxFileSize: number;
  ioUring: boolean;
}

function fdNamed(fds: Record<string, number>, name: string): number {
  const fd = fds[name];
  if (fd === undefined) throw new Error(`no "${name}" descriptor was passed`);
  return fd;
}

function buildModel(config: DeviceProcessConfig, fds: Record<string, number>, log: Logger): Served {
  const model = config.model;
  switch (model.kind) {
    case 'test-device':
      return { device: new TestDevice(config.name), maxFileSize: 0, ioUring: false };
    case 'virtio-blk': {
      const memory = GuestMemory.allocate(model.ram, { memfd: fdNamed(fds, DEVICE_FD.ram) });
      const disk = new VirtioBlkDevice(config.name, model.spec, fdNamed(fds, DEVICE_FD.disk), memory, new EventfdInterrupt(fdNamed(fds, DEVICE_FD.irq)), fdNamed(fds, DEVICE_FD.notify), log);
      return { device: disk.transport, maxFileSize: disk.image.readOnly ? 0 : disk.image.size, ioUring: disk.backend.kind === 'io_uring' };
    }
  }
}

function start(config: DeviceProcessConfig): void {
  const log = createLogger({ level: config.logLevel as never, pretty: process.env.TSVMM_LOG_PRETTY === '1' }).child({ device: config.name });
  let hostPid = process.pid;
  let server: IoregionServer;
  try {
    const fds = helperFds();
    // Only the descriptors the frontend named stay open (see jail-launch.ts).
    const stray = closeStrayFds(Object.values(fds));
    if (stray.length) log.warn({ fds: stray }, 'closed descriptors the device process was not meant to get');
    const regionFd = fdNamed(fds, DEVICE_FD.region);
    const served = buildModel(config, fds, log);
    server = new IoregionServer(regionFd, served.device, config.regionSize, (why) => {
      log.debug({ why }, 'region closed: the VM is gone');
      process.exit(0);
    });
    if (config.sandbox)
      hostPid = enterJail({
        seccomp: config.seccomp === 'enforce' ? 'kill' : config.seccomp,
        policy: deviceProcessPolicy({ jit: true, ioUring: served.ioUring }),
        limits: { maxFileSize: served.maxFileSize },
      }).hostPid;
  } catch (e) {
    send({ type: 'failed', error: (e as Error).message });
    process.exit(1);
  }
  server.start();
  log.debug({ hostPid }, 'device process serving');
  send({ type: 'serving', hostPid });
}

process.on('message', (m: ToDeviceProcess) => {
  if (m.type === 'start') start(m.config);
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
