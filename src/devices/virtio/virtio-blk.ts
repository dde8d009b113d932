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
import { VIRTIO_F, VIRTIO_ID, featureBit } from './virtio-constants.js';
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
export const VIRTIO_BLK_CONFIG_SIZE = 60;
const SECTOR = 512;
const HEADER = 16;
const DWZ_SEGMENT = 16;
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
  dwzSector = 0;
  dwzSectors = 0;
  dwzUnmap = false;

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

  private readonly config = new Uint8Array(VIRTIO_BLK_CONFIG_SIZE);
  private readonly id = new Uint8Array(VIRTIO_BLK_ID_BYTES);
  private readonly capacity: number;
  private readonly segMax: number;
  private readonly requests: BlkRequest[];
  private readonly freeRequests: BlkRequest[] = [];
  private readonly parked: BlkRequest[] = [];
  private readonly chain = new DescriptorChain();
  private readonly scratch = new Uint8Array(HEADER);
  private readonly scratchView = new DataView(this.scratch.buffer);
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
    const dv = new DataView(this.config.buffer);
    dv.setBigUint64(0, BigInt(this.capacity), true);
    dv.setUint32(8, sizeMax, true);
    dv.setUint32(12, this.segMax, true);
    dv.setUint32(20, blkSize, true);
    dv.setUint16(34, 1, true); // num_queues (meaningful with MQ only)
    if (discard) {
      dv.setUint32(36, MAX_DWZ_SECTORS, true); // max_discard_sectors
      dv.setUint32(40, 1, true); // max_discard_seg
      dv.setUint32(44, blkSize / SECTOR, true); // discard_sector_alignment
      dv.setUint32(48, MAX_DWZ_SECTORS, true); // max_write_zeroes_sectors
      dv.setUint32(52, 1, true); // max_write_zeroes_seg
      this.config[56] = 1; // write_zeroes_may_unmap
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
    data.set(this.config.subarray(offset, offset + data.length));
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
    let statusSeg = -1;
    for (let i = chain.count - 1; i >= chain.firstWritable; i--) {
      if (chain.len[i] > 0) {
        statusSeg = i;
        break;
      }
    }
    if (statusSeg < 0) {
      this.freeRequests.push(req);
      this.ctx!.markBroken('virtio-blk: request without a status byte');
      return;
    }
    req.statusAddr = chain.addr[statusSeg] + chain.len[statusSeg] - 1;
    req.phase = Phase.Data;
    if (chain.error !== ChainError.None && chain.error !== ChainError.BadAddress)
      return this.finish(req, VIRTIO_BLK_S.IOERR, `chain ${ChainError[chain.error]}`);
    if (chain.readableBytes < HEADER) return this.finish(req, VIRTIO_BLK_S.IOERR, 'header shorter than 16 bytes');
    if (this.readStream(chain, 0, this.scratch, HEADER) !== DmaStatus.Ok)
      return this.finish(req, VIRTIO_BLK_S.IOERR, 'header not readable');
    const h = this.scratch;
    const type = (h[0] | (h[1] << 8) | (h[2] << 16) | (h[3] << 24)) >>> 0;
    const sectorLo = (h[8] | (h[9] << 8) | (h[10] << 16) | (h[11] << 24)) >>> 0;
    const sectorHi = (h[12] | (h[13] << 8) | (h[14] << 16) | (h[15] << 24)) >>> 0;
    req.type = type;
    const sector = sectorHi >= 0x20_0000 ? Infinity : sectorLo + sectorHi * 0x1_0000_0000;
    switch (type) {
      case VIRTIO_BLK_T.IN:
        return this.startData(req, chain, sector, false);
      case VIRTIO_BLK_T.OUT:
        return this.startData(req, chain, sector, true);
      case VIRTIO_BLK_T.FLUSH:
        this.stats.flushes++;
        req.phase = Phase.Flush;
        this.backend.flush(this, req.tag);
        return;
      case VIRTIO_BLK_T.GET_ID:
        return this.getId(req, chain);
      case VIRTIO_BLK_T.DISCARD:
      case VIRTIO_BLK_T.WRITE_ZEROES:
        return this.startDwz(req, chain, type);
      default:
        return this.finish(req, VIRTIO_BLK_S.UNSUPP, null);
    }
  }

  private startData(req: BlkRequest, chain: DescriptorChain, sector: number, write: boolean): void {
    if (write) this.stats.writes++;
    else this.stats.reads++;
    if (write && this.readOnly) return this.finish(req, VIRTIO_BLK_S.IOERR, null);
    // IN: header only in the readable stream; OUT: data after the header
    const len = write ? chain.readableBytes - HEADER : chain.writableBytes - 1;
    if (!write && chain.readableBytes !== HEADER) return this.finish(req, VIRTIO_BLK_S.IOERR, 'IN request with data after the header');
    if (len % SECTOR !== 0) return this.finish(req, VIRTIO_BLK_S.IOERR, `data length ${len} is not a multiple of 512`);
    if (!(sector <= this.capacity) || len / SECTOR > this.capacity - sector)
      return this.finish(req, VIRTIO_BLK_S.IOERR, null); // beyond the end of the disk (guests probe this)
    req.offset = sector * SECTOR;
    const access = write ? DmaAccess.Read : DmaAccess.Write;
    if (!this.buildSg(req.sg, chain, write, len, access)) return this.finish(req, VIRTIO_BLK_S.IOERR, 'more data segments than seg_max');
    const m = this.mapper.acquire();
    if (m === null) return this.finish(req, VIRTIO_BLK_S.IOERR, 'no DMA mapping free');
    req.mapping = m;
    const s = this.mapper.map(req.sg, access, m);
    if (s !== DmaStatus.Ok) return this.finish(req, VIRTIO_BLK_S.IOERR, `data buffers: ${describeDmaStatus(s)}`);
    this.nextPiece(req);
  }

  /** Data segments: OUT = readable stream after the header, IN = writable stream before the status byte. */
  private buildSg(sg: DmaSgList, chain: DescriptorChain, write: boolean, len: number, access: DmaAccess): boolean {
    sg.reset();
    let skip = write ? HEADER : 0;
    let left = len;
    const from = write ? 0 : chain.firstWritable;
    const to = write ? chain.firstWritable : chain.count;
    for (let i = from; i < to && left > 0; i++) {
      let a = chain.addr[i];
      let l = chain.len[i];
      if (skip >= l) {
        skip -= l;
        continue;
      }
      a += skip;
      l -= skip;
      skip = 0;
      if (l > left) l = left;
      if (!sg.push(a, l, access)) return false;
      left -= l;
    }
    return true;
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

  private getId(req: BlkRequest, chain: DescriptorChain): void {
    this.stats.getIds++;
    const len = Math.min(chain.writableBytes - 1, VIRTIO_BLK_ID_BYTES);
    if (this.writeStream(chain, this.id, len) !== DmaStatus.Ok) return this.finish(req, VIRTIO_BLK_S.IOERR, 'GET_ID buffer not writable');
    this.finish(req, VIRTIO_BLK_S.OK, null);
  }

  private startDwz(req: BlkRequest, chain: DescriptorChain, type: number): void {
    const discard = type === VIRTIO_BLK_T.DISCARD;
    if (discard) this.stats.discards++;
    else this.stats.writeZeroes++;
    const bit = discard ? VIRTIO_BLK_F.DISCARD : VIRTIO_BLK_F.WRITE_ZEROES;
    if (!this.ctx || (this.ctx.features & featureBit(bit)) === 0n) return this.finish(req, VIRTIO_BLK_S.UNSUPP, null);
    if (this.readOnly) return this.finish(req, VIRTIO_BLK_S.IOERR, null);
    // exactly one virtio_blk_discard_write_zeroes segment (max_*_seg = 1)
    if (chain.readableBytes - HEADER !== DWZ_SEGMENT) return this.finish(req, VIRTIO_BLK_S.IOERR, 'discard/write-zeroes needs exactly one segment');
    if (this.readStream(chain, HEADER, this.scratch, DWZ_SEGMENT) !== DmaStatus.Ok)
      return this.finish(req, VIRTIO_BLK_S.IOERR, 'discard/write-zeroes segment not readable');
    const d = this.scratchView;
    const lo = d.getUint32(0, true);
    const hi = d.getUint32(4, true);
    const n = d.getUint32(8, true);
    const flags = d.getUint32(12, true);
    const unmap = (flags & 1) !== 0;
    if (flags & ~1 || (discard && unmap)) return this.finish(req, VIRTIO_BLK_S.UNSUPP, null);
    const sector = hi >= 0x20_0000 ? Infinity : lo + hi * 0x1_0000_0000;
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

  // ---- chain byte streams ----

  /** Copies `len` bytes of the readable stream starting at `from` into `dst`. */
  private readStream(chain: DescriptorChain, from: number, dst: Uint8Array, len: number): DmaStatus {
    let skip = from;
    let done = 0;
    for (let i = 0; i < chain.firstWritable && done < len; i++) {
      const l = chain.len[i];
      if (skip >= l) {
        skip -= l;
        continue;
      }
      const n = Math.min(l - skip, len - done);
      const s = this.mapper.copyFromGuest(chain.addr[i] + skip, dst, done, n);
      if (s !== DmaStatus.Ok) return s;
      done += n;
      skip = 0;
    }
    return done === len ? DmaStatus.Ok : DmaStatus.BadLength;
  }

  /** Copies the first `len` bytes of `src` to the start of the writable stream. */
  private writeStream(chain: DescriptorChain, src: Uint8Array, len: number): DmaStatus {
    let done = 0;
    for (let i = chain.firstWritable; i < chain.count && done < len; i++) {
      const n = Math.min(chain.len[i], len - done);
      if (n === 0) continue;
      const s = this.mapper.copyToGuest(chain.addr[i], src, done, n);
      if (s !== DmaStatus.Ok) return s;
      done += n;
    }
    return DmaStatus.Ok;
  }
}
