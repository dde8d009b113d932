// Catalog entry of virtio-console (src/devices/virtio/virtio-console.ts):
// output ports whose bytes reach tsvmm's own stdout or stderr. The frontend
// opens a non-blocking pipe per port and copies it to the stream the port
// names; the helper's main thread serves the device. `tsvmm exec` makes one
// (consoleDevice); machine files may list one:
// { "type": "virtio-console", "name": "console0", "ports": [
//     { "name": "stdout", "output": "stdout" }, { "name": "stderr", "output": "stderr" } ] }
// Port i is /dev/vport<N>p<i> in a Linux guest, named by `name`
// (/sys/class/virtio-ports/vport<N>p<i>/name, /dev/virtio-ports/<name> with udev).
import { close } from '../../../ffi/libc.js';
import { watchDoorbells } from '../../bus/eventfd-signals.js';
import { GuestLog } from '../../log-rate-limit.js';
import type { OutputStream, VirtioDeviceKind } from '../device-kind.js';
import { VIRTIO_CONSOLE_FEATURES, VIRTIO_CONSOLE_MAX_PORTS, VirtioConsole, consoleQueueSizes } from '../virtio/virtio-console.js';
import { VIRTIO_ID } from '../virtio/virtio-constants.js';
import { VirtioMmioTransport } from '../virtio/virtio-mmio.js';

export interface VirtioConsolePort {
  /** What the guest sees the port as (PORT_NAME). */
  name: string;
  /** Which of tsvmm's streams its bytes go to. */
  output: OutputStream;
}

export interface VirtioConsoleDefinition {
  type: 'virtio-console';
  name: string;
  ports: VirtioConsolePort[];
}

/** For the CLI: a console device with these ports (name 'console0' unless given). */
export function consoleDevice(ports: VirtioConsolePort[], name = 'console0'): VirtioConsoleDefinition {
  return { type: 'virtio-console', name, ports };
}

const PORT_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const OUTPUTS: readonly OutputStream[] = ['stdout', 'stderr'];
/** How long closing waits for the frontend to read what the guest wrote last. */
const FLUSH_TIMEOUT_MS = 5000;

const portRole = (i: number) => `port${i}`;

export const virtioConsoleKind: VirtioDeviceKind<VirtioConsoleDefinition> = {
  type: 'virtio-console',
  family: 'virtio',
  hosts: ['main-thread'],
  entry: {
    fields: ['ports'],
    parse: (d, r, path) => {
      const list = r.array(d.ports, `${path}.ports`);
      if (list.length < 1 || list.length > VIRTIO_CONSOLE_MAX_PORTS) r.fail(`${path}.ports`, `expected 1 to ${VIRTIO_CONSOLE_MAX_PORTS} ports, got ${list.length}`);
      const seen = new Set<string>();
      const ports = list.map((p, i): VirtioConsolePort => {
        const at = `${path}.ports[${i}]`;
        const o = r.object(p, at);
        r.allowOnly(o, at, ['name', 'output']);
        const name = r.string(o.name, `${at}.name`);
        if (!PORT_NAME.test(name)) r.fail(`${at}.name`, `expected 1 to 64 of A-Z a-z 0-9 . _ -, got ${JSON.stringify(name)}`);
        if (seen.has(name)) r.fail(`${at}.name`, `port name "${name}" is used twice`);
        seen.add(name);
        return { name, output: r.oneOf(o.output, OUTPUTS, `${at}.output`) as OutputStream };
      });
      return { ports };
    },
  },
  host: () => 'main-thread',
  virtio: { deviceId: VIRTIO_ID.CONSOLE, features: VIRTIO_CONSOLE_FEATURES },
  queueCount: (d) => consoleQueueSizes(d.ports.length).length,
  label: 'console',
  statisticsGroup: 'consoles',
  bulkData: false,
  files: (d) => d.ports.map((p, i) => ({ role: portRole(i), file: { kind: 'output-pipe', stream: p.output } })),
  build(d, env) {
    const guestLog = new GuestLog(env.log.child({ console: d.name }));
    const refused = guestLog.kind('refused requests');
    const ignored = guestLog.kind('ignored writes');
    const needsReset = guestLog.kind('needs-reset reports');
    const fds = d.ports.map((_, i) => env.file(portRole(i)));
    const model = new VirtioConsole(d.name, env.memory, {
      ports: d.ports.map((p, i) => ({ name: p.name, fd: fds[i] })),
      onError: (m) => refused.report(m),
      onHostError: (m) => env.log.warn({ console: d.name }, `console ${d.name}: ${m}`),
    });
    const transport = new VirtioMmioTransport(model, env.memory, env.interrupt, {
      interruptMode: 'edge',
      onError: (m, kind) => (kind === 'ignored' ? ignored : needsReset).report(m),
    });
    const doorbell = watchDoorbells(env.notifyFds, (queue) => transport.notifyQueue(queue));
    env.log.info({ console: d.name, ports: d.ports }, `console ${d.name}: ${d.ports.map((p, i) => `port ${i} "${p.name}" to ${p.output}`).join(', ')}`);
    return {
      transport,
      needs: { maxFileSize: 0, ioUring: false, tapOffload: false },
      statistics: () => ({
        ...model.stats,
        ports: Object.fromEntries(
          model.ports.map((p) => [p.name, { ...p.stats, failed: p.failed, dma: { directBytes: p.mapper.stats.directBytes, bouncedBytes: p.mapper.stats.bouncedBytes } }]),
        ),
        guestErrors: guestLog.counts(),
      }),
      close() {
        doorbell.close();
        // The guest's last output may still be in the rings: the frontend is still reading.
        const late = model.flush(FLUSH_TIMEOUT_MS);
        if (late.length > 0) env.log.warn({ console: d.name, ports: late }, `console ${d.name}: output of ${late.join(', ')} not all written within ${FLUSH_TIMEOUT_MS} ms; the rest is lost`);
        transport.reset();
        model.close();
        fds.forEach((fd) => close(fd));
        guestLog.flush();
      },
    };
  },
};
