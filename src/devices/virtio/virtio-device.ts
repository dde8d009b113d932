// What a virtio device model (virtio-blk, ...) implements, independent of the
// transport (virtio-mmio here; PCI later), and what the transport offers it.
import type { VirtQueue } from './virtqueue.js';

export interface VirtioDeviceContext {
  readonly queues: readonly VirtQueue[];
  /** Features the driver accepted. */
  readonly features: bigint;
  /** Publishes used elements of `queue` and interrupts the driver if it asked for it. */
  signalUsed(queue: VirtQueue): void;
  /** Bumps ConfigGeneration and sends a configuration change notification. */
  signalConfigChange(): void;
  /** The driver broke the protocol: set DEVICE_NEEDS_RESET, stop processing. */
  markBroken(reason: string): void;
  readonly broken: boolean;
}

export interface VirtioDevice {
  readonly name: string;
  readonly deviceId: number;
  /** Offered features (the transport adds nothing: include VERSION_1 and ring features). */
  readonly deviceFeatures: bigint;
  /** One entry per virtqueue: its maximum size (a power of two). */
  readonly queueMaxSizes: readonly number[];
  /** Bytes of device-specific configuration space. */
  readonly configSize: number;
  /**
   * The configuration space never changes while the device exists (it never
   * signals a change): the vCPU threads may answer its reads from a copy.
   */
  readonly configFixed?: boolean;
  /** Fills `data` from config space at `offset` (the transport checks bounds). */
  readConfig(offset: number, data: Uint8Array): void;
  writeConfig(offset: number, data: Uint8Array): void;
  /** A last say on the driver's features; false refuses FEATURES_OK. */
  acceptFeatures?(features: bigint): boolean;
  /** DRIVER_OK was set: start serving the queues. */
  activate(ctx: VirtioDeviceContext): void;
  /** The driver notified queue `index` (MMIO write or ioeventfd). */
  queueNotify(index: number): void;
  /** Device reset (status 0): finish or drop in-flight work, forget everything. */
  reset(): void;
  /**
   * The driver wrote 0 to QueueReady of ready queue `index`: finish or drop
   * its in-flight work as a reset does, so that no old completion reaches
   * the ring the driver sets up next.
   */
  queueDisabled(index: number): void;
}
