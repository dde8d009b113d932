// A NIC's host end on a tap device opened with IFF_VNET_HDR: each read gives
// one whole frame and each write takes one, both preceded by a 12-byte
// virtio_net_hdr_v1, the same header the guest's driver uses, so frames go
// between guest buffers and the tap with one readv / writev and no header
// translation. That header also carries the offloads: the guest may send
// frames with a partial checksum or as one TCP segment of up to 64 KiB (the
// kernel finishes them), and once it says it takes them (GUEST_CSUM,
// GUEST_TSO4/6) the tap is told so with TUNSETOFFLOAD and hands it such
// frames too. Until the guest has negotiated, the tap gives only plain ones.
import { constants, openSync } from 'node:fs';
import { EAGAIN, EINTR, EINVAL, close, errnoName, ioctlBuffer, ioctlValue, koffi, readv, writev } from '../../ffi/libc.js';
import {
  IFF_NO_PI, IFF_TAP, IFF_VNET_HDR, IFNAMSIZ, IFREQ_FLAGS_OFFSET, IFREQ_SIZE, TUNSETIFF, TUNSETOFFLOAD, TUNSETVNETHDRSZ,
  TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN,
} from '../../ffi/tun.js';
import type { IoVecList } from '../memory/dma-iovec.js';
import { FdReadiness } from './fd-readiness.js';
import { NetBackendError, SendResult, type NetBackend, type NetOffloads } from './net-backend.js';

const VNET_HEADER = 12;
/** A frame as large as a tap's largest MTU, with its header. */
export const TAP_MAX_FRAME = VNET_HEADER + 14 + 65_535;

/** TUNSETOFFLOAD's argument for what the guest takes (TSO counts only with the checksum offload, as the kernel reads it). */
export function tunOffloadFlags(takes: NetOffloads): number {
  if (!takes.checksum) return 0;
  const tso = takes.tso4 || takes.tso6;
  return TUN_F_CSUM | (takes.tso4 ? TUN_F_TSO4 : 0) | (takes.tso6 ? TUN_F_TSO6 : 0) | (tso && takes.tsoEcn ? TUN_F_TSO_ECN : 0);
}

export class TapError extends Error {
  override name = 'TapError';
}

/**
 * Opens (or creates, with CAP_NET_ADMIN) tap device `ifname` for a NIC:
 * non-blocking, close-on-exec, with the 12-byte virtio-net header.
 */
export function openTap(ifname: string): number {
  let fd: number;
  try {
    fd = openSync('/dev/net/tun', constants.O_RDWR | constants.O_NONBLOCK);
  } catch (e) {
    throw new TapError(`cannot open /dev/net/tun for tap ${ifname}: ${(e as Error).message}`);
  }
  try {
    const ifreq = new Uint8Array(IFREQ_SIZE);
    const name = Buffer.from(ifname);
    if (name.length >= IFNAMSIZ) throw new TapError(`tap name ${ifname} is longer than ${IFNAMSIZ - 1} bytes`);
    ifreq.set(name);
    new DataView(ifreq.buffer).setUint16(IFREQ_FLAGS_OFFSET, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, true);
    if ((ioctlBuffer(fd, TUNSETIFF, ifreq) as number) < 0)
      throw new TapError(`cannot attach to tap ${ifname}: ${errnoName(koffi.errno())} (it must be a tap device this user may open, or creatable: CAP_NET_ADMIN)`);
    const size = new Int32Array([VNET_HEADER]);
    if ((ioctlBuffer(fd, TUNSETVNETHDRSZ, new Uint8Array(size.buffer)) as number) < 0) throw new TapError(`tap ${ifname}: TUNSETVNETHDRSZ failed: ${errnoName(koffi.errno())}`);
    if ((ioctlValue(fd, TUNSETOFFLOAD, 0) as number) < 0) throw new TapError(`tap ${ifname}: TUNSETOFFLOAD failed: ${errnoName(koffi.errno())}`);
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

export class TapBackend implements NetBackend {
  readonly kind = 'tap';
  readonly headerBytes = VNET_HEADER;
  readonly maxFrame = TAP_MAX_FRAME;
  readonly midFrame = false;
  /** Each frame goes out with a write of its own, as send() is called. */
  readonly pendingOutput = false;
  readonly copiedOut = 0;
  flush(): boolean {
    return true;
  }
  /** Checksum and TCP segmentation both ways (UFO is obsolete: Linux no longer offers it). */
  readonly offloads: NetOffloads = { checksum: true, tso4: true, tso6: true, tsoEcn: true };
  readonly lengthKnown = false;
  /** Each read takes one frame, straight into the guest's buffers. */
  readonly copiedIn = 0;
  private readonly readiness: FdReadiness;

  constructor(
    private readonly fd: number,
    private readonly ifname: string,
  ) {
    this.readiness = new FdReadiness(fd);
  }

  setOffloads(guestTakes: NetOffloads): void {
    if ((ioctlValue(this.fd, TUNSETOFFLOAD, tunOffloadFlags(guestTakes)) as number) < 0)
      throw new NetBackendError(`tap ${this.ifname}: TUNSETOFFLOAD failed: ${errnoName(koffi.errno())}`);
  }

  send(frame: IoVecList): SendResult {
    const n = writev(this.fd, frame.address, frame.count) as number;
    if (n >= 0) return SendResult.Done;
    const errno = koffi.errno();
    if (errno === EAGAIN || errno === EINTR) return SendResult.Busy;
    // The kernel refuses a header it cannot honour (say, GSO with no offloads on): that frame is lost, not the link.
    if (errno === EINVAL) return SendResult.Done;
    throw new NetBackendError(`writing to tap ${this.ifname} failed: ${errnoName(errno)}`);
  }

  /** A tap gives whole frames: their length is known only once read. */
  nextFrameLength(): number {
    return this.maxFrame;
  }

  receive(into: IoVecList): number {
    const n = readv(this.fd, into.address, into.count) as number;
    if (n >= 0) return n;
    const errno = koffi.errno();
    if (errno === EAGAIN || errno === EINTR) return -1;
    throw new NetBackendError(`reading from tap ${this.ifname} failed: ${errnoName(errno)}`);
  }

  watch(wants: { readable: boolean; writable: boolean }, onReady: (ready: { readable: boolean; writable: boolean }) => void): void {
    this.readiness.watch(wants, onReady);
  }

  close(): void {
    this.readiness.close();
    close(this.fd);
  }
}
