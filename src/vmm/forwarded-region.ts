// An MMIO region whose accesses the vCPU thread forwards over a socket (the
// ioregionfd protocol) to whoever serves the device: the helper's main thread
// (virtio devices) or a device process.
export interface ForwardedRegion {
  name: string;
  base: number;
  size: number;
  /** The VMM end of a SOCK_SEQPACKET socketpair. */
  fd: number;
  /** Served by a thread of this process: no response timeout (see IoregionClient). */
  inProcess?: boolean;
}
