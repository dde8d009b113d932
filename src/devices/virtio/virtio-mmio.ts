// The virtio-mmio transport, modern layout (version 2; virtio v1.2 §4.2.2),
// as a BusDevice. The guest programs it through 32-bit registers; every
// write is validated and a hostile value is ignored or marks the device
// DEVICE_NEEDS_RESET, never an exception.
//
// Queue notifications: a write of the queue index to QueueNotify (offset
// 0x50). The VM core may instead register a KVM ioeventfd at base + 0x50
// (4 bytes, datamatch = queue index) and call notifyQueue(index) when it
// fires; no vCPU exit then. Interrupts go out through an InterruptLine:
// edge mode pulses it (irqfd) whenever InterruptStatus gains a bit, level mode
// holds it while InterruptStatus is non-zero.
import { hex } from '../../hex.js';
import type { BusDevice, InterruptLine } from '../../bus/device.js';
import type { DmaTranslator } from '../../memory/dma-translator.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { VIRTIO_F, VIRTIO_STATUS, featureBit } from './virtio-constants.js';
import { VirtioRegisterSnapshot } from './register-snapshot.js';
import type { VirtioDevice, VirtioDeviceContext } from './virtio-device.js';
import { VirtioInterruptStatus } from './interrupt-status.js';
import { VirtQueue } from './virtqueue.js';

// The register layout lives in virtio-mmio-registers.ts (the vCPU threads need it without the transport).
export { TSVMM_VENDOR_ID, VIRTIO_MMIO, VIRTIO_MMIO_INT_CONFIG, VIRTIO_MMIO_INT_VRING, VIRTIO_MMIO_MAGIC, VIRTIO_MMIO_WINDOW } from './virtio-mmio-registers.js';
import { TSVMM_VENDOR_ID, VIRTIO_MMIO, VIRTIO_MMIO_INT_CONFIG, VIRTIO_MMIO_INT_VRING, VIRTIO_MMIO_MAGIC } from './virtio-mmio-registers.js';

const TWO32 = 0x1_0000_0000;
const DRIVER_SETTABLE =
  VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.DRIVER_OK | VIRTIO_STATUS.FEATURES_OK | VIRTIO_STATUS.FAILED;

export interface VirtioMmioOptions {
  /** DMA translator for queue buffers (default: the guest memory itself). */
  translator?: DmaTranslator;
  /** 'edge' (irqfd, default) or 'level'. */
  interruptMode?: 'edge' | 'level';
  /** Told why the device stopped (DEVICE_NEEDS_RESET) or ignored a write; a guest decides how often. */
  onError?: (message: string, kind: 'ignored' | 'needs-reset') => void;
}

export class VirtioMmioTransport implements BusDevice, VirtioDeviceContext {
  readonly name: string;
  readonly queues: VirtQueue[];
  /** Offset of QueueNotify within the window (for a KVM ioeventfd). */
  readonly notifyOffset = VIRTIO_MMIO.QUEUE_NOTIFY;

  private status = 0;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private driverFeatures = 0n;
  private negotiated = 0n;
  private queueSel = 0;
  /**
   * InterruptStatus, in shared memory: with `interruptStatusShared`, the vCPU
   * threads answer the driver's reads and acknowledgements of it themselves.
   */
  private interruptStatus = new VirtioInterruptStatus();
  private configGeneration = 0;
  private shmSel = 0;
  private brokenReason: string | null = null;
  private readonly level: boolean;
  private lineHigh = false;
  private readonly configBuf = new Uint8Array(8);

  constructor(
    readonly device: VirtioDevice,
    memory: GuestMemory,
    private readonly irq: InterruptLine,
    private readonly options: VirtioMmioOptions = {},
  ) {
    this.name = device.name;
    this.level = options.interruptMode === 'level';
    this.queues = device.queueMaxSizes.map((max, i) => new VirtQueue(i, max, memory, options.translator));
    if (!this.level) new VirtioRegisterSnapshot(this.interruptStatus.shared).fill(device);
  }

  // ---- VirtioDeviceContext ----

  get features(): bigint {
    return this.negotiated;
  }

  get broken(): boolean {
    return this.brokenReason !== null;
  }

  /** Why the device needs a reset, or null. */
  get brokenBecause(): string | null {
    return this.brokenReason;
  }

  /**
   * The InterruptStatus word, for threads that answer the driver's
   * InterruptStatus reads and InterruptACK writes without this one
   * (VirtioRegisterShortcut); undefined with a level-triggered line,
   * whose acknowledgement must lower the line here.
   */
  get interruptStatusShared(): SharedArrayBuffer | undefined {
    const shared = this.interruptStatus.shared;
    return this.level || !(shared instanceof SharedArrayBuffer) ? undefined : shared;
  }

  /**
   * Keeps InterruptStatus in `status` from now on (a page shared with the
   * helper, for a device in its own process), carrying over what is pending.
   * false with a level-triggered line: its status must stay here.
   */
  shareInterruptStatus(status: VirtioInterruptStatus): boolean {
    if (this.level) return false;
    new VirtioRegisterSnapshot(status.shared).fill(this.device);
    status.clear();
    status.raise(this.interruptStatus.pending);
    this.interruptStatus = status;
    return true;
  }

  /** Current device status register. */
  get deviceStatus(): number {
    return this.status;
  }

  signalUsed(queue: VirtQueue): void {
    // A driver polling used.idx reads InterruptStatus once the index moves,
    // and the vCPU threads answer that read without this thread: where the
    // decision does not need the new index (no EVENT_IDX), the reason goes up
    // before it moves, once. (Raised again after the driver's read, it would
    // survive the driver's acknowledgement.)
    const raisedEarly = queue.notificationKnownBeforePublish();
    if (raisedEarly) this.interruptStatus.raise(VIRTIO_MMIO_INT_VRING);
    queue.publishUsed();
    if (!queue.needsNotification()) return;
    if (raisedEarly) {
      // The driver may have read the reason before the index moved: this interrupt is owed.
      if (!this.level) this.interruptStatus.markSignalled();
      this.assertInterrupt();
    } else this.raise(VIRTIO_MMIO_INT_VRING);
  }

  signalConfigChange(): void {
    // The vCPU threads answer a fixed config from their copy (register-snapshot.ts).
    if (this.device.configFixed) throw new Error(`${this.name}: a configuration declared fixed changed`);
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    if (this.status & VIRTIO_STATUS.DRIVER_OK) this.raise(VIRTIO_MMIO_INT_CONFIG);
  }

  markBroken(reason: string): void {
    if (this.brokenReason !== null) return;
    this.brokenReason = reason;
    this.options.onError?.(`${this.name}: device needs reset: ${reason}`, 'needs-reset');
    this.status |= VIRTIO_STATUS.DEVICE_NEEDS_RESET;
    if (this.status & VIRTIO_STATUS.DRIVER_OK) this.raise(VIRTIO_MMIO_INT_CONFIG);
  }

  // ---- notification entry point (MMIO write or ioeventfd) ----

  /** The driver notified queue `index`. Safe to call with any value. */
  notifyQueue(index: number): void {
    if (!(this.status & VIRTIO_STATUS.DRIVER_OK) || this.brokenReason !== null) return;
    if (!Number.isInteger(index) || index < 0 || index >= this.queues.length) return;
    if (!this.queues[index].ready) return;
    this.device.queueNotify(index);
  }

  // ---- BusDevice ----

  read(offset: number, data: Uint8Array): void {
    if (offset >= VIRTIO_MMIO.CONFIG) {
      this.readConfig(offset - VIRTIO_MMIO.CONFIG, data);
      return;
    }
    let v = 0;
    if (data.length === 4 && offset % 4 === 0) v = this.readRegister(offset);
    for (let i = 0; i < data.length; i++) data[i] = data.length === 4 ? (v >>> (8 * i)) & 0xff : 0;
  }

  write(offset: number, data: Uint8Array): void {
    if (offset >= VIRTIO_MMIO.CONFIG) {
      this.writeConfig(offset - VIRTIO_MMIO.CONFIG, data);
      return;
    }
    if (data.length !== 4 || offset % 4 !== 0) {
      this.ignored(`${data.length}-byte access to register ${hex(offset)}`);
      return;
    }
    const v = (data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24)) >>> 0;
    this.writeRegister(offset, v);
  }

  private readRegister(offset: number): number {
    const R = VIRTIO_MMIO;
    const q = this.selectedQueue();
    switch (offset) {
      case R.MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
      case R.VERSION:
        return 2;
      case R.DEVICE_ID:
        return this.device.deviceId;
      case R.VENDOR_ID:
        return TSVMM_VENDOR_ID;
      case R.DEVICE_FEATURES:
        if (this.deviceFeaturesSel > 1) return 0;
        return Number((this.device.deviceFeatures >> BigInt(32 * this.deviceFeaturesSel)) & 0xffff_ffffn);
      case R.QUEUE_NUM_MAX:
        return q ? q.maxSize : 0;
      case R.QUEUE_NUM:
        return q ? q.size : 0;
      case R.QUEUE_READY:
        return q && q.ready ? 1 : 0;
      case R.INTERRUPT_STATUS:
        return this.interruptStatus.read();
      case R.STATUS:
        return this.status;
      case R.QUEUE_DESC_LOW:
        return q ? low(q.descAddr) : 0;
      case R.QUEUE_DESC_HIGH:
        return q ? high(q.descAddr) : 0;
      case R.QUEUE_DRIVER_LOW:
        return q ? low(q.driverAddr) : 0;
      case R.QUEUE_DRIVER_HIGH:
        return q ? high(q.driverAddr) : 0;
      case R.QUEUE_DEVICE_LOW:
        return q ? low(q.deviceAddr) : 0;
      case R.QUEUE_DEVICE_HIGH:
        return q ? high(q.deviceAddr) : 0;
      case R.SHM_LEN_LOW:
      case R.SHM_LEN_HIGH:
      case R.SHM_BASE_LOW:
      case R.SHM_BASE_HIGH:
        return 0xffff_ffff; // no shared memory regions: length -1 means absent
      case R.CONFIG_GENERATION:
        return this.configGeneration;
      default:
        return 0;
    }
  }

  private writeRegister(offset: number, v: number): void {
    const R = VIRTIO_MMIO;
    switch (offset) {
      case R.DEVICE_FEATURES_SEL:
        this.deviceFeaturesSel = v;
        return;
      case R.DRIVER_FEATURES:
        if (!(this.status & VIRTIO_STATUS.DRIVER) || this.status & (VIRTIO_STATUS.FEATURES_OK | VIRTIO_STATUS.DRIVER_OK | VIRTIO_STATUS.FAILED)) {
          this.ignored('DriverFeatures written outside feature negotiation');
          return;
        }
        if (this.driverFeaturesSel > 1) {
          if (v !== 0) this.ignored(`DriverFeatures word ${this.driverFeaturesSel} is beyond the 64 defined bits`);
          return;
        }
        {
          const shift = BigInt(32 * this.driverFeaturesSel);
          this.driverFeatures = (this.driverFeatures & ~(0xffff_ffffn << shift)) | (BigInt(v) << shift);
        }
        return;
      case R.DRIVER_FEATURES_SEL:
        this.driverFeaturesSel = v;
        return;
      case R.QUEUE_SEL:
        this.queueSel = v;
        return;
      case R.QUEUE_NUM: {
        const q = this.configurableQueue('QueueNum');
        if (q) q.size = v; // validated when the queue is made ready
        return;
      }
      case R.QUEUE_READY:
        this.writeQueueReady(v);
        return;
      case R.QUEUE_NOTIFY:
        this.notifyQueue(v);
        return;
      case R.INTERRUPT_ACK:
        this.interruptStatus.acknowledge(v);
        this.updateLevel();
        return;
      case R.STATUS:
        this.writeStatus(v);
        return;
      case R.QUEUE_DESC_LOW:
      case R.QUEUE_DESC_HIGH:
      case R.QUEUE_DRIVER_LOW:
      case R.QUEUE_DRIVER_HIGH:
      case R.QUEUE_DEVICE_LOW:
      case R.QUEUE_DEVICE_HIGH:
        this.writeQueueAddress(offset, v);
        return;
      case R.SHM_SEL:
        this.shmSel = v;
        return;
      case R.QUEUE_RESET:
        this.ignored('QueueReset written but VIRTIO_F_RING_RESET was not offered');
        return;
      default:
        this.ignored(`write of ${hex(v)} to read-only or unknown register ${hex(offset)}`);
    }
  }

  private selectedQueue(): VirtQueue | undefined {
    return this.queueSel < this.queues.length ? this.queues[this.queueSel] : undefined;
  }

  /** The selected queue if the driver may change its configuration now. */
  private configurableQueue(what: string): VirtQueue | undefined {
    const q = this.selectedQueue();
    if (!q) {
      this.ignored(`${what} written for queue ${this.queueSel}, which does not exist`);
      return undefined;
    }
    if (q.ready) {
      this.ignored(`${what} written while queue ${this.queueSel} is ready`);
      return undefined;
    }
    return q;
  }

  private writeQueueAddress(offset: number, v: number): void {
    const q = this.configurableQueue('a queue address');
    if (!q) return;
    const R = VIRTIO_MMIO;
    switch (offset) {
      case R.QUEUE_DESC_LOW:
        q.descAddr = high(q.descAddr) * TWO32 + v;
        break;
      case R.QUEUE_DESC_HIGH:
        q.descAddr = v * TWO32 + low(q.descAddr);
        break;
      case R.QUEUE_DRIVER_LOW:
        q.driverAddr = high(q.driverAddr) * TWO32 + v;
        break;
      case R.QUEUE_DRIVER_HIGH:
        q.driverAddr = v * TWO32 + low(q.driverAddr);
        break;
      case R.QUEUE_DEVICE_LOW:
        q.deviceAddr = high(q.deviceAddr) * TWO32 + v;
        break;
      case R.QUEUE_DEVICE_HIGH:
        q.deviceAddr = v * TWO32 + low(q.deviceAddr);
        break;
    }
  }

  private writeQueueReady(v: number): void {
    const q = this.selectedQueue();
    if (!q) {
      this.ignored(`QueueReady written for queue ${this.queueSel}, which does not exist`);
      return;
    }
    if (v === 0) {
      // Linux writes 0 when deleting a queue and checks it reads back 0.
      const was = q.ready;
      q.deactivate();
      if (was) this.device.queueDisabled(this.queueSel);
      return;
    }
    if (v !== 1) {
      this.ignored(`QueueReady written with ${v}`);
      return;
    }
    if (q.ready) return;
    if (!(this.status & VIRTIO_STATUS.FEATURES_OK) || this.status & VIRTIO_STATUS.FAILED) {
      this.ignored(`queue ${this.queueSel} made ready before FEATURES_OK`);
      return;
    }
    if (this.brokenReason !== null) return;
    q.eventIdx = (this.negotiated & featureBit(VIRTIO_F.RING_EVENT_IDX)) !== 0n;
    q.indirect = (this.negotiated & featureBit(VIRTIO_F.RING_INDIRECT_DESC)) !== 0n;
    const err = q.activate();
    if (err !== null) this.markBroken(`queue ${this.queueSel}: ${err}`);
  }

  private writeStatus(v: number): void {
    if (v === 0) {
      this.reset();
      return;
    }
    const S = VIRTIO_STATUS;
    const old = this.status;
    const driverBits = old & DRIVER_SETTABLE;
    if ((v & driverBits) !== driverBits) {
      this.ignored(`status ${hex(v)} clears bits of ${hex(old)} (only a write of 0 resets)`);
      return;
    }
    let next = (v & DRIVER_SETTABLE) | (old & S.DEVICE_NEEDS_RESET);
    if (next & S.FEATURES_OK && !(old & S.FEATURES_OK)) {
      const why = this.checkFeatures(next);
      if (why !== null) {
        this.ignored(`features ${hex(this.driverFeatures)} refused: ${why}`);
        next &= ~S.FEATURES_OK;
      } else {
        this.negotiated = this.driverFeatures;
      }
    }
    if (next & S.DRIVER_OK && !(old & S.DRIVER_OK)) {
      if (!(next & S.FEATURES_OK)) {
        this.ignored('DRIVER_OK without FEATURES_OK');
        next &= ~S.DRIVER_OK;
      }
    }
    this.status = next;
    if (next & S.DRIVER_OK && !(old & S.DRIVER_OK) && this.brokenReason === null) this.device.activate(this);
  }

  private checkFeatures(status: number): string | null {
    const S = VIRTIO_STATUS;
    if (!(status & S.DRIVER)) return 'FEATURES_OK without DRIVER';
    const f = this.driverFeatures;
    if (f & ~this.device.deviceFeatures) return `driver accepted features the device did not offer (${hex(f & ~this.device.deviceFeatures)})`;
    if (!(f & featureBit(VIRTIO_F.VERSION_1))) return 'VIRTIO_F_VERSION_1 not accepted (legacy drivers are not supported)';
    if (this.device.acceptFeatures && !this.device.acceptFeatures(f)) return 'refused by the device';
    return null;
  }

  /** Device reset (status 0). */
  reset(): void {
    this.device.reset();
    for (const q of this.queues) q.reset();
    this.status = 0;
    this.driverFeatures = 0n;
    this.negotiated = 0n;
    this.deviceFeaturesSel = 0;
    this.driverFeaturesSel = 0;
    this.queueSel = 0;
    this.shmSel = 0;
    this.brokenReason = null;
    this.interruptStatus.clear();
    this.updateLevel();
  }

  private readConfig(offset: number, data: Uint8Array): void {
    const n = data.length;
    if (offset + n <= this.device.configSize) {
      const buf = this.configBuf.subarray(0, n);
      this.device.readConfig(offset, buf);
      data.set(buf);
    } else data.fill(0);
  }

  private writeConfig(offset: number, data: Uint8Array): void {
    if (offset + data.length <= this.device.configSize) this.device.writeConfig(offset, data);
    else this.ignored(`config write at ${hex(offset)} beyond the ${this.device.configSize}-byte config space`);
  }

  private raise(bit: number): void {
    if (this.level) {
      this.interruptStatus.raise(bit);
      this.updateLevel();
    } else if (this.interruptStatus.raiseNeedsSignal(bit)) this.irq.trigger();
  }

  /** Signals what InterruptStatus holds: an edge, or the level line up. */
  private assertInterrupt(): void {
    if (this.level) this.updateLevel();
    else this.irq.trigger();
  }

  private updateLevel(): void {
    if (!this.level) return;
    const want = this.interruptStatus.pending !== 0;
    if (want !== this.lineHigh) {
      this.lineHigh = want;
      this.irq.setLevel(want);
    }
  }

  private ignored(what: string): void {
    this.options.onError?.(`${this.name}: ignored: ${what}`, 'ignored');
  }
}

function low(n: number): number {
  return n % TWO32 >>> 0;
}
function high(n: number): number {
  return Math.floor(n / TWO32) >>> 0;
}
