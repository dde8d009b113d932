// virtio-blk (virtio v1.2 §5.2) over any transport, a BlockBackend and the
// DMA API. One request queue. Data moves between the disk and guest RAM
// without a copy: the descriptor chain becomes a scatter/gather list, the
// DmaMapper turns it into iovecs into guest RAM, and the backend reads or
// writes those directly (pieces and bounce buffers only for odd memory).
//
// The chain is treated as two byte streams (no framing assumptions, §2.7.4):
// the device-readable one starts with the 16-byte header (type, reserved,
// sector) followed by OUT/DISCARD data; the device-writable one holds IN /
// GET_ID data and ends with the status byte. A request the device cannot
// answer (no status byte, a malformed chain) marks the device
// DEVICE_NEEDS_RESET; anything else malformed gets VIRTIO_BLK_S_IOERR or
// VIRTIO_BLK_S_UNSUPP. FLUSH completes only after fdatasync succeeded.
//
// Nothing on the request path allocates: requests, scatter/gather lists and
// DMA mappings are pooled (one of each per queue entry).
//
// A guest that keeps its ring topped up must not hold this thread (IPC,
// signals and other disks share it): at most CHAINS_PER_TURN chains are taken
// between turns of the event loop, the rest after a setImmediate.
import type { BlockBackend, BlockCompletion } from '../../block/block-backend.js';
import { DmaMapper, type DmaMapping } from '../../memory/dma-mapper.js';
import { DmaSgList } from '../../memory/dma-sg-list.js';
import { DmaStatus, describeDmaStatus } from '../../memory/dma-status.js';
import { DmaAccess, GuestMemoryTranslator, type DmaTranslator } from '../../memory/dma-translator.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { ChainReader, ChainWriter } from './chain-streams.js';
import { StructView } from './guest-struct.js';
import { VIRTIO_F, VIRTIO_ID, featureBit } from './virtio-constants.js';
import { VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, VirtioBlkConfig, VirtioBlkDiscardWriteZeroes, VirtioBlkOutHdr } from './virtio-blk-layout.js';
import type { VirtioDevice, VirtioDeviceContext } from './virtio-device.js';
import { ChainError, DescriptorChain, PopResult, type VirtQueue } from './virtqueue.js';

export const VIRTIO_BLK_F = {
  SIZE_MAX: 1,
  SEG_MAX: 2,
  GEOMETRY: 4,
  RO: 5,
  BLK_SIZE: 6,
  FLUSH: 9,
  TOPOLOGY: 10,
  CONFIG_WCE: 11,
  MQ: 12,
  DISCARD: 13,
  WRITE_ZEROES: 14,
} as const;

export const VIRTIO_BLK_T = { IN: 0, OUT: 1, FLUSH: 4, GET_ID: 8, DISCARD: 11, WRITE_ZEROES: 13 } as const;
export const VIRTIO_BLK_S = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;
export const VIRTIO_BLK_ID_BYTES = 20;
export const VIRTIO_BLK_CONFIG_SIZE = VirtioBlkConfig.size;
const SECTOR = 512;
const MAX_DWZ_SECTORS = 0x7f_ffff; // 4 GiB - 512 per discard / write-zeroes
/** Chains popped before yielding to the event loop. */
export const CHAINS_PER_TURN = 256;

export interface VirtioBlkOptions {
  /** Serial number for VIRTIO_BLK_T_GET_ID (≤ 20 bytes). */
  serial?: string;
  /** Queue size offered (power of two ≤ 1024). Default 256. */
  queueSize?: number;
  /** seg_max offered. Default queueSize - 2. */
  segMax?: number;
  /** size_max offered (bytes per segment). Default 1 MiB. */
  sizeMax?: number;
  /** Offer DISCARD and WRITE_ZEROES (default: when the disk is writable). */
  discard?: boolean;
  /** DMA translation (default: guest RAM directly). */
  translator?: DmaTranslator;
  /** Bounce buffer bytes for DMA to non-RAM guest memory. Default 64 KiB. */
  bounceBufferSize?: number;
  onError?: (message: string) => void;
}

export interface VirtioBlkStats {
  reads: number;
  writes: number;
  flushes: number;
  getIds: number;
  discards: number;
  writeZeroes: number;
  bytesRead: number;
  bytesWritten: number;
  ioErrors: number;
  unsupported: number;
  /** Requests that waited for a free request slot or bounce buffer. */
  stalls: number;
}

enum Phase {
  Free = 0,
  Data = 1,
  Flush = 2,
  Dwz = 3,
  Parked = 4,
}

/** One request slot. */
class BlkRequest {
  phase = Phase.Free;
  epoch = 0;
  head = 0;
  type = 0;
  /** Byte offset on the disk. */
  offset = 0;
  statusAddr = 0;
  usedLen = 0;
  mapping: DmaMapping | null = null;
  readonly sg: DmaSgList;

  constructor(
    readonly tag: number,
    sgCapacity: number,
  ) {
    this.sg = new DmaSgList(sgCapacity);
  }
}

export class VirtioBlk implements VirtioDevice, BlockCompletion {
  readonly name = 'virtio-blk';
  readonly deviceId = VIRTIO_ID.BLOCK;
  readonly deviceFeatures: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = VIRTIO_BLK_CONFIG_SIZE;
  /** Set once at construction. */
  readonly configFixed = true;
  readonly stats: VirtioBlkStats = {
    reads: 0,
    writes: 0,
    flushes: 0,
    getIds: 0,
    discards: 0,
    writeZeroes: 0,
    bytesRead: 0,
    bytesWritten: 0,
    ioErrors: 0,
    unsupported: 0,
    stalls: 0,
  };
  readonly mapper: DmaMapper;

  private readonly config = new StructView(VirtioBlkConfig);
  private readonly id = new Uint8Array(VIRTIO_BLK_ID_BYTES);
  private readonly capacity: number;
  private readonly segMax: number;
  private readonly requests: BlkRequest[];
  private readonly freeRequests: BlkRequest[] = [];
  private readonly parked: BlkRequest[] = [];
  private readonly chain = new DescriptorChain();
  private readonly reader: ChainReader;
  private readonly writer: ChainWriter;
  private readonly header = new StructView(VirtioBlkOutHdr);
  private readonly range = new StructView(VirtioBlkDiscardWriteZeroes);
  private readonly statusByte = new Uint8Array(1);
  private readonly readOnly: boolean;
  private ctx: VirtioDeviceContext | null = null;
  private queue: VirtQueue | null = null;
  private epoch = 0;
  private processing = false;
  private again = false;
  private stalled = false;
  private usedPending = false;
  /** Chains left before the next yield; refilled only by the yield's resume. */
  private budget = CHAINS_PER_TURN;
  private resume: NodeJS.Immediate | null = null;
  private readonly resumeBound = (): void => {
    this.resume = null;
    this.budget = CHAINS_PER_TURN;
    this.process();
  };

  constructor(
    readonly backend: BlockBackend,
    memory: GuestMemory,
    private readonly options: VirtioBlkOptions = {},
  ) {
    const queueSize = options.queueSize ?? 256;
    if (!(queueSize >= 2 && queueSize <= 1024 && (queueSize & (queueSize - 1)) === 0))
      throw new RangeError(`virtio-blk queue size ${queueSize} must be a power of two in 2..1024`);
    this.queueMaxSizes = [queueSize];
    this.segMax = Math.max(1, Math.min(options.segMax ?? queueSize - 2, 1022));
    const sizeMax = options.sizeMax ?? 1024 * 1024;
    this.capacity = Math.floor(backend.size / SECTOR);
    this.readOnly = backend.readOnly;
    const discard = (options.discard ?? true) && !this.readOnly && backend.canDiscard;
    let f =
      featureBit(VIRTIO_F.VERSION_1) |
      featureBit(VIRTIO_F.RING_INDIRECT_DESC) |
      featureBit(VIRTIO_F.RING_EVENT_IDX) |
      featureBit(VIRTIO_BLK_F.SIZE_MAX) |
      featureBit(VIRTIO_BLK_F.SEG_MAX) |
      featureBit(VIRTIO_BLK_F.BLK_SIZE) |
      featureBit(VIRTIO_BLK_F.FLUSH);
    if (this.readOnly) f |= featureBit(VIRTIO_BLK_F.RO);
    if (discard) f |= featureBit(VIRTIO_BLK_F.DISCARD) | featureBit(VIRTIO_BLK_F.WRITE_ZEROES);
    this.deviceFeatures = f;

    const serial = Buffer.from(options.serial ?? '', 'utf8');
    if (serial.length > VIRTIO_BLK_ID_BYTES) throw new RangeError('virtio-blk serial is longer than 20 bytes');
    this.id.set(serial);

    const blkSize = Math.max(SECTOR, backend.logicalBlockSize);
    this.config.set('capacity', this.capacity).set('size_max', sizeMax).set('seg_max', this.segMax).set('blk_size', blkSize);
    this.config.set('num_queues', 1); // meaningful with MQ only
    if (discard) {
      this.config.set('max_discard_sectors', MAX_DWZ_SECTORS).set('max_discard_seg', 1).set('discard_sector_alignment', blkSize / SECTOR);
      this.config.set('max_write_zeroes_sectors', MAX_DWZ_SECTORS).set('max_write_zeroes_seg', 1).set('write_zeroes_may_unmap', 1);
    }

    const translator = options.translator ?? new GuestMemoryTranslator(memory);
    this.mapper = new DmaMapper(translator, {
      mappings: queueSize,
      iovecsPerMapping: 256,
      maxSegments: this.segMax,
      maxTransfer: this.segMax * sizeMax,
      bounceBufferSize: options.bounceBufferSize ?? 64 * 1024,
      pieceAlignment: blkSize,
    });
    this.mapper.onBounceAvailable = () => this.unpark();
    this.reader = new ChainReader(this.mapper);
    this.writer = new ChainWriter(this.mapper);
    this.requests = [];
    for (let i = 0; i < queueSize; i++) this.requests.push(new BlkRequest(i, this.segMax));
    for (let i = queueSize - 1; i >= 0; i--) this.freeRequests.push(this.requests[i]);
  }

  /** Capacity in 512-byte sectors. */
  get sectors(): number {
    return this.capacity;
  }

  /** Requests being served. */
  get inFlight(): number {
    return this.requests.length - this.freeRequests.length;
  }

  // ---- VirtioDevice ----

  readConfig(offset: number, data: Uint8Array): void {
    data.set(this.config.bytes.subarray(offset, offset + data.length));
  }

  writeConfig(): void {
    // Nothing is writable (no CONFIG_WCE): writes are ignored.
  }

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
    this.queue = ctx.queues[0];
    if (this.queue.ready) this.process();
  }

  queueNotify(index: number): void {
    if (index === 0) this.process();
  }

  reset(): void {
    this.ctx = null;
    this.queue = null;
    this.dropInFlight();
  }

  queueDisabled(index: number): void {
    if (index === 0) this.dropInFlight();
  }

  private dropInFlight(): void {
    // In-flight requests must not touch guest memory or a later ring: finish
    // them now (their completions see a stale epoch and only free the slot).
    this.epoch++;
    if (this.resume !== null) clearImmediate(this.resume);
    this.resume = null;
    this.budget = CHAINS_PER_TURN;
    this.backend.drain();
    for (const r of this.parked) this.release(r);
    this.parked.length = 0;
    for (const r of this.requests) if (r.phase !== Phase.Free) this.release(r);
    this.stalled = false;
    this.usedPending = false;
  }

  // ---- request intake ----

  private process(): void {
    if (this.processing) {
      this.again = true;
      return;
    }
    if (this.resume !== null) return; // yielded: the resume takes over
    const q = this.queue;
    const ctx = this.ctx;
    if (q === null || ctx === null || !q.ready || ctx.broken) return;
    this.processing = true;
    try {
      do {
        this.again = false;
        this.stalled = false;
        for (;;) {
          q.disableNotifications();
          while (this.freeRequests.length > 0) {
            if (this.budget === 0) {
              // notifications stay off: the resume looks at the ring anyway
              this.resume = setImmediate(this.resumeBound);
              return;
            }
            const r = q.pop(this.chain);
            if (r === PopResult.Empty) break;
            this.budget--;
            if (r === PopResult.Broken) {
              ctx.markBroken(`virtio-blk: malformed descriptor chain (${ChainError[this.chain.error]})`);
              return;
            }
            this.start(this.chain);
            if (ctx.broken) return;
          }
          if (this.freeRequests.length === 0) {
            // every slot busy (a driver reusing heads): resume on a completion
            this.stalled = true;
            this.stats.stalls++;
            break;
          }
          if (!q.enableNotifications()) break;
        }
      } while (this.again);
    } finally {
      this.processing = false;
      this.flushUsed();
    }
  }

  private start(chain: DescriptorChain): void {
    const req = this.freeRequests.pop()!;
    req.epoch = this.epoch;
    req.head = chain.head;
    req.usedLen = chain.writableBytes;
    req.mapping = null;
    // the status byte: the last byte of the device-writable stream
    const statusAddr = this.writer.reset(chain).lastByteAddress();
    if (statusAddr < 0) {
      this.freeRequests.push(req);
      this.ctx!.markBroken('virtio-blk: request without a status byte');
      return;
    }
    req.statusAddr = statusAddr;
    req.phase = Phase.Data;
    if (chain.error !== ChainError.None && chain.error !== ChainError.BadAddress)
      return this.finish(req, VIRTIO_BLK_S.IOERR, `chain ${ChainError[chain.error]}`);
    const reader = this.reader.reset(chain);
    if (reader.remaining < VirtioBlkOutHdr.size) return this.finish(req, VIRTIO_BLK_S.IOERR, 'header shorter than 16 bytes');
    if (reader.readStruct(this.header) !== DmaStatus.Ok) return this.finish(req, VIRTIO_BLK_S.IOERR, 'header not readable');
    const type = this.header.get('type');
    const sector = this.header.get('sector');
    req.type = type;
    switch (type) {
      case VIRTIO_BLK_T.IN:
        return this.startData(req, sector, false);
      case VIRTIO_BLK_T.OUT:
        return this.startData(req, sector, true);
      case VIRTIO_BLK_T.FLUSH:
        this.stats.flushes++;
        req.phase = Phase.Flush;
        this.backend.flush(this, req.tag);
        return;
      case VIRTIO_BLK_T.GET_ID:
        return this.getId(req);
      case VIRTIO_BLK_T.DISCARD:
      case VIRTIO_BLK_T.WRITE_ZEROES:
        return this.startDwz(req, type);
      default:
        return this.finish(req, VIRTIO_BLK_S.UNSUPP, null);
    }
  }

  /** OUT: the data follows the header in the readable bytes; IN: it fills the writable bytes before the status byte. */
  private startData(req: BlkRequest, sector: number, write: boolean): void {
    if (write) this.stats.writes++;
    else this.stats.reads++;
    if (write && this.readOnly) return this.finish(req, VIRTIO_BLK_S.IOERR, null);
    if (!write && this.reader.remaining !== 0) return this.finish(req, VIRTIO_BLK_S.IOERR, 'IN request with data after the header');
    const stream = write ? this.reader : this.writer;
    const len = write ? stream.remaining : stream.remaining - 1;
    if (len % SECTOR !== 0) return this.finish(req, VIRTIO_BLK_S.IOERR, `data length ${len} is not a multiple of 512`);
    if (!(sector <= this.capacity) || len / SECTOR > this.capacity - sector)
      return this.finish(req, VIRTIO_BLK_S.IOERR, null); // beyond the end of the disk (guests probe this)
    req.offset = sector * SECTOR;
    const access = write ? DmaAccess.Read : DmaAccess.Write;
    req.sg.reset();
    if (!stream.takeSegments(len, req.sg, access)) return this.finish(req, VIRTIO_BLK_S.IOERR, 'more data segments than seg_max');
    const m = this.mapper.acquire();
    if (m === null) return this.finish(req, VIRTIO_BLK_S.IOERR, 'no DMA mapping free');
    req.mapping = m;
    const s = this.mapper.map(req.sg, access, m);
    if (s !== DmaStatus.Ok) return this.finish(req, VIRTIO_BLK_S.IOERR, `data buffers: ${describeDmaStatus(s)}`);
    this.nextPiece(req);
  }

  private nextPiece(req: BlkRequest): void {
    const m = req.mapping!;
    const s = m.nextPiece();
    if (s === DmaStatus.Done) return this.finish(req, VIRTIO_BLK_S.OK, null);
    if (s === DmaStatus.BounceBusy) {
      req.phase = Phase.Parked;
      this.parked.push(req);
      this.stats.stalls++;
      return;
    }
    if (s !== DmaStatus.Ok) return this.finish(req, VIRTIO_BLK_S.IOERR, `data buffers: ${describeDmaStatus(s)}`);
    req.phase = Phase.Data;
    if (req.type === VIRTIO_BLK_T.OUT) this.backend.writev(req.offset + m.pieceOffset, m.iov, this, req.tag);
    else this.backend.readv(req.offset + m.pieceOffset, m.iov, this, req.tag);
  }

  private unpark(): void {
    while (this.parked.length > 0) {
      const req = this.parked.shift()!;
      if (req.epoch !== this.epoch) {
        this.release(req);
        continue;
      }
      this.nextPiece(req);
      if (req.phase === Phase.Parked) return; // still no bounce buffer
    }
  }

  private getId(req: BlkRequest): void {
    this.stats.getIds++;
    const len = Math.min(this.writer.remaining - 1, VIRTIO_BLK_ID_BYTES);
    if (this.writer.write(this.id, len) !== DmaStatus.Ok) return this.finish(req, VIRTIO_BLK_S.IOERR, 'GET_ID buffer not writable');
    this.finish(req, VIRTIO_BLK_S.OK, null);
  }

  private startDwz(req: BlkRequest, type: number): void {
    const discard = type === VIRTIO_BLK_T.DISCARD;
    if (discard) this.stats.discards++;
    else this.stats.writeZeroes++;
    const bit = discard ? VIRTIO_BLK_F.DISCARD : VIRTIO_BLK_F.WRITE_ZEROES;
    if (!this.ctx || (this.ctx.features & featureBit(bit)) === 0n) return this.finish(req, VIRTIO_BLK_S.UNSUPP, null);
    if (this.readOnly) return this.finish(req, VIRTIO_BLK_S.IOERR, null);
    // exactly one range (max_*_seg = 1)
    if (this.reader.remaining !== VirtioBlkDiscardWriteZeroes.size) return this.finish(req, VIRTIO_BLK_S.IOERR, 'discard/write-zeroes needs exactly one segment');
    if (this.reader.readStruct(this.range) !== DmaStatus.Ok) return this.finish(req, VIRTIO_BLK_S.IOERR, 'discard/write-zeroes segment not readable');
    const sector = this.range.get('sector');
    const n = this.range.get('num_sectors');
    const flags = this.range.get('flags');
    const unmap = (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) !== 0;
    if (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP || (discard && unmap)) return this.finish(req, VIRTIO_BLK_S.UNSUPP, null);
    if (n > MAX_DWZ_SECTORS || !(sector <= this.capacity) || n > this.capacity - sector) return this.finish(req, VIRTIO_BLK_S.IOERR, null);
    req.phase = Phase.Dwz;
    if (discard) this.backend.discard(sector * SECTOR, n * SECTOR, this, req.tag);
    else this.backend.writeZeroes(sector * SECTOR, n * SECTOR, this, req.tag);
  }

  // ---- completions ----

  blockComplete(tag: number, result: number): void {
    const req = this.requests[tag];
    if (req === undefined || req.phase === Phase.Free) return;
    if (req.epoch !== this.epoch) {
      this.release(req); // completed after a reset: guest memory is no longer ours to write
      return;
    }
    switch (req.phase) {
      case Phase.Data: {
        const m = req.mapping!;
        if (result !== m.pieceLength) {
          m.finishPiece(result > 0 ? result : 0);
          return this.finish(req, VIRTIO_BLK_S.IOERR, null);
        }
        const s = m.finishPiece(result);
        if (s !== DmaStatus.Ok) return this.finish(req, VIRTIO_BLK_S.IOERR, `data buffers: ${describeDmaStatus(s)}`);
        if (req.type === VIRTIO_BLK_T.OUT) this.stats.bytesWritten += result;
        else this.stats.bytesRead += result;
        return this.nextPiece(req);
      }
      case Phase.Flush:
      case Phase.Dwz:
        return this.finish(req, result === 0 ? VIRTIO_BLK_S.OK : VIRTIO_BLK_S.IOERR, null);
      default:
        return;
    }
  }

  blockBatchEnd(): void {
    this.flushUsed();
    if (this.stalled || this.again) this.process();
  }

  /** Writes the status byte, returns the chain, frees the slot. */
  private finish(req: BlkRequest, status: number, why: string | null): void {
    if (status === VIRTIO_BLK_S.IOERR) this.stats.ioErrors++;
    else if (status === VIRTIO_BLK_S.UNSUPP) this.stats.unsupported++;
    if (why !== null) this.options.onError?.(`virtio-blk: request ${req.head} failed: ${why}`);
    const q = this.queue;
    const ctx = this.ctx;
    const head = req.head;
    const usedLen = req.usedLen;
    const statusAddr = req.statusAddr;
    this.release(req);
    if (q === null || ctx === null) return;
    this.statusByte[0] = status;
    if (this.mapper.copyToGuest(statusAddr, this.statusByte) !== DmaStatus.Ok) {
      ctx.markBroken('virtio-blk: status byte is not writable guest memory');
      return;
    }
    q.pushUsed(head, usedLen);
    this.usedPending = true;
    if (!this.processing && this.stalled) {
      // a slot is free again: take more requests after this batch
      this.again = true;
    }
  }

  private release(req: BlkRequest): void {
    if (req.mapping !== null) {
      req.mapping.release();
      req.mapping = null;
    }
    if (req.phase !== Phase.Free) {
      req.phase = Phase.Free;
      this.freeRequests.push(req);
    }
  }

  private flushUsed(): void {
    if (!this.usedPending) return;
    this.usedPending = false;
    const q = this.queue;
    if (q !== null && this.ctx !== null) this.ctx.signalUsed(q);
  }
}
