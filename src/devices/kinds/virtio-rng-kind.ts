// Catalog entry of virtio-rng (src/devices/virtio/virtio-rng.ts): entropy for
// the guest, rate-limited, in whichever virtio-mmio slot the allocator gives
// it; served on the helper's main thread or (`process: separate`) by its own
// jailed process. Machine file: { "type": "virtio-rng", "name": "rng",
// "bytesPerSecond": "1M", "burst": "64K", "process": "inline" }, all optional
// but the type.
import { watchDoorbells } from '../../bus/eventfd-signals.js';
import { GuestLog } from '../../log-rate-limit.js';
import type { DeviceProcess } from '../../machine/field-reader.js';
import type { VirtioDeviceKind } from '../device-kind.js';
import { VIRTIO_ID } from '../virtio/virtio-constants.js';
import { VirtioMmioTransport } from '../virtio/virtio-mmio.js';
import { VIRTIO_RNG_FEATURES, VirtioRng } from '../virtio/virtio-rng.js';

export interface VirtioRngDefinition {
  type: 'virtio-rng';
  name: string;
  /** Sustained entropy rate the guest may draw. */
  bytesPerSecond: number;
  /** The most it gets at once after an idle spell. */
  burst: number;
  process: DeviceProcess;
}

const DEFAULT_RATE = 1024 * 1024;
const DEFAULT_BURST = 64 * 1024;

export const virtioRngKind: VirtioDeviceKind<VirtioRngDefinition> = {
  type: 'virtio-rng',
  family: 'virtio',
  hosts: ['main-thread', 'device-process'],
  entry: {
    fields: ['bytesPerSecond', 'burst', 'process'],
    parse: (d, r, path) => ({
      bytesPerSecond: d.bytesPerSecond === undefined ? DEFAULT_RATE : r.size(d.bytesPerSecond, `${path}.bytesPerSecond`),
      burst: d.burst === undefined ? DEFAULT_BURST : r.size(d.burst, `${path}.burst`),
      process: r.deviceProcess(d.process, `${path}.process`),
    }),
  },
  host: (d) => (d.process === 'separate' ? 'device-process' : 'main-thread'),
  virtio: { deviceId: VIRTIO_ID.RNG, features: VIRTIO_RNG_FEATURES },
  queueCount: () => 1,
  label: 'entropy device',
  statisticsGroup: 'entropy',
  bulkData: false,
  files: () => [],
  build(d, env) {
    const guestLog = new GuestLog(env.log.child({ rng: d.name }));
    const refused = guestLog.kind('refused requests');
    const ignored = guestLog.kind('ignored writes');
    const needsReset = guestLog.kind('needs-reset reports');
    const rng = new VirtioRng(d.name, env.memory, { bytesPerSecond: d.bytesPerSecond, burstBytes: d.burst, onError: (m) => refused.report(m) });
    const transport = new VirtioMmioTransport(rng, env.memory, env.interrupt, {
      interruptMode: 'edge',
      onError: (m, kind) => (kind === 'ignored' ? ignored : needsReset).report(m),
    });
    const doorbell = watchDoorbells(env.notifyFds, (queue) => transport.notifyQueue(queue));
    env.log.info({ rng: d.name, bytesPerSecond: d.bytesPerSecond, burst: d.burst }, `entropy device ${d.name}: ${d.bytesPerSecond} bytes/s`);
    return {
      transport,
      needs: { maxFileSize: 0, ioUring: false, tapOffload: false },
      statistics: () => ({ ...rng.stats, guestErrors: guestLog.counts() }),
      close() {
        doorbell.close();
        transport.reset();
        guestLog.flush();
      },
    };
  },
};
