// Catalog entry of virtio-net (src/devices/virtio/virtio-net.ts): a NIC whose
// host end the frontend opens (a socket to the passt it starts for `user`, a
// tap device, or a connection to a Unix socket for `stream`), served on the helper's main thread or, with
// `process=separate`, by its own jailed process. From --net (named net0,
// net1, ...) and from machine files: { "type": "virtio-net", "name": "net0",
// "net": "user,hostfwd=tcp:8080-:80" } (the "net" field in --net syntax).
import { watchDoorbells } from '../../bus/eventfd-signals.js';
import { GuestLog } from '../../log-rate-limit.js';
import { type NetBackend } from '../../net/net-backend.js';
import { macBytes, parseNetSpec, type NetBackendSpec, type NetSpec } from '../../net/net-spec.js';
import { StreamBackend } from '../../net/stream-backend.js';
import { TapBackend } from '../../net/tap-backend.js';
import type { OpenedFile, VirtioDeviceKind } from '../device-kind.js';
import { VIRTIO_ID } from '../virtio/virtio-constants.js';
import { VirtioMmioTransport } from '../virtio/virtio-mmio.js';
import { VIRTIO_NET_ALL_FEATURES, VirtioNet } from '../virtio/virtio-net.js';

export interface VirtioNetDefinition {
  type: 'virtio-net';
  name: string;
  spec: NetSpec;
  /** aa:bb:cc:dd:ee:ff */
  mac: string;
}

/** NIC `index` from --net (after the machine's own NICs) as a catalog entry. */
export function netDevice(spec: NetSpec, index: number): VirtioNetDefinition {
  const name = `net${index}`;
  return { type: 'virtio-net', name, spec, mac: spec.mac ?? macFor(name) };
}

/** A stable MAC for a NIC the user gave none, from its name (FNV-1a: no need of node:crypto for three bytes). */
export function macFor(name: string): string {
  let h = 0x811c9dc5;
  for (const c of `tsvmm ${name}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  const hex = (b: number) => b.toString(16).padStart(2, '0');
  return `52:54:00:${hex((h >>> 16) & 0xff)}:${hex((h >>> 8) & 0xff)}:${hex(h & 0xff)}`;
}

const BACKEND = 'backend';

function backendFile(nic: string, spec: NetBackendSpec): OpenedFile {
  switch (spec.kind) {
    case 'user':
      return { kind: 'passt', nic, forwards: spec.forwards };
    case 'tap':
      return { kind: 'tap', ifname: spec.ifname };
    case 'stream':
      return { kind: 'unix-stream', path: spec.path };
  }
}

function describeBackend(spec: NetBackendSpec): string {
  switch (spec.kind) {
    case 'user':
      return 'user networking (passt)';
    case 'tap':
      return `tap ${spec.ifname}`;
    case 'stream':
      return `the socket ${spec.path}`;
  }
}

export const virtioNetKind: VirtioDeviceKind<VirtioNetDefinition> = {
  type: 'virtio-net',
  family: 'virtio',
  hosts: ['main-thread', 'device-process'],
  entry: {
    fields: ['net'],
    parse: (d, r, path) => {
      let spec: NetSpec;
      try {
        spec = parseNetSpec(r.string(d.net, `${path}.net`));
      } catch (e) {
        return r.fail(`${path}.net`, (e as Error).message);
      }
      return { spec, mac: spec.mac ?? '' };
    },
  },
  host: (d) => (d.spec.separateProcess ? 'device-process' : 'main-thread'),
  virtio: { deviceId: VIRTIO_ID.NET, features: VIRTIO_NET_ALL_FEATURES },
  queueCount: () => 2, // RX and TX
  label: 'NIC',
  statisticsGroup: 'nics',
  bulkData: true,
  files: (d) => [
    {
      role: BACKEND,
      file: backendFile(d.name, d.spec.backend),
    },
  ],
  build(d, env) {
    const mac = d.mac || macFor(d.name);
    const guestLog = new GuestLog(env.log.child({ nic: d.name }));
    const dropped = guestLog.kind('dropped frames');
    const ignored = guestLog.kind('ignored writes');
    const needsReset = guestLog.kind('needs-reset reports');
    const fd = env.file(BACKEND);
    const spec = d.spec.backend;
    const backend: NetBackend = spec.kind === 'tap' ? new TapBackend(fd, spec.ifname) : new StreamBackend(fd, describeBackend(spec));
    const net = new VirtioNet(d.name, backend, env.memory, {
      mac: macBytes(mac),
      onError: (m) => dropped.report(m),
      onBackendError: (m) => env.log.error({ nic: d.name }, `NIC ${d.name}: ${m}; its link is down`),
    });
    const transport = new VirtioMmioTransport(net, env.memory, env.interrupt, {
      interruptMode: 'edge',
      onError: (m, kind) => (kind === 'ignored' ? ignored : needsReset).report(m),
    });
    const doorbell = watchDoorbells(env.notifyFds, (queue) => transport.notifyQueue(queue));
    env.log.info({ nic: d.name, mac, backend: spec.kind }, `NIC ${d.name} (${mac}): ${describeBackend(spec)}`);
    return {
      transport,
      needs: { maxFileSize: 0, ioUring: false, tapOffload: spec.kind === 'tap' },
      statistics: () => ({ ...net.stats, linkUp: net.linkUp, dma: { ...net.mapper.stats }, guestErrors: guestLog.counts() }),
      close() {
        doorbell.close();
        transport.reset();
        net.close();
        guestLog.flush();
      },
    };
  },
};
