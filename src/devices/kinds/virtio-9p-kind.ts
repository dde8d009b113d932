// Catalog entry of virtio-9p (src/devices/virtio/virtio-9p.ts): a host
// directory shared with the guest over 9P2000.L (src/p9), served on the
// helper's main thread. From --share (tags share0, share1, ... unless given)
// and from machine files: { "type": "virtio-9p", "name": "share0",
// "share": "HOSTDIR,tag=data,ro" } (the "share" field in --share syntax).
//
// Sandbox: the server opens files by path below the shared directory, which
// the jailed helper (an empty root, no file-system system calls) cannot see
// yet; the frontend refuses a share unless --no-sandbox is given. Binding the
// directory into the helper's root and a seccomp policy for the server's
// system calls (through `needs`) are the next step.
import { watchDoorbells } from '../../bus/eventfd-signals.js';
import { GuestLog } from '../../log-rate-limit.js';
import { type ShareSpec, parseShareSpec } from '../../p9/share-spec.js';
import type { VirtioDeviceKind } from '../device-kind.js';
import { VIRTIO_ID } from '../virtio/virtio-constants.js';
import { VirtioMmioTransport } from '../virtio/virtio-mmio.js';
import { VIRTIO_9P_FEATURES, VIRTIO_9P_QUEUE_SIZE, Virtio9p } from '../virtio/virtio-9p.js';

export interface Virtio9pDefinition {
  type: 'virtio-9p';
  name: string;
  spec: ShareSpec;
  /** The mount tag the guest names. */
  tag: string;
}

/** Share `index` from --share (after the machine's own shares) as a catalog entry. */
export function shareDevice(spec: ShareSpec, index: number): Virtio9pDefinition {
  const name = `share${index}`;
  return { type: 'virtio-9p', name, spec, tag: spec.tag ?? name };
}

export const virtio9pKind: VirtioDeviceKind<Virtio9pDefinition> = {
  type: 'virtio-9p',
  family: 'virtio',
  hosts: ['main-thread'],
  entry: {
    fields: ['share'],
    parse: (d, r, path) => {
      let spec: ShareSpec;
      try {
        spec = parseShareSpec(r.string(d.share, `${path}.share`));
      } catch (e) {
        return r.fail(`${path}.share`, (e as Error).message);
      }
      return { spec, tag: spec.tag ?? '' };
    },
  },
  host: () => 'main-thread',
  virtio: { deviceId: VIRTIO_ID.NINEP, queueSizes: [VIRTIO_9P_QUEUE_SIZE], features: VIRTIO_9P_FEATURES },
  label: 'share',
  statisticsGroup: 'shares',
  files: () => [],
  build(d, env) {
    const tag = d.tag || d.name;
    const guestLog = new GuestLog(env.log.child({ share: d.name }));
    const refused = guestLog.kind('refused requests');
    const ignored = guestLog.kind('ignored writes');
    const needsReset = guestLog.kind('needs-reset reports');
    const share = new Virtio9p(d.name, env.memory, { root: d.spec.hostDir, tag, readOnly: d.spec.readOnly, onError: (m) => refused.report(m) });
    const transport = new VirtioMmioTransport(share, env.memory, env.interrupt, {
      interruptMode: 'edge',
      onError: (m, kind) => (kind === 'ignored' ? ignored : needsReset).report(m),
    });
    const doorbell = watchDoorbells(env.notifyFds, (queue) => transport.notifyQueue(queue));
    env.log.info({ share: d.name, tag, dir: d.spec.hostDir, readOnly: d.spec.readOnly }, `share ${d.name}: ${d.spec.hostDir} as tag ${tag}${d.spec.readOnly ? ', read-only' : ''}`);
    return {
      transport,
      needs: { maxFileSize: d.spec.readOnly ? 0 : Number.MAX_SAFE_INTEGER, ioUring: false, tapOffload: false },
      statistics: () => ({ ...share.stats, guestErrors: guestLog.counts() }),
      close() {
        doorbell.close();
        transport.reset();
        share.close();
        guestLog.flush();
      },
    };
  },
};
