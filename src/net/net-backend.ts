// What virtio-net needs from the host end of a NIC: frames out of guest
// buffers and into them, as iovecs (zero copy), over a non-blocking
// descriptor, with readiness from the event loop. Two backends: a stream
// socket with QEMU's framing (passt, `--net user`) and a tap device.
import type { IoVecList } from '../memory/dma-iovec.js';

/** Outcome of handing a frame to the backend. */
export const enum SendResult {
  /** The whole frame went out: the guest's buffers may be returned. */
  Done = 0,
  /** Part or none of it went out: call send() again with the same iovecs once writable. */
  Busy = 1,
}

export interface NetBackend {
  readonly kind: 'stream' | 'tap';
  /**
   * Bytes of virtio-net header each frame carries on the backend's side
   * (tap with IFF_VNET_HDR: the guest's header goes through as is), 0 for
   * bare Ethernet frames.
   */
  readonly headerBytes: number;
  /** The largest frame (header included) the backend can deliver. */
  readonly maxFrame: number;
  /**
   * Offloads the backend honours: frames whose header asks for them going
   * out, and such frames coming in once the guest takes them (setOffloads).
   * None for a backend that carries bare frames.
   */
  readonly offloads: NetOffloads;
  /** What the guest takes (at DRIVER_OK): from then on only such frames are received. */
  setOffloads(guestTakes: NetOffloads): void;
  /** Part of a frame has been read: the rest must be read (and dropped) before another can start. */
  readonly midFrame: boolean;
  /**
   * Sends one frame (the backend's header, if any, then the Ethernet frame).
   * After Busy the next call must pass the same frame: the backend remembers
   * how much of it went out. Throws a NetBackendError when the peer is gone.
   */
  send(frame: IoVecList): SendResult;
  /**
   * Writes out what send() queued instead of writing (a stream's small
   * frames, copied): true when nothing is left queued, false when the rest
   * waits for the descriptor to be writable.
   */
  flush(): boolean;
  /** send() has queued bytes that flush() has not written yet. */
  readonly pendingOutput: boolean;
  /** Bytes of sent frames the backend copied into a buffer of its own (to write several with one call). */
  readonly copiedOut: number;
  /**
   * The length of the next frame to receive: exact for framed streams, the
   * most it can be (maxFrame) where frames come whole (tap); -1 when none is
   * waiting yet. Throws a NetBackendError when the peer is gone.
   */
  nextFrameLength(): number;
  /** nextFrameLength() is the frame's own length (a framed stream), not only the most it can be (tap). */
  readonly lengthKnown: boolean;
  /** Bytes of received frames the backend read into a buffer of its own first and copied into the guest's (a stream's read-ahead). */
  readonly copiedIn: number;
  /**
   * Reads the next frame into `into` (room for nextFrameLength() bytes):
   * its length once complete, -1 while (part of) it is still to come; the
   * next call must then pass the same iovecs.
   */
  receive(into: IoVecList): number;
  /** Calls back when the descriptor becomes readable / writable (each call replaces the wish). */
  watch(wants: { readable: boolean; writable: boolean }, onReady: (ready: { readable: boolean; writable: boolean }) => void): void;
  close(): void;
}

/** Offloads a frame's virtio-net header can carry: a checksum left to do, one TCP segment of up to 64 KiB (IPv4, IPv6, with ECN). */
export interface NetOffloads {
  readonly checksum: boolean;
  readonly tso4: boolean;
  readonly tso6: boolean;
  readonly tsoEcn: boolean;
}

export const NO_OFFLOADS: NetOffloads = { checksum: false, tso4: false, tso6: false, tsoEcn: false };

export class NetBackendError extends Error {
  override name = 'NetBackendError';
}
