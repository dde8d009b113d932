// A device process: serves one device model's MMIO/PIO region over the
// ioregionfd protocol from its own jailed process, so that a guest that
// breaks the model lands in a jail holding nothing but that device's fds.
import { F_GETFL, F_SETFL, O_NONBLOCK, fcntl } from '../../ffi/libc.js';
import type { BusDevice } from '../bus/device.js';
import { IoregionServer } from '../bus/ioregion-server.js';
import { TestDevice } from '../devices/test-device.js';
import { createLogger } from '../log.js';
import { helperPolicy } from '../sandbox/helper-policy.js';
import { enterJail } from '../sandbox/jail.js';
import { helperFds } from '../sandbox/jail-launch.js';
import { REGION_FD_NAME, type DeviceProcessConfig, type FromDeviceProcess, type ToDeviceProcess } from './device-process-protocol.js';

function send(m: FromDeviceProcess): void {
  if (process.connected) process.send!(m);
}

function deviceModel(config: DeviceProcessConfig): BusDevice {
  switch (config.device.type) {
    case 'test-device':
      return new TestDevice(config.device.name);
    default:
      throw new Error(`device type ${config.device.type} cannot run in a separate process yet`);
  }
}

function start(config: DeviceProcessConfig): void {
  const log = createLogger({ level: config.logLevel as never, pretty: process.env.TSVMM_LOG_PRETTY === '1' }).child({ device: config.device.name });
  let hostPid = process.pid;
  let server: IoregionServer;
  try {
    const fd = helperFds()[REGION_FD_NAME];
    if (fd === undefined) throw new Error('no region descriptor was passed');
    fcntl(fd, F_SETFL, (fcntl(fd, F_GETFL, 0) as number) | O_NONBLOCK);
    server = new IoregionServer(fd, deviceModel(config), config.regionSize, (why) => {
      log.debug({ why }, 'region closed: the VM is gone');
      process.exit(0);
    });
    if (config.sandbox) hostPid = enterJail({ seccomp: config.seccomp === 'enforce' ? 'kill' : config.seccomp, policy: helperPolicy({ jit: true }) }).hostPid;
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
