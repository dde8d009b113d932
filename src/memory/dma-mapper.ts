// The DMA API: a guest scatter/gather list becomes host iovecs that point
// straight into guest RAM (zero copy). Ranges the translator cannot give a
// host address for (device memory, emulated ranges) are bounced through a
// bounded buffer; a transfer whose bounced part is larger than one bounce
// buffer, or that needs more iovecs than a mapping holds, is handed out in
// pieces, each a contiguous slice of the transfer:
//
//   const m = mapper.acquire();                 // pooled, null when exhausted
//   if (mapper.map(sg, DmaAccess.Write, m) !== DmaStatus.Ok) → device error
//   while (m.nextPiece() === DmaStatus.Ok) {    // bounced data copied in (Read)
//     n = preadv(fd, m.iov.address, m.iov.count, offset + m.pieceOffset)
//     m.finishPiece(n)                           // bounced data copied out (Write)
//   }
//   m.release()
//
// map() validates the whole list before any I/O is issued: integer, in-range
// addresses and lengths, no wrap past 2^64 (numbers here stop at 2^53; no RAM
// lives above that), total ≤ maxTransfer, matching directions, and every byte
// translatable. Errors are DmaStatus values; nothing here throws on guest
// input. Nothing on the direct path allocates.
import { memcpyFromHost } from '../../ffi/block-io.js';
import { viewAt as koffiView } from '../../ffi/libc.js';
import { HostBuffer } from './dma-host-buffer.js';
import { IoVecArray } from './dma-iovec.js';
import type { DmaSgList } from './dma-sg-list.js';
import { DmaStatus } from './dma-status.js';
import { DmaAccess, DmaSpan, SpanKind, type DmaTranslator } from './dma-translator.js';

const ADDRESS_LIMIT = 2 ** 53;
const SMALL_COPY = 64;

export interface DmaMapperOptions {
  /** Pooled mappings (in-flight transfers). Default 256. */
  mappings?: number;
  /** iovecs per mapping (≤ IOV_MAX = 1024). Default 256. */
  iovecsPerMapping?: number;
  /** Largest transfer accepted, bytes. Default 64 MiB. */
  maxTransfer?: number;
  /** Most scatter/gather elements accepted in one list. Default 1024. */
  maxSegments?: number;
  /** Bytes per bounce buffer. Default 64 KiB. */
  bounceBufferSize?: number;
  /** Bounce buffers (allocated on first use). Default 4. */
  bounceBuffers?: number;
  /** Pieces other than the last end on a multiple of this (disk sector); ≤ bounceBufferSize. Default 512. */
  pieceAlignment?: number;
}

export interface DmaStats {
  /** Bytes handed out as iovecs aliasing guest RAM. */
  directBytes: number;
  /** Bytes that went through a bounce buffer. */
  bouncedBytes: number;
  mappings: number;
  pieces: number;
  /** Lists rejected by map(). */
  rejected: number;
}

export class DmaMapper {
  readonly translator: DmaTranslator;
  readonly maxTransfer: number;
  readonly maxSegments: number;
  readonly bounceBufferSize: number;
  readonly pieceAlignment: number;
  readonly stats: DmaStats = { directBytes: 0, bouncedBytes: 0, mappings: 0, pieces: 0, rejected: 0 };
  /** Called when a bounce buffer is released (a BounceBusy transfer may retry). */
  onBounceAvailable: (() => void) | null = null;

  private readonly iovMemory: HostBuffer;
  private readonly free: DmaMapping[] = [];
  private readonly all: DmaMapping[] = [];
  private readonly bounceFree: HostBuffer[] = [];
  private bounceAllocated = 0;
  private readonly bounceLimit: number;
  private readonly span = new DmaSpan();
  private released = false;

  constructor(translator: DmaTranslator, options: DmaMapperOptions = {}) {
    this.translator = translator;
    const count = options.mappings ?? 256;
    const iovs = Math.min(options.iovecsPerMapping ?? 256, 1024);
    this.maxTransfer = options.maxTransfer ?? 64 * 1024 * 1024;
    this.maxSegments = options.maxSegments ?? 1024;
    this.bounceBufferSize = options.bounceBufferSize ?? 64 * 1024;
    this.bounceLimit = options.bounceBuffers ?? 4;
    this.pieceAlignment = options.pieceAlignment ?? 512;
    if (!(count > 0 && iovs > 0 && this.bounceBufferSize > 0 && this.bounceLimit > 0 && this.pieceAlignment > 0))
      throw new RangeError('DmaMapper options must be positive');
    // A full bounce buffer ends a piece; smaller than one aligned block, it
    // would end it off the boundary.
    if (this.bounceBufferSize < this.pieceAlignment)
      throw new RangeError(`DmaMapper bounce buffer (${this.bounceBufferSize} bytes) is smaller than the piece alignment (${this.pieceAlignment})`);
    const stride = iovs * 16;
    this.iovMemory = new HostBuffer(count * stride);
    for (let i = 0; i < count; i++) {
      const mem = this.iovMemory.bytes.subarray(i * stride, (i + 1) * stride);
      const m = new DmaMapping(this, i, new IoVecArray(mem, this.iovMemory.address + i * stride, iovs));
      this.all.push(m);
    }
    for (let i = count - 1; i >= 0; i--) this.free.push(this.all[i]);
  }

  /** Number of mappings not in use. */
  get available(): number {
    return this.free.length;
  }

  /** A free mapping from the pool, or null when all are in flight. */
  acquire(): DmaMapping | null {
    const m = this.free.pop();
    if (m === undefined) return null;
    m.inUse = true;
    return m;
  }

  /**
   * Validates `sg` for a transfer in direction `access` and prepares `m` to
   * hand it out piece by piece. On error `m` stays acquired but unmapped.
   */
  map(sg: DmaSgList, access: DmaAccess, m: DmaMapping): DmaStatus {
    if (!m.inUse || m.owner !== this) return DmaStatus.InvalidState;
    m.clear();
    const status = this.validate(sg, access, m.iov);
    if (status !== DmaStatus.Ok) {
      m.iov.reset();
      this.stats.rejected++;
      return status;
    }
    m.load(sg, access, this.validatedTotal, this.validatedWhole);
    this.stats.mappings++;
    return DmaStatus.Ok;
  }

  private validatedTotal = 0;
  private validatedWhole = false;

  /**
   * Checks every element and translates every byte. The usual transfer, all
   * RAM and within one mapping's iovecs, is one piece: its iovecs are filled
   * here as the spans are translated (`validatedWhole`), so that nextPiece
   * need not translate each page again.
   */
  private validate(sg: DmaSgList, access: DmaAccess, iov: IoVecArray): DmaStatus {
    const n = sg.count;
    if (!Number.isInteger(n) || n < 0 || n > sg.capacity) return DmaStatus.InvalidState;
    if (n > this.maxSegments) return DmaStatus.TooManySegments;
    let total = 0;
    let whole = true;
    const span = this.span;
    for (let i = 0; i < n; i++) {
      const a = sg.addr[i];
      const l = sg.len[i];
      if (!Number.isInteger(l) || l < 0) return DmaStatus.BadLength;
      if (sg.access[i] !== access) return DmaStatus.Direction;
      if (l === 0) continue; // an empty element touches nothing, wherever it points
      if (!Number.isInteger(a) || a < 0 || a >= ADDRESS_LIMIT) return DmaStatus.BadAddress;
      if (l > ADDRESS_LIMIT - a) return DmaStatus.Wrap;
      total += l;
      if (total > this.maxTransfer) return DmaStatus.TooLarge;
      let pos = a;
      let rem = l;
      while (rem > 0) {
        const k = this.translator.translate(pos, rem, access, span);
        if (k === SpanKind.Fault || !(span.length > 0) || span.length > rem) return DmaStatus.Fault;
        if (whole && (k !== SpanKind.Direct || !iov.push(span.host, span.length))) whole = false;
        pos += span.length;
        rem -= span.length;
      }
    }
    if (!whole) iov.reset();
    this.validatedTotal = total;
    this.validatedWhole = whole;
    return DmaStatus.Ok;
  }

  /**
   * Copies guest memory at [addr, addr+length) into dst[offset...] (headers,
   * small control structures); direct where RAM, slow path elsewhere.
   */
  copyFromGuest(addr: number, dst: Uint8Array, offset = 0, length = dst.length - offset): DmaStatus {
    return this.copy(addr, dst, offset, length, DmaAccess.Read);
  }

  /** Copies src[offset, offset+length) into guest memory at `addr` (status bytes, small replies). */
  copyToGuest(addr: number, src: Uint8Array, offset = 0, length = src.length - offset): DmaStatus {
    return this.copy(addr, src, offset, length, DmaAccess.Write);
  }

  private copy(addr: number, buf: Uint8Array, bufOff: number, len: number, access: DmaAccess): DmaStatus {
    if (!Number.isInteger(bufOff) || !Number.isInteger(len) || bufOff < 0 || len < 0 || len > buf.length - bufOff) return DmaStatus.BadLength;
    if (len === 0) return DmaStatus.Ok;
    if (!Number.isInteger(addr) || addr < 0 || addr >= ADDRESS_LIMIT) return DmaStatus.BadAddress;
    if (len > ADDRESS_LIMIT - addr) return DmaStatus.Wrap;
    if (len > this.maxTransfer) return DmaStatus.TooLarge;
    const span = this.span;
    let done = 0;
    while (done < len) {
      const k = this.translator.translate(addr + done, len - done, access, span);
      const n = span.length;
      if (k === SpanKind.Fault || !(n > 0) || n > len - done) return DmaStatus.Fault;
      const at = bufOff + done;
      if (k === SpanKind.Direct) {
        const bytes = span.bytes;
        if (bytes !== null) {
          const off = span.offset;
          if (n <= SMALL_COPY) {
            if (access === DmaAccess.Read) for (let i = 0; i < n; i++) buf[at + i] = bytes[off + i];
            else for (let i = 0; i < n; i++) bytes[off + i] = buf[at + i];
          } else if (access === DmaAccess.Read) buf.set(bytes.subarray(off, off + n), at);
          else bytes.set(buf.subarray(at, at + n), off);
        } else if (access === DmaAccess.Read) memcpyFromHost(buf.subarray(at, at + n), span.host, n);
        else memcpyToHostAddress(span.host, buf.subarray(at, at + n));
      } else {
        const part = buf.subarray(at, at + n);
        const ok = access === DmaAccess.Read ? this.translator.readSlow(addr + done, part) : this.translator.writeSlow(addr + done, part);
        if (!ok) return DmaStatus.SlowPathFailed;
      }
      done += n;
    }
    return DmaStatus.Ok;
  }

  /** @internal */
  acquireBounce(): HostBuffer | null {
    const b = this.bounceFree.pop();
    if (b !== undefined) return b;
    if (this.released || this.bounceAllocated >= this.bounceLimit) return null;
    this.bounceAllocated++;
    return new HostBuffer(this.bounceBufferSize);
  }

  /** @internal */
  releaseBounce(b: HostBuffer): void {
    if (this.released) {
      b.release();
      return;
    }
    this.bounceFree.push(b);
    const cb = this.onBounceAvailable;
    if (cb !== null) cb();
  }

  /** @internal */
  returnMapping(m: DmaMapping): void {
    this.free.push(m);
  }

  /** Frees host memory. Mappings still in use must not be used afterwards. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const b of this.bounceFree) b.release();
    this.bounceFree.length = 0;
    this.iovMemory.release();
  }
}

function memcpyToHostAddress(host: number, src: Uint8Array): void {
  // Rare: a translator that knows only host addresses, no JS view.
  new Uint8Array(koffiView(host, src.length)).set(src);
}

/** One in-flight transfer: a validated scatter/gather list and its pieces. */
export class DmaMapping {
  /** iovecs of the current piece (stable host memory, hand to the kernel by address). */
  readonly iov: IoVecArray;
  /** Index in the mapper's pool (use as a request tag). */
  readonly index: number;
  /** @internal */ inUse = false;
  access: DmaAccess = DmaAccess.Read;
  /** Total bytes of the transfer. */
  totalLength = 0;
  /** Offset of the current piece within the transfer. */
  pieceOffset = 0;
  /** Bytes in the current piece. */
  pieceLength = 0;
  /** Bytes of the current piece that are bounced. */
  pieceBounced = 0;

  private mapped = false;
  private pieceOpen = false;
  /** map() left the whole transfer in `iov` (all RAM, one piece). */
  private wholeInIov = false;
  private sg: DmaSgList | null = null;
  private segIdx = 0;
  private segOff = 0;
  private pos = 0;
  private bounce: HostBuffer | null = null;
  // bounce records of the current piece
  private recCount = 0;
  private readonly recAddr: Float64Array;
  private readonly recBufOff: Float64Array;
  private readonly recLen: Float64Array;
  private readonly recPos: Float64Array;

  constructor(
    readonly owner: DmaMapper,
    index: number,
    iov: IoVecArray,
  ) {
    this.index = index;
    this.iov = iov;
    const cap = iov.capacity;
    this.recAddr = new Float64Array(cap);
    this.recBufOff = new Float64Array(cap);
    this.recLen = new Float64Array(cap);
    this.recPos = new Float64Array(cap);
  }

  /** @internal */
  clear(): void {
    this.mapped = false;
    this.pieceOpen = false;
    this.wholeInIov = false;
    this.sg = null;
    this.totalLength = 0;
    this.pieceOffset = 0;
    this.pieceLength = 0;
    this.pieceBounced = 0;
    this.recCount = 0;
    this.iov.reset();
  }

  /** @internal */
  load(sg: DmaSgList, access: DmaAccess, total: number, wholeInIov: boolean): void {
    this.wholeInIov = wholeInIov;
    this.sg = sg;
    this.access = access;
    this.totalLength = total;
    this.segIdx = 0;
    this.segOff = 0;
    this.pos = 0;
    this.mapped = true;
  }

  /** True when every byte has been handed out. */
  get complete(): boolean {
    return this.mapped && this.pos >= this.totalLength && !this.pieceOpen;
  }

  /**
   * Prepares the next piece in `iov` (Ok), or reports Done. For Read access
   * (device reads guest memory) bounced bytes are copied into the bounce
   * buffer here. The scatter/gather list must not change while mapped.
   */
  nextPiece(): DmaStatus {
    if (!this.mapped || this.pieceOpen || this.sg === null) return DmaStatus.InvalidState;
    if (this.pos >= this.totalLength) return DmaStatus.Done;
    if (this.wholeInIov) return this.openWholePiece();
    const owner = this.owner;
    const tr = owner.translator;
    const sg = this.sg;
    const iov = this.iov;
    const access = this.access;
    const span = spanScratch;
    const bounceSize = owner.bounceBufferSize;
    iov.reset();
    this.recCount = 0;
    let bounceUsed = 0;
    let bounceBusy = false;
    const start = this.pos;
    let pos = start;
    let segIdx = this.segIdx;
    let segOff = this.segOff;
    while (pos < this.totalLength) {
      const segLen = sg.len[segIdx];
      const rem = segLen - segOff;
      if (rem <= 0) {
        segIdx++;
        segOff = 0;
        continue;
      }
      const addr = sg.addr[segIdx] + segOff;
      const k = tr.translate(addr, rem, access, span);
      let n = span.length;
      if (k === SpanKind.Fault || !(n > 0) || n > rem) {
        this.iov.reset();
        return DmaStatus.Fault; // the memory map changed under us
      }
      if (k === SpanKind.Direct) {
        if (!iov.push(span.host, n)) break;
      } else {
        if (this.bounce === null) {
          this.bounce = owner.acquireBounce();
          if (this.bounce === null) {
            if (pos === start) return DmaStatus.BounceBusy;
            bounceBusy = true;
            break; // hand out the direct part now, bounce later
          }
        }
        const room = bounceSize - bounceUsed;
        if (room <= 0 || this.recCount >= this.recAddr.length) break;
        if (n > room) n = room;
        if (!iov.push(this.bounce.address + bounceUsed, n)) break;
        const r = this.recCount++;
        this.recAddr[r] = addr;
        this.recBufOff[r] = bounceUsed;
        this.recLen[r] = n;
        this.recPos[r] = pos;
        bounceUsed += n;
      }
      pos += n;
      segOff += n;
    }
    // A piece that is not the last ends on an aligned boundary of the
    // transfer, so that pieces of a sector-aligned transfer stay aligned.
    // Stopped short of the first boundary, there is no such piece: wait for
    // a bounce buffer, or (iovecs ran out: guest-made fragments) refuse.
    const align = owner.pieceAlignment;
    const len = pos - start;
    if (pos < this.totalLength && len < align) {
      iov.reset();
      this.recCount = 0;
      return bounceBusy ? DmaStatus.BounceBusy : DmaStatus.TooFragmented;
    }
    if (pos < this.totalLength && len > align) {
      const trim = len % align;
      if (trim > 0) {
        iov.trimEnd(trim);
        pos -= trim;
        segOff -= trim;
        while (segOff < 0) {
          segIdx--;
          segOff += sg.len[segIdx];
        }
        // drop or shorten bounce records beyond the new end
        while (this.recCount > 0) {
          const r = this.recCount - 1;
          const rEnd = this.recPos[r] + this.recLen[r];
          if (this.recPos[r] >= pos) {
            bounceUsed -= this.recLen[r];
            this.recCount--;
          } else {
            if (rEnd > pos) {
              bounceUsed -= rEnd - pos;
              this.recLen[r] = pos - this.recPos[r];
            }
            break;
          }
        }
      }
    }
    this.segIdx = segIdx;
    this.segOff = segOff;
    this.pos = pos;
    this.pieceOffset = start;
    this.pieceLength = pos - start;
    this.pieceBounced = bounceUsed;
    this.pieceOpen = true;
    owner.stats.pieces++;
    owner.stats.bouncedBytes += bounceUsed;
    owner.stats.directBytes += this.pieceLength - bounceUsed;
    if (access === DmaAccess.Read && this.recCount > 0) {
      const bytes = this.bounce!.bytes;
      for (let r = 0; r < this.recCount; r++) {
        const off = this.recBufOff[r];
        if (!tr.readSlow(this.recAddr[r], bytes.subarray(off, off + this.recLen[r]))) {
          this.pieceOpen = false;
          return DmaStatus.SlowPathFailed;
        }
      }
    }
    return DmaStatus.Ok;
  }

  /** The one piece map() already put in `iov`: the whole transfer, nothing bounced. */
  private openWholePiece(): DmaStatus {
    this.wholeInIov = false;
    this.pos = this.totalLength;
    this.pieceOffset = 0;
    this.pieceLength = this.totalLength;
    this.pieceBounced = 0;
    this.recCount = 0;
    this.pieceOpen = true;
    const stats = this.owner.stats;
    stats.pieces++;
    stats.directBytes += this.totalLength;
    return DmaStatus.Ok;
  }

  /**
   * Ends the current piece after `transferred` bytes of I/O (≤ pieceLength).
   * For Write access (device writes guest memory) bounced bytes within the
   * transferred prefix are copied back into guest memory here.
   */
  finishPiece(transferred: number): DmaStatus {
    if (!this.pieceOpen) return DmaStatus.InvalidState;
    this.pieceOpen = false;
    if (!(transferred >= 0)) transferred = 0;
    if (this.access === DmaAccess.Write && this.recCount > 0) {
      const bytes = this.bounce!.bytes;
      const tr = this.owner.translator;
      for (let r = 0; r < this.recCount; r++) {
        const rel = this.recPos[r] - this.pieceOffset;
        if (rel >= transferred) break;
        const n = Math.min(this.recLen[r], transferred - rel);
        const off = this.recBufOff[r];
        if (!tr.writeSlow(this.recAddr[r], bytes.subarray(off, off + n))) return DmaStatus.SlowPathFailed;
      }
    }
    return DmaStatus.Ok;
  }

  /** Returns the mapping (and its bounce buffer) to the pool. */
  release(): void {
    if (!this.inUse) return;
    this.inUse = false;
    this.clear();
    const b = this.bounce;
    this.bounce = null;
    this.owner.returnMapping(this);
    if (b !== null) this.owner.releaseBounce(b);
  }
}

const spanScratch = new DmaSpan();
