// A NIC's host end over a stream socket in QEMU's `-netdev stream` framing:
// each Ethernet frame preceded by its length, 4 bytes big-endian. passt
// speaks it (`passt --fd N`, src/net/passt.ts), which is what `--net user` is.
//
// Frames move between the socket and guest buffers with one writev / readv
// on the caller's iovecs: the length word rides along as the first iovec on
// the way out, and on the way in the next frame's length word is read
// together with the rest of this frame (a last iovec of 4 bytes), so that
// back-to-back frames cost one readv each, not a read and a readv. A readv
// that came back short found the socket empty: the next frame is then waited
// for, not asked for with a read that would fail with EAGAIN. A stream
// may take or give part of a frame; the backend keeps its place, and the
// caller passes the same iovecs again when the socket is ready.
//
// Small frames back to back would cost a readv each, where the system call
// is most of a small frame's cost (QEMU reads its stream 68 KiB at a time and
// copies every frame). So a readv that completes a small frame also reads
// ahead, into a buffer of the backend's own, whatever follows in the socket;
// the frames found there are copied into the guest's buffers (counted in
// `copiedIn`) and the socket is not read again until they are used up; and
// after a small frame, the next length word is read with the read-ahead
// behind it, so that a small frame arriving alone costs one call too. A
// large frame is read straight into the guest's buffers, with nothing read
// ahead: copying it would cost more than the system call it saves. Likewise
// small frames going out are copied, framed, into a write buffer that
// flush() writes with one call (the device flushes after each turn of
// frames, counted in `copiedOut`); a large one goes straight from the
// guest's buffers once what was queued before it is out.
import { EAGAIN, ECONNRESET, EINTR, EPIPE, close, errnoName, koffi, read, readv, write, writev } from '../../ffi/libc.js';
import { IoVecArray, copyIoVecs, type IoVecList } from '../memory/dma-iovec.js';
import { HostBuffer } from '../memory/dma-host-buffer.js';
import { FdReadiness } from './fd-readiness.js';
import { NO_OFFLOADS, NetBackendError, SendResult, type NetBackend } from './net-backend.js';

/** Frames longer than this are a broken peer (passt's MTU is at most 65520). */
export const STREAM_MAX_FRAME = 65_550;
/** iovecs per frame: a TX chain merged by the DMA mapper, plus the length word (and the read-ahead). */
const IOVECS = 260;
/** Frames up to this size are read with the read-ahead behind them. */
const READ_AHEAD_BELOW = 4096;
/**
 * The read-ahead buffer: room for what a unix stream socket holds at the
 * default buffer sizes (~208 KiB), so that one call takes all that is
 * there. QEMU's stream backend reads 68 KiB at a time; at 64 KiB here, a
 * small frame's CPU was ~8 % more, and frames/s 7 % fewer (BENCHMARKS.md,
 * "The virtio-net data path natively").
 */
const READ_AHEAD_BYTES = 256 * 1024;
/** Frames up to this size are queued in the write buffer, which holds this much. */
const WRITE_BEHIND_BELOW = 4096;
const WRITE_BEHIND_BYTES = 64 * 1024;

export class StreamBackend implements NetBackend {
  readonly kind = 'stream';
  readonly headerBytes = 0;
  readonly maxFrame = STREAM_MAX_FRAME;
  /** The framing carries no virtio-net header, so no offload information. */
  readonly offloads = NO_OFFLOADS;
  readonly lengthKnown = true;
  /** Bytes of received frames copied from the read-ahead into the guest's buffers (the rest went straight in). */
  copiedIn = 0;
  /** Bytes of sent frames copied into the write buffer (the rest went straight from the guest's buffers). */
  copiedOut = 0;

  /** Native memory: the outgoing iovecs, the incoming ones (two more: the next length word, the read-ahead), the two length words. */
  private readonly memory = new HostBuffer((2 * IOVECS + 2) * 16 + 64);
  /** The outgoing length word, and what of the current frame (word included) has gone. */
  private readonly outWord: Uint8Array;
  private readonly outWordAddress: number;
  private outSent = 0;
  private readonly outIov: IoVecArray;
  /** Small frames queued, framed: [behindStart, behindEnd) of `behind`. */
  private readonly behind = new HostBuffer(WRITE_BEHIND_BYTES);
  private behindStart = 0;
  private behindEnd = 0;
  /** The incoming length word, as far as it has come (perhaps with the frame before it); then the frame's length and what of it has come. */
  private readonly inWord: Uint8Array;
  private readonly inWordAddress: number;
  private inWordGot = 0;
  private inLength = -1;
  private inGot = 0;
  private readonly inIov: IoVecArray;
  /** Bytes read ahead of the frames taken so far: [aheadStart, aheadEnd) of `ahead`. */
  private readonly ahead = new HostBuffer(READ_AHEAD_BYTES);
  private aheadStart = 0;
  private aheadEnd = 0;
  /** The last readv emptied the socket: nothing to read until it is readable again. */
  private drained = false;
  /** The last frame was small: the next one's length word is read with the read-ahead behind it (likely small too, and all in one call). */
  private lastSmall = false;
  private readonly readiness: FdReadiness;
  private onReady: (ready: { readable: boolean; writable: boolean }) => void = () => {};
  private readonly notice = (ready: { readable: boolean; writable: boolean }): void => {
    if (ready.readable) this.drained = false;
    this.onReady(ready);
  };

  constructor(
    private readonly fd: number,
    private readonly peer = 'the network backend',
  ) {
    const bytes = this.memory.bytes;
    const inIovAt = IOVECS * 16;
    const wordsAt = (2 * IOVECS + 2) * 16;
    this.outIov = new IoVecArray(bytes.subarray(0, inIovAt), this.memory.address, IOVECS);
    this.inIov = new IoVecArray(bytes.subarray(inIovAt, wordsAt), this.memory.address + inIovAt, IOVECS + 2);
    this.outWordAddress = this.memory.address + wordsAt;
    this.outWord = bytes.subarray(wordsAt, wordsAt + 4);
    this.inWordAddress = this.memory.address + wordsAt + 8;
    this.inWord = bytes.subarray(wordsAt + 8, wordsAt + 12);
    this.readiness = new FdReadiness(fd);
  }

  get midFrame(): boolean {
    return this.inLength >= 0 && this.inGot > 0;
  }

  setOffloads(): void {}

  get pendingOutput(): boolean {
    return this.behindStart < this.behindEnd;
  }

  send(frame: IoVecList): SendResult {
    if (frame.length > STREAM_MAX_FRAME) throw new RangeError(`frame of ${frame.length} bytes is longer than ${STREAM_MAX_FRAME}`);
    if (this.outSent === 0 && frame.length <= WRITE_BEHIND_BELOW) return this.queue(frame);
    // A large frame (or the rest of one): what was queued before it goes first.
    if (!this.flush()) return SendResult.Busy;
    if (this.outSent === 0) {
      const n = frame.length;
      this.outWord[0] = n >>> 24;
      this.outWord[1] = (n >>> 16) & 0xff;
      this.outWord[2] = (n >>> 8) & 0xff;
      this.outWord[3] = n & 0xff;
    }
    const iov = this.outIov;
    iov.reset();
    let skip = this.outSent;
    if (skip < 4) iov.push(this.outWordAddress + skip, 4 - skip);
    skip = Math.max(0, skip - 4);
    if (!iov.appendFrom(frame, skip)) throw new RangeError(`frame in more than ${IOVECS - 1} pieces`);
    const n = this.syscall(writev(this.fd, iov.address, iov.count) as number, 'writev');
    if (n < 0) return SendResult.Busy;
    this.outSent += n;
    if (this.outSent < 4 + frame.length) return SendResult.Busy;
    this.outSent = 0;
    return SendResult.Done;
  }

  /** Copies a small frame, framed, into the write buffer; Busy while it has no room (the flush that would make some found the socket full). */
  private queue(frame: IoVecList): SendResult {
    const n = frame.length;
    if (this.behindEnd + 4 + n > WRITE_BEHIND_BYTES) {
      this.flush();
      if (this.behindStart > 0) {
        this.behind.bytes.copyWithin(0, this.behindStart, this.behindEnd);
        this.behindEnd -= this.behindStart;
        this.behindStart = 0;
      }
      if (this.behindEnd + 4 + n > WRITE_BEHIND_BYTES) return SendResult.Busy;
    }
    const bytes = this.behind.bytes;
    const at = this.behindEnd;
    bytes[at] = n >>> 24;
    bytes[at + 1] = (n >>> 16) & 0xff;
    bytes[at + 2] = (n >>> 8) & 0xff;
    bytes[at + 3] = n & 0xff;
    copyIoVecs(frame, 0, this.behind.address + at + 4, n, false);
    this.behindEnd = at + 4 + n;
    this.copiedOut += n;
    return SendResult.Done;
  }

  flush(): boolean {
    while (this.behindStart < this.behindEnd) {
      const n = this.syscall(write(this.fd, this.behind.bytes.subarray(this.behindStart, this.behindEnd), this.behindEnd - this.behindStart) as number, 'write');
      if (n < 0) return false;
      this.behindStart += n;
    }
    this.behindStart = this.behindEnd = 0;
    return true;
  }

  nextFrameLength(): number {
    if (this.inLength >= 0) return this.inLength;
    const ahead = this.ahead.bytes;
    while (this.inWordGot < 4 && this.aheadStart < this.aheadEnd) this.inWord[this.inWordGot++] = ahead[this.aheadStart++];
    if (this.inWordGot < 4 && this.drained) return -1;
    while (this.inWordGot < 4) {
      const n = this.lastSmall ? this.readWordAndAhead() : this.readWord();
      if (n < 0) return -1;
      if (n === 0) throw new NetBackendError(`${this.peer} closed the connection`);
    }
    const w = this.inWord;
    const length = ((w[0] << 24) | (w[1] << 16) | (w[2] << 8) | w[3]) >>> 0;
    if (length > STREAM_MAX_FRAME) throw new NetBackendError(`${this.peer} sent a frame of ${length} bytes (at most ${STREAM_MAX_FRAME})`);
    this.inWordGot = 0;
    this.inLength = length;
    this.inGot = 0;
    return length;
  }

  receive(into: IoVecList): number {
    if (this.inLength < 0) throw new Error('receive() before nextFrameLength() gave a length');
    if (into.length < this.inLength) throw new RangeError(`receive buffers hold ${into.length} bytes, the frame has ${this.inLength}`);
    if (this.aheadStart < this.aheadEnd && this.inGot < this.inLength) this.copyAhead(into);
    if (this.inLength > this.inGot) {
      const iov = this.inIov;
      iov.reset();
      if (!iov.appendFrom(into, this.inGot)) throw new RangeError(`receive buffers in more than ${IOVECS} pieces`);
      const wanted = this.inLength - this.inGot;
      iov.trimEnd(iov.length - wanted);
      // The next frame's length word too, if it has come (inWordGot is 0 here: nextFrameLength took it),
      // and after a small frame whatever else has (the read-ahead is empty here: copyAhead used it up).
      iov.push(this.inWordAddress, 4);
      if (this.inLength <= READ_AHEAD_BELOW) iov.push(this.ahead.address, READ_AHEAD_BYTES);
      const n = this.syscall(readv(this.fd, iov.address, iov.count) as number, 'readv');
      if (n < 0) return -1;
      if (n === 0) throw new NetBackendError(`${this.peer} closed the connection in the middle of a frame`);
      this.inGot += Math.min(n, wanted);
      const beyond = Math.max(0, n - wanted);
      this.inWordGot = Math.min(beyond, 4);
      this.aheadStart = 0;
      this.aheadEnd = Math.max(0, beyond - 4);
      if (this.inGot < this.inLength) return -1;
      this.drained = n < iov.length;
    }
    const length = this.inLength;
    this.inLength = -1;
    this.lastSmall = length <= READ_AHEAD_BELOW;
    return length;
  }

  /** Reads the rest of the length word; the bytes read, -1 for none yet. */
  private readWord(): number {
    const n = this.syscall(read(this.fd, this.inWord.subarray(this.inWordGot), 4 - this.inWordGot) as number, 'read');
    if (n > 0) this.inWordGot += n;
    return n;
  }

  /** Reads the rest of the length word and, behind it, into the (empty) read-ahead; the bytes read, -1 for none yet. */
  private readWordAndAhead(): number {
    const iov = this.inIov;
    iov.reset();
    iov.push(this.inWordAddress + this.inWordGot, 4 - this.inWordGot);
    iov.push(this.ahead.address, READ_AHEAD_BYTES);
    const n = this.syscall(readv(this.fd, iov.address, iov.count) as number, 'readv');
    if (n <= 0) return n;
    const word = Math.min(n, 4 - this.inWordGot);
    this.inWordGot += word;
    this.aheadStart = 0;
    this.aheadEnd = n - word;
    this.drained = n < iov.length;
    return n;
  }

  /** Copies what the read-ahead holds of the current frame into `into`, at the frame's offset `inGot`. */
  private copyAhead(into: IoVecList): void {
    const n = Math.min(this.aheadEnd - this.aheadStart, this.inLength - this.inGot);
    copyIoVecs(into, this.inGot, this.ahead.address + this.aheadStart, n, true);
    this.copiedIn += n;
    this.aheadStart += n;
    this.inGot += n;
    if (this.aheadStart === this.aheadEnd) this.aheadStart = this.aheadEnd = 0;
  }

  watch(wants: { readable: boolean; writable: boolean }, onReady: (ready: { readable: boolean; writable: boolean }) => void): void {
    this.onReady = onReady;
    this.readiness.watch(wants, this.notice);
  }

  close(): void {
    this.readiness.close();
    close(this.fd);
    this.memory.release();
    this.ahead.release();
    this.behind.release();
  }

  /** A call's result; -1 for "try again later"; throws when the peer is gone or the call failed. */
  private syscall(result: number, call: string): number {
    if (result >= 0) return result;
    const errno = koffi.errno();
    if (errno === EAGAIN || errno === EINTR) return -1;
    if (errno === EPIPE || errno === ECONNRESET) throw new NetBackendError(`${this.peer} closed the connection`);
    throw new NetBackendError(`${call} on ${this.peer}'s socket failed: ${errnoName(errno)}`);
  }
}
