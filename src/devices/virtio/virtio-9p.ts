// virtio-9p (device ID 9; Linux net/9p/trans_virtio.c, QEMU hw/9pfs):
// one request queue; each chain is a device-readable T-message followed by
// device-writable room for the R-message. The 9P2000.L server (src/p9) does
// the file system; this device moves messages between it and the ring.
//
// File data is never copied. Twrite: only its 23-byte header is copied to
// the server, the rest of the readable buffers is mapped (DmaMapper) into an
// iovec list the server writes with one pwritev. Tread: the writable
// buffers after the first 11 bytes are mapped and the server reads into them
// with one preadv; the 11-byte Rread header it returns goes into the first
// 11 writable bytes. This is the layout Linux's zero-copy requests use
// (p9_virtio_zc_request: an 11-byte reply header, then the user pages);
// its small requests come as one message in a msize-sized buffer, and work
// the same way. Other replies are copied into the writable buffers.
//
// Used length = the reply's size field. A reply larger than the guest's
// writable room is never written past it: the guest gets Rlerror(ERANGE)
// instead. A chain that cannot carry a request at all (buffers outside RAM,
// fewer readable bytes than a 9P header, no room for an Rlerror, buffers in
// the wrong order) marks the device DEVICE_NEEDS_RESET, as a malformed ring
// does: Linux never sends one, so the driver is broken or hostile.
//
// Requests are served synchronously, to completion, in ring order (the
// server has no asynchronous operations), a bounded number per turn of the
// event loop.
import os from 'node:os';
import { DmaMapper, type DmaMapping } from '../../memory/dma-mapper.js';
import { DmaSgList } from '../../memory/dma-sg-list.js';
import { DmaStatus, describeDmaStatus } from '../../memory/dma-status.js';
import { DmaAccess, GuestMemoryTranslator } from '../../memory/dma-translator.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { HostBuffer } from '../../memory/dma-host-buffer.js';
import { IoVecArray, type IoVecList } from '../../memory/dma-iovec.js';
import { P9Writer } from '../../p9/p9-codec.js';
import * as p9 from '../../p9/p9-constants.js';
import { IoVecDataPath } from '../../p9/p9-iovec-data-path.js';
import { P9_DEFAULT_MAX_MESSAGE_SIZE, P9Server } from '../../p9/p9-server.js';
import { ChainReader, ChainWriter } from './chain-streams.js';
import { VIRTIO_F, VIRTIO_ID, featureBit } from './virtio-constants.js';
import type { VirtioDevice, VirtioDeviceContext } from './virtio-device.js';
import { VIRTIO_9P_CONFIG_TAG, VIRTIO_9P_CONFIG_TAG_LEN, VIRTIO_9P_F, VIRTIO_9P_MAX_TAG_LENGTH } from './virtio-9p-layout.js';
import { ChainError, DescriptorChain, PopResult } from './virtqueue.js';

const { ERANGE, EMSGSIZE, EINVAL } = os.constants.errno;

export const VIRTIO_9P_QUEUE_SIZE = 128;
/** Requests served before yielding to the event loop. */
const REQUESTS_PER_TURN = 64;
/** iovecs one message's data may take (Linux pins at most 128 pages per zero-copy request). */
const IOVECS = 256;
/** The Rlerror the device writes itself: header and errno. */
const RLERROR_SIZE = p9.P9_HEADER_SIZE + 4;

export const VIRTIO_9P_FEATURES =
  featureBit(VIRTIO_F.VERSION_1) | featureBit(VIRTIO_F.RING_INDIRECT_DESC) | featureBit(VIRTIO_F.RING_EVENT_IDX) | featureBit(VIRTIO_9P_F.MOUNT_TAG);

/** The mount tag's rule: what `mount -t 9p TAG` takes without quoting, and fits the config space. */
export function isValidMountTag(tag: string): boolean {
  return tag.length > 0 && tag.length <= VIRTIO_9P_MAX_TAG_LENGTH && /^[A-Za-z0-9_.-]+$/.test(tag);
}

export interface Virtio9pOptions {
  /** The directory served as the guest's "/" of the mount. */
  root: string;
  /** The mount tag the guest names (`mount -t 9p TAG`). */
  tag: string;
  readOnly?: boolean;
  /** The largest msize offered. */
  maxMessageSize?: number;
  /** Told what the guest got wrong; the caller rate-limits the log. */
  onError?: (message: string) => void;
}

export interface Virtio9pStats {
  requests: number;
  /** Bytes moved without a copy (Tread and Twrite data). */
  zeroCopyBytes: number;
  /** Replies that did not fit the guest's writable room (answered ERANGE). */
  tooLarge: number;
}

export class Virtio9p implements VirtioDevice {
  readonly deviceId = VIRTIO_ID.NINEP;
  readonly deviceFeatures = VIRTIO_9P_FEATURES;
  readonly queueMaxSizes = [VIRTIO_9P_QUEUE_SIZE] as const;
  readonly configSize: number;
  /** Set once at construction. */
  readonly configFixed = true;
  readonly stats: Virtio9pStats = { requests: 0, zeroCopyBytes: 0, tooLarge: 0 };
  readonly server: P9Server;

  private readonly config: Uint8Array;
  private readonly mapper: DmaMapper;
  private readonly reader: ChainReader;
  private readonly writer: ChainWriter;
  private readonly chain = new DescriptorChain();
  private readonly sg = new DmaSgList(IOVECS);
  private readonly dataPath = new IoVecDataPath(IOVECS);
  /** The T-message (a Twrite's header only). */
  private readonly request: Uint8Array;
  private readonly error = new P9Writer(RLERROR_SIZE);
  private readonly emptyMemory = new HostBuffer(4096);
  private readonly empty: IoVecArray;
  private readonly maxMessageSize: number;
  private ctx: VirtioDeviceContext | null = null;
  private resume: NodeJS.Immediate | null = null;

  constructor(
    readonly name: string,
    memory: GuestMemory,
    private readonly options: Virtio9pOptions,
  ) {
    if (!isValidMountTag(options.tag)) throw new RangeError(`virtio-9p mount tag ${JSON.stringify(options.tag)}: 1 to ${VIRTIO_9P_MAX_TAG_LENGTH} of A-Z a-z 0-9 _ . -`);
    const tag = Buffer.from(options.tag, 'ascii');
    this.configSize = VIRTIO_9P_CONFIG_TAG + tag.length;
    this.config = new Uint8Array(this.configSize);
    new DataView(this.config.buffer).setUint16(VIRTIO_9P_CONFIG_TAG_LEN, tag.length, true);
    this.config.set(tag, VIRTIO_9P_CONFIG_TAG);
    this.maxMessageSize = options.maxMessageSize ?? P9_DEFAULT_MAX_MESSAGE_SIZE;
    this.server = new P9Server({ root: options.root, readOnly: options.readOnly, maxMessageSize: this.maxMessageSize });
    this.request = new Uint8Array(this.maxMessageSize);
    this.mapper = new DmaMapper(new GuestMemoryTranslator(memory), {
      mappings: 1,
      iovecsPerMapping: IOVECS,
      maxSegments: IOVECS,
      maxTransfer: this.maxMessageSize,
      bounceBufferSize: 4096,
      pieceAlignment: 1,
    });
    this.reader = new ChainReader(this.mapper);
    this.writer = new ChainWriter(this.mapper);
    this.empty = new IoVecArray(this.emptyMemory.bytes, this.emptyMemory.address, 1);
  }

  // ---- VirtioDevice ----

  readConfig(offset: number, data: Uint8Array): void {
    data.fill(0);
    data.set(this.config.subarray(offset, offset + data.length));
  }

  writeConfig(): void {
    // Nothing is writable.
  }

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
    this.serve();
  }

  queueNotify(index: number): void {
    if (index === 0) this.serve();
  }

  reset(): void {
    // A new driver starts a new 9P session with Tversion, which closes the old fids.
    this.ctx = null;
    this.stopResume();
  }

  queueDisabled(index: number): void {
    if (index === 0) this.stopResume();
  }

  close(): void {
    this.ctx = null;
    this.stopResume();
    this.server.close();
    this.dataPath.release();
    this.mapper.release();
    this.emptyMemory.release();
  }

  private stopResume(): void {
    if (this.resume !== null) clearImmediate(this.resume);
    this.resume = null;
  }

  // ---- the work loop ----

  private serve(): void {
    const ctx = this.ctx;
    if (ctx === null || ctx.broken || this.resume !== null) return;
    const q = ctx.queues[0];
    if (!q.ready) return;
    let used = false;
    try {
      for (let budget = REQUESTS_PER_TURN; ; budget--) {
        if (budget === 0) {
          this.resume = setImmediate(() => ((this.resume = null), this.serve()));
          return;
        }
        const r = q.pop(this.chain);
        if (r === PopResult.Empty) {
          if (q.enableNotifications()) continue;
          return;
        }
        q.disableNotifications();
        const length = r === PopResult.Broken ? -1 : this.serveChain(this.chain);
        if (length < 0) {
          ctx.markBroken(`virtio-9p ${this.name}: ${this.why}`);
          return;
        }
        q.pushUsed(this.chain.head, length);
        used = true;
      }
    } finally {
      if (used) ctx.signalUsed(q);
    }
  }

  /** Why the last chain was unusable. */
  private why = '';

  /** Serves one request: the used length, or -1 (with `why`) when the chain cannot carry one. */
  private serveChain(chain: DescriptorChain): number {
    if (chain.error !== ChainError.None) return this.unusable(`malformed descriptor chain (${ChainError[chain.error]})`);
    if (chain.readableBytes < p9.P9_HEADER_SIZE) return this.unusable(`a request of ${chain.readableBytes} bytes (a 9P header has ${p9.P9_HEADER_SIZE})`);
    if (chain.writableBytes < RLERROR_SIZE) return this.unusable(`${chain.writableBytes} bytes of reply room (an Rlerror takes ${RLERROR_SIZE})`);
    this.stats.requests++;
    const reader = this.reader.reset(chain);
    const writer = this.writer.reset(chain);
    if (reader.read(this.request, p9.P9_HEADER_SIZE) !== DmaStatus.Ok) return this.unusable('request header outside guest RAM');
    const type = this.request[4];
    const tag = this.request[5] | (this.request[6] << 8);
    if (reader.remaining + p9.P9_HEADER_SIZE > this.maxMessageSize) return this.answerError(tag, EMSGSIZE);

    let mapping: DmaMapping | null = null;
    let requestLength = p9.P9_HEADER_SIZE + reader.remaining;
    this.dataPath.source = undefined;
    this.dataPath.destination = undefined;
    try {
      if (type === p9.P9_TWRITE && requestLength > p9.P9_TWRITE_HEADER_SIZE) {
        requestLength = p9.P9_TWRITE_HEADER_SIZE;
        if (reader.read(this.request, requestLength - p9.P9_HEADER_SIZE, p9.P9_HEADER_SIZE) !== DmaStatus.Ok) return this.unusable('request outside guest RAM');
        mapping = this.mapRest(reader, DmaAccess.Read, reader.remaining);
        if (mapping === null) return this.answerError(tag, EINVAL);
        this.dataPath.source = mapping.iov;
      } else {
        if (reader.read(this.request, requestLength - p9.P9_HEADER_SIZE, p9.P9_HEADER_SIZE) !== DmaStatus.Ok) return this.unusable('request outside guest RAM');
        if (type === p9.P9_TREAD) {
          writer.skip(p9.P9_RREAD_HEADER_SIZE);
          if (writer.remaining === 0) this.dataPath.destination = this.emptyList();
          else {
            // Room beyond a message's worth is never filled (the server's count is checked against msize).
            mapping = this.mapRest(writer, DmaAccess.Write, Math.min(writer.remaining, this.maxMessageSize - p9.P9_RREAD_HEADER_SIZE));
            if (mapping === null) return this.answerError(tag, EINVAL);
            this.dataPath.destination = mapping.iov;
          }
          writer.reset(chain);
        }
      }
      const reply = this.server.handle(this.request.subarray(0, requestLength), this.dataPath);
      const size = reply[0] | (reply[1] << 8) | (reply[2] << 16) | (reply[3] * 0x1000000);
      if (size > reply.byteLength) this.stats.zeroCopyBytes += size - reply.byteLength;
      if (this.dataPath.source !== undefined && reply[4] === p9.P9_TWRITE + 1) this.stats.zeroCopyBytes += new DataView(reply.buffer, reply.byteOffset).getUint32(p9.P9_HEADER_SIZE, true);
      if (size > chain.writableBytes || reply.byteLength > writer.remaining) {
        this.stats.tooLarge++;
        this.options.onError?.(`virtio-9p ${this.name}: a ${size}-byte reply to request type ${type} does not fit ${chain.writableBytes} bytes of reply room`);
        return this.answerError(tag, ERANGE);
      }
      if (writer.write(reply) !== DmaStatus.Ok) return this.unusable('reply buffers outside guest RAM');
      return size;
    } finally {
      mapping?.release();
      this.dataPath.source = undefined;
      this.dataPath.destination = undefined;
    }
  }

  /** Maps the next `length` bytes of `stream` as iovecs into guest RAM; null when they cannot be (too many pieces, not RAM). */
  private mapRest(stream: ChainReader | ChainWriter, access: DmaAccess, length: number): DmaMapping | null {
    this.sg.reset();
    if (!stream.takeSegments(length, this.sg, access)) {
      this.options.onError?.(`virtio-9p ${this.name}: message data in more than ${IOVECS} pieces`);
      return null;
    }
    const m = this.mapper.acquire()!;
    const s = this.mapper.map(this.sg, access, m);
    const p = s === DmaStatus.Ok ? m.nextPiece() : s;
    if (p !== DmaStatus.Ok || m.pieceLength !== length || m.pieceBounced !== 0) {
      m.release();
      this.options.onError?.(`virtio-9p ${this.name}: message data: ${p === DmaStatus.Ok ? 'not all in guest RAM' : describeDmaStatus(p)}`);
      return null;
    }
    return m;
  }

  private emptyList(): IoVecList {
    this.empty.reset();
    return this.empty;
  }

  /** Writes Rlerror(errno) into the chain's reply room (checked to hold one); returns its length. */
  private answerError(tag: number, errno: number): number {
    const reply = this.error.begin(p9.P9_RLERROR, tag).u32(errno).finish();
    if (this.writer.reset(this.chain).write(reply) !== DmaStatus.Ok) return this.unusable('reply buffers outside guest RAM');
    return reply.byteLength;
  }

  private unusable(why: string): -1 {
    this.why = why;
    return -1;
  }
}
