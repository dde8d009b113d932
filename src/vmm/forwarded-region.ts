// A register window whose accesses the vCPU threads forward over a socket (the
// ioregionfd protocol) to whoever serves the device: the helper's main thread
// (virtio devices; with several vCPUs, the platform devices too) or a device
// process.
export interface ForwardedRegion {
  name: string;
  /** Port I/O or MMIO (default). */
  space?: 'pio' | 'mmio';
  base: number;
  size: number;
  /** The VMM end of a SOCK_SEQPACKET socketpair. */
  fd: number;
  /** Served by a thread of this process: no response timeout (see IoregionClient). */
  inProcess?: boolean;
  /** The vCPU waits for each write to be served instead of posting it (see SharedPlatformDevices). */
  writesWait?: boolean;
  /** A RegionLock's word, when several vCPU threads share the socket. */
  lock?: SharedArrayBuffer;
  /**
   * A virtio-mmio transport's InterruptStatus word: the vCPU threads answer
   * that register themselves (VirtioRegisterShortcut). A SharedArrayBuffer
   * for a device on the main thread, the address of a mapped page for one in
   * its own process.
   */
  interruptStatus?: SharedArrayBuffer | { address: number };
  /** Registers the device keeps in a RegisterMirror's memory: the vCPU threads read those themselves (MirroredReads). */
  mirror?: SharedArrayBuffer;
  /** With interruptStatus: the eventfd KVM counts InterruptACK writes of the used-buffer reason in, instead of exiting. */
  countedAcks?: number;
}
