// One virtio-blk disk as a whole: image → block backend → virtio-blk →
// virtio-mmio transport, with its doorbell eventfd watched on this thread's
// event loop. Used by the VMM's main thread and by a disk's device process.
import { DiskImage } from '../../block/disk-image.js';
import type { DiskSpec } from '../../block/disk-spec.js';
import { createBlockBackend } from '../../block/open-block-backend.js';
import type { BlockBackend } from '../../block/block-backend.js';
import type { InterruptLine } from '../../bus/device.js';
import { watchEventfd } from '../../bus/eventfd-signals.js';
import type { Logger } from '../../log.js';
import { GuestLog, type GuestLogOptions } from '../../log-rate-limit.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { VirtioBlk } from './virtio-blk.js';
import { VirtioMmioTransport } from './virtio-mmio.js';

export class VirtioBlkDevice {
  readonly image: DiskImage;
  readonly backend: BlockBackend;
  readonly blk: VirtioBlk;
  readonly transport: VirtioMmioTransport;
  /** What the guest got wrong: rate-limited in the log, counted exactly for --stats. */
  readonly guestLog: GuestLog;
  private readonly doorbell: { close(): void };

  /** `imageFd`: the image, opened (and locked) by the frontend; `notifyFd`: the queue doorbell (KVM ioeventfd). */
  constructor(name: string, spec: DiskSpec, imageFd: number, memory: GuestMemory, interrupt: InterruptLine, notifyFd: number, log: Logger, logLimits?: GuestLogOptions) {
    this.image = DiskImage.fromFd(imageFd, spec.path, { readOnly: spec.readOnly, direct: spec.cache === 'none', own: true });
    const { backend, fallbacks } = createBlockBackend(this.image, spec.engine);
    this.backend = backend;
    this.guestLog = new GuestLog(log.child({ disk: name }), logLimits);
    const failed = this.guestLog.kind('failed requests');
    const ignored = this.guestLog.kind('ignored writes');
    const needsReset = this.guestLog.kind('needs-reset reports');
    this.blk = new VirtioBlk(backend, memory, { serial: spec.serial, onError: (m) => failed.report(m) });
    this.transport = new VirtioMmioTransport(this.blk, memory, interrupt, {
      interruptMode: 'edge',
      onError: (m, kind) => (kind === 'ignored' ? ignored : needsReset).report(m),
    });
    this.doorbell = watchEventfd(notifyFd, () => this.transport.notifyQueue(0));
    log.info(
      { disk: name, path: spec.path, readOnly: this.image.readOnly, cache: spec.cache, engine: backend.kind, size: this.image.size, ...(fallbacks.length ? { fallbacks } : {}) },
      `disk ${name}: ${spec.path} (${backend.kind}${this.image.readOnly ? ', read-only' : ''})`,
    );
  }

  statistics(): Record<string, unknown> {
    // dma.directBytes vs dma.bouncedBytes: how much of the data moved zero-copy.
    return { engine: this.backend.kind, ...this.blk.stats, dma: { ...this.blk.mapper.stats }, guestErrors: this.guestLog.counts() };
  }

  /** Finishes I/O in flight (guest memory must still be mapped), then closes the disk. */
  close(): void {
    this.doorbell.close();
    this.transport.reset();
    this.backend.close();
    this.image.close();
    this.guestLog.flush();
  }
}
