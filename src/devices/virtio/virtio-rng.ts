// virtio-rng, the entropy device (virtio v1.2 §5.4): one request queue of
// device-writable buffers, which the device fills with random bytes from the
// host (Node's CSPRNG, seeded by getrandom(2)), a page at a time, through the
// DMA API. No configuration space, no device-specific features.
//
// A guest may ask for entropy without end; the host's CPU and this thread
// (shared with disks, IPC, signals) must not follow. A token bucket limits
// the bytes per second: when it is empty, chains stay in the ring and the
// device comes back for them when the bucket has refilled (a partly empty
// bucket fills a chain partly: used.len says how many bytes are random).
//
// What a guest can get wrong is a value, never an exception: a chain with a
// device-readable buffer or a buffer outside guest RAM is returned with
// nothing written (and reported); a malformed ring marks the device
// DEVICE_NEEDS_RESET.
import { fillRandom } from '../../host-random.js';
import { DmaMapper } from '../../memory/dma-mapper.js';
import { DmaStatus } from '../../memory/dma-status.js';
import { GuestMemoryTranslator } from '../../memory/dma-translator.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { ChainWriter } from './chain-streams.js';
import { VIRTIO_F, VIRTIO_ID, featureBit } from './virtio-constants.js';
import type { VirtioDevice, VirtioDeviceContext } from './virtio-device.js';
import { ChainError, DescriptorChain, PopResult, type VirtQueue } from './virtqueue.js';

export const VIRTIO_RNG_QUEUE_SIZE = 64;
export const VIRTIO_RNG_FEATURES = featureBit(VIRTIO_F.VERSION_1) | featureBit(VIRTIO_F.RING_INDIRECT_DESC) | featureBit(VIRTIO_F.RING_EVENT_IDX);

export interface VirtioRngOptions {
  /** Sustained rate the bucket refills at. */
  bytesPerSecond: number;
  /** Bucket size: the most given at once after an idle spell. */
  burstBytes: number;
  /** Fills a buffer with random bytes (default: the kernel's, host-random.ts). */
  random?: (into: Uint8Array) => void;
  /** Milliseconds, monotonic (default: performance.now). */
  now?: () => number;
  /** Runs `f` after `ms` (default: setTimeout, unref'ed); returns a cancel function. */
  later?: (f: () => void, ms: number) => () => void;
  /** Told what the guest got wrong; the caller rate-limits the log. */
  onError?: (message: string) => void;
}

export interface VirtioRngStats {
  requests: number;
  bytes: number;
  /** Chains returned with nothing written because they were unusable. */
  refused: number;
  /** Times the device waited for the bucket to refill. */
  throttled: number;
}

export class VirtioRng implements VirtioDevice {
  readonly deviceId = VIRTIO_ID.RNG;
  readonly deviceFeatures = VIRTIO_RNG_FEATURES;
  readonly queueMaxSizes = [VIRTIO_RNG_QUEUE_SIZE] as const;
  readonly configSize = 0;
  /** Set once at construction. */
  readonly configFixed = true;
  readonly stats: VirtioRngStats = { requests: 0, bytes: 0, refused: 0, throttled: 0 };

  private readonly chain = new DescriptorChain();
  private readonly writer: ChainWriter;
  /** Random bytes are made here, then copied into the guest's buffers. */
  private readonly page = new Uint8Array(4096);
  private readonly random: (into: Uint8Array) => void;
  private readonly now: () => number;
  private readonly later: (f: () => void, ms: number) => () => void;
  private ctx: VirtioDeviceContext | null = null;
  private tokens: number;
  private refilledAt: number;
  private cancelWait: (() => void) | null = null;

  constructor(
    readonly name: string,
    memory: GuestMemory,
    private readonly options: VirtioRngOptions,
  ) {
    this.writer = new ChainWriter(new DmaMapper(new GuestMemoryTranslator(memory), { mappings: 1, iovecsPerMapping: 1 }));
    if (!(options.bytesPerSecond > 0) || !(options.burstBytes > 0)) throw new RangeError('virtio-rng needs a positive rate and burst');
    this.random = options.random ?? fillRandom;
    this.now = options.now ?? (() => performance.now());
    this.later = options.later ?? ((f, ms) => {
      const t = setTimeout(f, ms);
      t.unref();
      return () => clearTimeout(t);
    });
    this.tokens = options.burstBytes;
    this.refilledAt = this.now();
  }

  readConfig(_offset: number, data: Uint8Array): void {
    data.fill(0); // no configuration space (the transport bounds offsets by configSize)
  }

  writeConfig(): void {}

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
    this.serve();
  }

  queueNotify(index: number): void {
    if (index === 0) this.serve();
  }

  reset(): void {
    this.stopWaiting();
    this.ctx = null;
  }

  queueDisabled(index: number): void {
    if (index === 0) this.stopWaiting();
  }

  /** Fills available chains while the bucket holds tokens; at most one ring's worth per call. */
  private serve(): void {
    const ctx = this.ctx;
    if (ctx === null || ctx.broken || this.cancelWait !== null) return;
    const q = ctx.queues[0];
    if (!q.ready) return;
    let used = false;
    for (let taken = 0; taken < q.size; taken++) {
      this.refill();
      if (this.tokens < 1) {
        if (q.available > 0) this.waitForTokens();
        break;
      }
      const r = q.pop(this.chain);
      if (r === PopResult.Empty) {
        // With EVENT_IDX the driver notifies only when it passes avail_event: move it up.
        if (q.enableNotifications()) continue;
        break;
      }
      if (r === PopResult.Broken) {
        ctx.markBroken(`virtio-rng: malformed descriptor chain (${ChainError[this.chain.error]})`);
        return;
      }
      this.stats.requests++;
      q.pushUsed(this.chain.head, this.fill(this.chain));
      used = true;
    }
    if (used) ctx.signalUsed(q);
    // More chains than one ring's worth arrived meanwhile: come back after other work.
    if (this.cancelWait === null && q.available > 0) this.cancelWait = this.later(() => this.resume(), 0);
  }

  /** Writes random bytes into the chain's buffers, up to the tokens held; returns how many. */
  private fill(chain: DescriptorChain): number {
    const why =
      chain.firstWritable !== 0 ? 'a device-readable buffer (the driver may give only writable ones)'
      : chain.error !== ChainError.None ? `unusable buffers (${ChainError[chain.error]})`
      : null;
    if (why !== null) {
      this.stats.refused++;
      this.options.onError?.(`virtio-rng: request ${chain.head} refused: ${why}`);
      return 0;
    }
    const writer = this.writer.reset(chain);
    for (;;) {
      const n = Math.min(writer.remaining, Math.floor(this.tokens), this.page.length);
      if (n === 0) break;
      this.random(this.page.subarray(0, n));
      if (writer.write(this.page, n) !== DmaStatus.Ok) break; // checked by pop(); a memory map cannot change under a device
      this.tokens -= n;
    }
    const written = writer.written;
    this.stats.bytes += written;
    return written;
  }

  private refill(): void {
    const t = this.now();
    const { bytesPerSecond, burstBytes } = this.options;
    this.tokens = Math.min(burstBytes, this.tokens + ((t - this.refilledAt) * bytesPerSecond) / 1000);
    this.refilledAt = t;
  }

  private waitForTokens(): void {
    this.stats.throttled++;
    const ms = Math.ceil(((1 - this.tokens) * 1000) / this.options.bytesPerSecond);
    // At least a few milliseconds: a wait is not worth a timer per byte.
    this.cancelWait = this.later(() => this.resume(), Math.max(ms, 5));
  }

  private resume(): void {
    this.cancelWait = null;
    this.serve();
  }

  private stopWaiting(): void {
    this.cancelWait?.();
    this.cancelWait = null;
  }
}
