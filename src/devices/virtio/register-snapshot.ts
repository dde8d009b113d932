// The virtio-mmio registers a vCPU thread can answer without asking the
// device: what stays fixed while the device exists (its IDs, the feature
// words, each queue's maximum size, and a configuration space the device
// never changes), kept in the memory the transport shares with the vCPU
// threads for InterruptStatus (interrupt-status.ts), after that word. Linux
// reads them while it sets a device up, 10 to 25 per device (a 9p tag byte
// by byte); each was a round trip to the device's thread or process.
//
// Two of those reads depend on a selector the driver writes first
// (DeviceFeaturesSel, QueueSel). The device still gets every write; the
// vCPU threads also keep the selectors here, in the shared memory, so that
// whichever thread serves the read sees the selection any thread made. A
// reset (Status 0) clears them, as it does the transport's. Anything the
// snapshot does not hold (an unfilled snapshot included) goes to the device.
import type { VirtioDevice } from './virtio-device.js';
import { TSVMM_VENDOR_ID, VIRTIO_MMIO, VIRTIO_MMIO_MAGIC } from './virtio-mmio-registers.js';

/** Bytes of shared memory InterruptStatus and the snapshot need together. */
export const SHARED_REGISTERS_BYTES = 1024;

/** What the snapshot is filled from: a device model's fixed description. */
export type FixedRegisters = Pick<VirtioDevice, 'deviceId' | 'deviceFeatures' | 'queueMaxSizes' | 'configSize' | 'configFixed' | 'readConfig'>;

const WORDS_AT = 64; // bytes: InterruptStatus's word comes first
const FILLED = 0;
const DEVICE_ID = 1;
const FEATURES = 2; // two words
const QUEUE_COUNT = 4;
const CONFIG_LENGTH = 5; // -1: not fixed, or too large to copy
const FEATURES_SEL = 6;
const QUEUE_SEL = 7;
const QUEUE_MAX = 8;
const MAX_QUEUES = 32;
const CONFIG_AT = WORDS_AT + 4 * (QUEUE_MAX + MAX_QUEUES);
const MAX_CONFIG = SHARED_REGISTERS_BYTES - CONFIG_AT;
const REGISTER_BYTES = 4;

export class VirtioRegisterSnapshot {
  private readonly words: Int32Array;
  private readonly config: Uint8Array;

  constructor(shared: ArrayBufferLike) {
    if (shared.byteLength < SHARED_REGISTERS_BYTES) throw new RangeError(`the shared registers need ${SHARED_REGISTERS_BYTES} bytes, not ${shared.byteLength}`);
    this.words = new Int32Array(shared, WORDS_AT, QUEUE_MAX + MAX_QUEUES);
    this.config = new Uint8Array(shared, CONFIG_AT, MAX_CONFIG);
  }

  /** Written once by the transport's side, before the guest can reach the device. */
  fill(device: FixedRegisters): void {
    const w = this.words;
    w[DEVICE_ID] = device.deviceId;
    w[FEATURES] = Number(device.deviceFeatures & 0xffff_ffffn) | 0;
    w[FEATURES + 1] = Number((device.deviceFeatures >> 32n) & 0xffff_ffffn) | 0;
    // Queues beyond what fits are answered by the device (QUEUE_COUNT caps the table).
    const queues = Math.min(device.queueMaxSizes.length, MAX_QUEUES);
    for (let i = 0; i < queues; i++) w[QUEUE_MAX + i] = device.queueMaxSizes[i];
    w[QUEUE_COUNT] = device.queueMaxSizes.length <= MAX_QUEUES ? queues : -1;
    const fixed = device.configFixed === true && device.configSize <= MAX_CONFIG;
    if (fixed) device.readConfig(0, this.config.subarray(0, device.configSize));
    w[CONFIG_LENGTH] = fixed ? device.configSize : -1;
    Atomics.store(w, FEATURES_SEL, 0);
    Atomics.store(w, QUEUE_SEL, 0);
    Atomics.store(w, FILLED, 1);
  }

  /** Answers a driver's read if the snapshot holds it; false when the device must. */
  read(offset: number, data: Uint8Array): boolean {
    const w = this.words;
    if (Atomics.load(w, FILLED) !== 1) return false;
    if (offset >= VIRTIO_MMIO.CONFIG) {
      const at = offset - VIRTIO_MMIO.CONFIG;
      // Not fixed (-1), or beyond it: the device answers. (The bounds are the
      // page's too: a device process, which writes the snapshot, is not trusted.)
      if (at + data.length > Math.min(w[CONFIG_LENGTH], MAX_CONFIG)) return false;
      data.set(this.config.subarray(at, at + data.length));
      return true;
    }
    if (data.length !== REGISTER_BYTES) return false;
    let v: number;
    switch (offset) {
      case VIRTIO_MMIO.MAGIC_VALUE:
        v = VIRTIO_MMIO_MAGIC;
        break;
      case VIRTIO_MMIO.VERSION:
        v = 2;
        break;
      case VIRTIO_MMIO.DEVICE_ID:
        v = w[DEVICE_ID];
        break;
      case VIRTIO_MMIO.VENDOR_ID:
        v = TSVMM_VENDOR_ID;
        break;
      case VIRTIO_MMIO.DEVICE_FEATURES: {
        const sel = Atomics.load(w, FEATURES_SEL) >>> 0;
        v = sel > 1 ? 0 : w[FEATURES + sel];
        break;
      }
      case VIRTIO_MMIO.QUEUE_NUM_MAX: {
        if (w[QUEUE_COUNT] < 0) return false;
        const sel = Atomics.load(w, QUEUE_SEL) >>> 0;
        v = sel < Math.min(w[QUEUE_COUNT], MAX_QUEUES) ? w[QUEUE_MAX + sel] : 0;
        break;
      }
      case VIRTIO_MMIO.CONFIG_GENERATION:
        if (w[CONFIG_LENGTH] < 0) return false; // a config that changes has generations
        v = 0;
        break;
      default:
        return false;
    }
    data[0] = v & 0xff;
    data[1] = (v >>> 8) & 0xff;
    data[2] = (v >>> 16) & 0xff;
    data[3] = (v >>> 24) & 0xff;
    return true;
  }

  /** Notes a driver's write on its way to the device (the selectors, a reset). */
  observeWrite(offset: number, data: Uint8Array): void {
    if (data.length !== REGISTER_BYTES || offset % REGISTER_BYTES !== 0) return; // the transport ignores these
    const v = data[0] | (data[1] << 8) | (data[2] << 16) | (data[3] << 24);
    if (offset === VIRTIO_MMIO.DEVICE_FEATURES_SEL) Atomics.store(this.words, FEATURES_SEL, v);
    else if (offset === VIRTIO_MMIO.QUEUE_SEL) Atomics.store(this.words, QUEUE_SEL, v);
    else if (offset === VIRTIO_MMIO.STATUS && v === 0) {
      Atomics.store(this.words, FEATURES_SEL, 0);
      Atomics.store(this.words, QUEUE_SEL, 0);
    }
  }
}
