// Catalog entry of virtio-9p (src/devices/virtio/virtio-9p.ts): a host
// directory shared with the guest over 9P2000.L (src/p9), served on the
// helper's main thread or (`process=separate`) by its own jailed process. From --share (tags share0, share1, ... unless given)
// and from machine files: { "type": "virtio-9p", "name": "share0",
// "share": "HOSTDIR,tag=data,ro" } (the "share" field in --share syntax).
//
// Sandbox: the server opens files by path below the shared directory. Its
// `needs` name the directory, which the jail of the process serving it binds
// at the same path into its otherwise empty root (read-only for `ro`), and
// make that process's seccomp policy allow the server's file-system calls
// (policy-base.ts, fileServerEntries). A process started as real root jails
// itself as nobody (65534): the share is then served with nobody's rights.
import fs from 'node:fs';
import { watchDoorbells } from '../../bus/eventfd-signals.js';
import { GuestLog } from '../../log-rate-limit.js';
import { type ShareSpec, parseShareSpec } from '../../p9/share-spec.js';
import type { VirtioDeviceKind } from '../device-kind.js';
import { VIRTIO_ID } from '../virtio/virtio-constants.js';
import { VirtioMmioTransport } from '../virtio/virtio-mmio.js';
import { VIRTIO_9P_FEATURES, Virtio9p } from '../virtio/virtio-9p.js';
import { Virtio9pWarmUp } from '../virtio/virtio-9p-warm-up.js';

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
  hosts: ['main-thread', 'device-process'],
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
  host: (d) => (d.spec.separateProcess ? 'device-process' : 'main-thread'),
  virtio: { deviceId: VIRTIO_ID.NINEP, features: VIRTIO_9P_FEATURES },
  queueCount: () => 1,
  label: 'share',
  statisticsGroup: 'shares',
  bulkData: true,
  files: () => [],
  build(d, env) {
    const tag = d.tag || d.name;
    const guestLog = new GuestLog(env.log.child({ share: d.name }));
    const refused = guestLog.kind('refused requests');
    const ignored = guestLog.kind('ignored writes');
    const needsReset = guestLog.kind('needs-reset reports');
    // The jail binds the directory at its real path (symlinks resolved).
    const root = fs.realpathSync(d.spec.hostDir);
    const share = new Virtio9p(d.name, env.memory, { root, tag, readOnly: d.spec.readOnly, onError: (m) => refused.report(m) });
    const transport = new VirtioMmioTransport(share, env.memory, env.interrupt, {
      interruptMode: 'edge',
      onError: (m, kind) => (kind === 'ignored' ? ignored : needsReset).report(m),
    });
    const doorbell = watchDoorbells(env.notifyFds, (queue) => transport.notifyQueue(queue));
    env.log.info({ share: d.name, tag, dir: d.spec.hostDir, readOnly: d.spec.readOnly }, `share ${d.name}: ${d.spec.hostDir} as tag ${tag}${d.spec.readOnly ? ', read-only' : ''}`);
    return {
      transport,
      needs: { maxFileSize: d.spec.readOnly ? 0 : Number.MAX_SAFE_INTEGER, ioUring: false, tapOffload: false, sharedDirectory: { path: root, readOnly: d.spec.readOnly } },
      statistics: () => ({ ...share.stats, guestErrors: guestLog.counts() }),
      warmUp: () => new Virtio9pWarmUp(d.name, root, () => share.stats.requests > 0),
      close() {
        doorbell.close();
        transport.reset();
        share.close();
        guestLog.flush();
      },
    };
  },
};
