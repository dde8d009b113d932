// virtio-net (virtio v1.2 §5.1) over any transport and a NetBackend: queue 0
// receives, queue 1 transmits. Features: MAC, STATUS (link up), MRG_RXBUF
// (a frame may fill several receive chains), and the checksum and TSO
// offloads where the backend honours them (tap): the guest's header then
// goes to the backend as is, and the backend's to the guest.
//
// Frames are never flattened. TX: the chain after its 12-byte header becomes
// a scatter/gather list, the DmaMapper turns it into iovecs into guest RAM,
// and the backend writes them with one writev. RX: once the backend knows a
// frame's length, enough receive chains are taken to hold it, mapped the same
// way, and the backend reads the frame straight into them with readv; the
// header (num_buffers) is written last, then the chains are returned. A tap
// tells a frame's length only once it is read: the device takes chains for
// the size recent frames had (a decaying maximum: a TSO stream gets 64 KiB
// of buffers, a ping one), with the scratch buffer behind them for the rest;
// a frame longer than the guess is copied on from there (counted).
// Without MRG_RXBUF one chain must hold the frame or it is dropped.
//
// A guest that posts no receive buffers is not read for: the backend's
// socket is left alone until the driver adds buffers, so the peer holds the
// frames (nothing is dropped or duplicated here). Frames the guest cannot
// take at all (larger than its buffers without MRG_RXBUF), and those that
// arrive while its driver is not running (before DRIVER_OK, after a reset),
// are read into a scratch buffer and dropped, counted: a NIC whose driver is
// down drops what arrives, as hardware does, and a guest that never drives
// its NIC cannot stall the peer. (QEMU leaves them in the backend. That once
// seemed to lose the tap test's host pings; tried again it mostly did not:
// docs/host-kvm.md "Networking".) Once the backend has failed (the link is
// down for good), TX chains are returned unsent, counted.
// What a guest gets wrong is a counted, logged value, never an exception; a
// malformed ring marks the device DEVICE_NEEDS_RESET.
import { HostBuffer } from '../../memory/dma-host-buffer.js';
import { IoVecArray } from '../../memory/dma-iovec.js';
import { DmaMapper, type DmaMapping } from '../../memory/dma-mapper.js';
import { DmaSgList } from '../../memory/dma-sg-list.js';
import { DmaStatus, describeDmaStatus } from '../../memory/dma-status.js';
import { DmaAccess, GuestMemoryTranslator } from '../../memory/dma-translator.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { NetBackendError, SendResult, type NetBackend, type NetOffloads } from '../../net/net-backend.js';
import { ChainReader } from './chain-streams.js';
import { StructView } from './guest-struct.js';
import { VIRTIO_F, VIRTIO_ID, featureBit } from './virtio-constants.js';
import type { VirtioDevice, VirtioDeviceContext } from './virtio-device.js';
import { VIRTIO_NET_F, VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_S_LINK_UP, VirtioNetConfig, VirtioNetHdr } from './virtio-net-layout.js';
import { ChainError, DescriptorChain, PopResult, type VirtQueue } from './virtqueue.js';

export const VIRTIO_NET_QUEUE_SIZE = 256;
const RX = 0;
const TX = 1;
const HEADER = VirtioNetHdr.size;
/** Where num_buffers sits in the header: the one field the device fills for a backend that carries headers. */
const NUM_BUFFERS = VirtioNetHdr.fields.num_buffers.offset;
/** Ethernet header: the shortest frame worth sending. */
const MIN_FRAME = 14;
/**
 * Frames handled before yielding to the event loop: twice a ring's worth,
 * so that a ring full of small frames (and what the guest posts meanwhile)
 * is served in one turn. A yield is a libuv round trip (an immediate, a
 * poll, the blocking loop's wake-up): at 128 it came every 128 frames
 * received, ~10 % of a 1514-byte frame's CPU (BENCHMARKS.md, "The
 * virtio-net data path natively"). 512 of those frames take ~0.4 ms; of
 * 64 KiB frames, a few ms. No byte limit besides: one of 4 MiB cost sending
 * 64 KiB frames 5–20 % of its rate (every 64 frames a yield), and QEMU's
 * TX burst is 256 frames of any size.
 */
const FRAMES_PER_TURN = 2 * VIRTIO_NET_QUEUE_SIZE;
/** iovecs one frame may take (merged where guest buffers touch). */
const IOVECS = 258;
/** The scratch buffer: iovec arrays first, then room for a whole frame. */
const SCRATCH_DATA = 16 * IOVECS;
/** The least a tap frame's receive buffers are guessed at: a full Ethernet frame with its header. */
const RX_GUESS_MIN = HEADER + 1514;

const bits = (...b: number[]) => b.reduce((f, bit) => f | featureBit(bit), 0n);

export const VIRTIO_NET_FEATURES = bits(VIRTIO_F.VERSION_1, VIRTIO_F.RING_INDIRECT_DESC, VIRTIO_F.RING_EVENT_IDX, VIRTIO_NET_F.MAC, VIRTIO_NET_F.STATUS, VIRTIO_NET_F.MRG_RXBUF);

const { CSUM, GUEST_CSUM, HOST_TSO4, HOST_TSO6, HOST_ECN, GUEST_TSO4, GUEST_TSO6, GUEST_ECN } = VIRTIO_NET_F;

/** The offload features offered over a backend that honours `offloads` (each both ways). */
export function offloadFeatures(offloads: NetOffloads): bigint {
  return (
    (offloads.checksum ? bits(CSUM, GUEST_CSUM) : 0n) |
    (offloads.tso4 ? bits(HOST_TSO4, GUEST_TSO4) : 0n) |
    (offloads.tso6 ? bits(HOST_TSO6, GUEST_TSO6) : 0n) |
    (offloads.tsoEcn ? bits(HOST_ECN, GUEST_ECN) : 0n)
  );
}

/** Every feature a virtio-net may offer (the catalog's list). */
export const VIRTIO_NET_ALL_FEATURES = VIRTIO_NET_FEATURES | offloadFeatures({ checksum: true, tso4: true, tso6: true, tsoEcn: true });

/** What the guest takes, from what it negotiated (a TSO offload without the checksum one is not one: virtio 1.2 §5.1.3.1). */
function guestTakes(features: bigint): NetOffloads {
  const has = (bit: number) => (features & featureBit(bit)) !== 0n;
  const checksum = has(GUEST_CSUM);
  return { checksum, tso4: checksum && has(GUEST_TSO4), tso6: checksum && has(GUEST_TSO6), tsoEcn: checksum && has(GUEST_ECN) };
}

export interface VirtioNetOptions {
  /** The NIC's MAC address. */
  mac: Uint8Array;
  /** Told what the guest got wrong; the caller rate-limits the log. */
  onError?: (message: string) => void;
  /** Told once when the backend fails or its peer goes away; the link is then down. */
  onBackendError?: (message: string) => void;
}

export interface VirtioNetStats {
  txFrames: number;
  txBytes: number;
  rxFrames: number;
  rxBytes: number;
  /** TX chains returned unsent (malformed frames). */
  txDropped: number;
  /** Frames read from the backend and dropped while the driver ran (empty, larger than the guest's buffers). */
  rxDropped: number;
  /** Frames that arrived while the driver was not running (before DRIVER_OK, after a reset, while broken): drained. */
  rxDrainedWhileDown: number;
  /** Times TX waited for the backend to drain. */
  txWaits: number;
  /** Times RX waited for the guest to post buffers. */
  rxWaits: number;
  /** Bytes of received frames copied, not read straight into the guest's buffers: a tap frame's part beyond the buffers taken for it (from the scratch buffer), a stream's small frames read ahead. */
  rxCopiedBytes: number;
  /** Bytes of sent frames the backend copied to write several with one call (a stream's small frames). */
  txCopiedBytes: number;
  /** The longest frame sent and received (bytes, no header): above the MTU, segmentation offload was used. */
  txLongestFrame: number;
  rxLongestFrame: number;
}

export class VirtioNet implements VirtioDevice {
  readonly deviceId = VIRTIO_ID.NET;
  readonly deviceFeatures: bigint;
  readonly queueMaxSizes = [VIRTIO_NET_QUEUE_SIZE, VIRTIO_NET_QUEUE_SIZE] as const;
  readonly configSize = VirtioNetConfig.size;
  readonly stats: VirtioNetStats = { txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, txDropped: 0, rxDropped: 0, rxDrainedWhileDown: 0, txWaits: 0, rxWaits: 0, rxCopiedBytes: 0, txCopiedBytes: 0, txLongestFrame: 0, rxLongestFrame: 0 };
  readonly mapper: DmaMapper;

  private readonly config = new StructView(VirtioNetConfig);
  private readonly header = new StructView(VirtioNetHdr);
  /** The header of a frame that came without one (a stream's): no checksum or segmentation to report. */
  private readonly plainHeader = new StructView(VirtioNetHdr)
    .set('flags', 0)
    .set('gso_type', VIRTIO_NET_HDR_GSO_NONE)
    .set('hdr_len', 0)
    .set('gso_size', 0)
    .set('csum_start', 0)
    .set('csum_offset', 0).bytes;
  private readonly chain = new DescriptorChain();
  private readonly reader: ChainReader;
  private ctx: VirtioDeviceContext | null = null;
  /** The guest took MRG_RXBUF (set at activation: the features are BigInts, dear to test per frame). */
  private mergeable = false;
  private backendFailed = false;
  private resume: NodeJS.Immediate | null = null;

  // TX: the frame being sent (kept across Busy).
  private readonly txSg = new DmaSgList(IOVECS);
  private txMapping: DmaMapping | null = null;
  private txHead = -1;
  /** The queue's epoch when the frame was taken: after a reset it is sent to the end but not returned. */
  private txEpoch = 0;

  // RX: the frame being received (kept until the backend has all of it).
  private readonly rxSg = new DmaSgList(IOVECS);
  private rxMapping: DmaMapping | null = null;
  private readonly rxHeads = new Uint16Array(VIRTIO_NET_QUEUE_SIZE);
  private readonly rxRoom = new Float64Array(VIRTIO_NET_QUEUE_SIZE);
  private rxChains = 0;
  /** Bytes of guest buffer the mapped chains hold (header included). */
  private rxRoomTotal = 0;
  /** The receive buffer size to take for a tap frame: decays from the largest recent frame. */
  private rxGuess = RX_GUESS_MIN;
  private readonly rxIov: IoVecArray;
  private rxWaitingForBuffers = false;
  /** The backend's copiedIn as last added to the stats. */
  private backendCopiedIn = 0;
  /** A frame nobody can take is read into this and dropped. */
  private readonly scratch: HostBuffer;
  private readonly scratchIov: IoVecArray;
  private dropping = false;
  private epoch = 0;

  constructor(
    readonly name: string,
    private readonly backend: NetBackend,
    memory: GuestMemory,
    private readonly options: VirtioNetOptions,
  ) {
    if (options.mac.length !== 6) throw new RangeError('a MAC address has 6 bytes');
    this.deviceFeatures = VIRTIO_NET_FEATURES | offloadFeatures(backend.offloads);
    options.mac.forEach((b, i) => this.config.set(`mac[${i}]` as `mac[${0}]`, b));
    this.config.set('status', VIRTIO_NET_S_LINK_UP).set('max_virtqueue_pairs', 1);
    this.mapper = new DmaMapper(new GuestMemoryTranslator(memory), {
      mappings: 2,
      iovecsPerMapping: IOVECS,
      maxSegments: IOVECS,
      maxTransfer: backend.maxFrame + HEADER,
      bounceBufferSize: backend.maxFrame + HEADER,
      pieceAlignment: 1,
    });
    this.reader = new ChainReader(this.mapper);
    this.scratch = new HostBuffer(SCRATCH_DATA + backend.maxFrame + HEADER);
    this.scratchIov = new IoVecArray(this.scratch.bytes.subarray(0, 16), this.scratch.address, 1);
    this.scratchIov.push(this.scratch.address + SCRATCH_DATA, backend.maxFrame + HEADER);
    this.rxIov = new IoVecArray(this.scratch.bytes.subarray(16, SCRATCH_DATA), this.scratch.address + 16, IOVECS - 1);
  }

  // ---- VirtioDevice ----

  readConfig(offset: number, data: Uint8Array): void {
    data.set(this.config.bytes.subarray(offset, offset + data.length));
  }

  writeConfig(): void {
    // Nothing is writable (no CTRL_MAC_ADDR).
  }

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
    this.mergeable = (ctx.features & featureBit(VIRTIO_NET_F.MRG_RXBUF)) !== 0n;
    this.dropping = false;
    try {
      this.backend.setOffloads(guestTakes(ctx.features));
    } catch (e) {
      if (!(e instanceof NetBackendError)) throw e;
      this.fail(e.message);
    }
    this.serve();
  }

  queueNotify(index: number): void {
    if (index === RX) this.rxWaitingForBuffers = false;
    this.serve();
  }

  reset(): void {
    this.ctx = null;
    this.dropInFlight();
  }

  queueDisabled(): void {
    this.dropInFlight();
  }

  /** The link is down for good once the backend failed. */
  get linkUp(): boolean {
    return !this.backendFailed;
  }

  close(): void {
    this.ctx = null;
    if (this.resume !== null) clearImmediate(this.resume);
    this.releaseRx();
    this.txMapping?.release();
    this.txMapping = null;
    this.backend.close();
    this.mapper.release();
    this.scratch.release();
  }

  private dropInFlight(): void {
    // Chains taken from the old rings are forgotten. A frame half read is
    // finished into the scratch buffer; one half sent goes out to its end
    // (the stream's framing depends on both), without returning its chain.
    this.epoch++;
    if (this.backend.midFrame) this.dropping = true;
    this.releaseRx();
    this.rxWaitingForBuffers = false;
    this.updateWatch();
  }

  // ---- the work loop ----

  private serve(): void {
    if (this.resume !== null) return;
    if (this.backendFailed) return this.returnTxUnsent();
    try {
      const txLeft = this.transmit();
      this.backend.flush();
      this.stats.txCopiedBytes = this.backend.copiedOut;
      const rxLeft = this.receive();
      if (txLeft || rxLeft) this.resume = setImmediate(() => ((this.resume = null), this.serve()));
    } catch (e) {
      if (!(e instanceof NetBackendError)) throw e;
      this.fail(e.message);
    }
    this.updateWatch();
  }

  /** Sends available frames; true when the turn's budget ran out with more to do. */
  private transmit(): boolean {
    const ctx = this.ctx;
    const q = ctx?.queues[TX];
    let used = false;
    try {
      for (let budget = FRAMES_PER_TURN; budget > 0; budget--) {
        if (this.txMapping === null) {
          if (q === undefined || !q.ready || ctx!.broken) return false;
          const r = q.pop(this.chain);
          if (r === PopResult.Empty) {
            if (q.enableNotifications()) continue;
            return false;
          }
          q.disableNotifications();
          if (r === PopResult.Broken) {
            ctx!.markBroken(`virtio-net: malformed TX descriptor chain (${ChainError[this.chain.error]})`);
            return false;
          }
          if (!this.takeTxFrame(this.chain)) {
            q.pushUsed(this.chain.head, 0);
            used = true;
            continue;
          }
        }
        if (this.backend.send(this.txMapping!.iov) === SendResult.Busy) {
          this.stats.txWaits++;
          return false;
        }
        const sent = this.txMapping!.totalLength - this.backend.headerBytes;
        this.stats.txFrames++;
        this.stats.txBytes += sent;
        if (sent > this.stats.txLongestFrame) this.stats.txLongestFrame = sent;
        this.txMapping!.release();
        this.txMapping = null;
        if (this.txEpoch === this.epoch && q !== undefined) {
          q.pushUsed(this.txHead, 0);
          used = true;
        }
      }
      return true;
    } finally {
      if (used && ctx && q) ctx.signalUsed(q);
    }
  }

  /** Maps a TX chain's frame for the backend; false (chain to return unsent) when it is unusable. */
  private takeTxFrame(chain: DescriptorChain): boolean {
    const reader = this.reader.reset(chain);
    const hb = this.backend.headerBytes;
    const why =
      chain.error !== ChainError.None ? `buffers outside guest memory (${ChainError[chain.error]})`
      : chain.writableBytes !== 0 ? 'a device-writable buffer in a TX chain'
      : reader.remaining < HEADER + MIN_FRAME ? `a frame of ${reader.remaining} bytes with its header (at least ${HEADER + MIN_FRAME})`
      : reader.remaining - HEADER > this.backend.maxFrame - hb ? `a frame of ${reader.remaining - HEADER} bytes (at most ${this.backend.maxFrame - hb})`
      : null;
    if (why !== null) return this.dropTx(why);
    if (hb === 0) reader.skip(HEADER);
    const length = reader.remaining;
    this.txSg.reset();
    if (!reader.takeSegments(length, this.txSg, DmaAccess.Read)) return this.dropTx(`a frame in more than ${IOVECS} pieces`);
    const m = this.mapper.acquire()!;
    const s = this.mapper.map(this.txSg, DmaAccess.Read, m);
    const p = s === DmaStatus.Ok ? m.nextPiece() : s;
    if (p !== DmaStatus.Ok || m.pieceLength !== length || m.pieceBounced !== 0) {
      m.release();
      return this.dropTx(`frame buffers: ${p === DmaStatus.Ok ? 'not all in guest RAM' : describeDmaStatus(p)}`);
    }
    this.txMapping = m;
    this.txHead = chain.head;
    this.txEpoch = this.epoch;
    return true;
  }

  private dropTx(why: string): false {
    this.stats.txDropped++;
    this.options.onError?.(`virtio-net ${this.name}: TX chain ${this.chain.head} dropped: ${why}`);
    return false;
  }

  /** Receives waiting frames into guest buffers; true when the turn's budget ran out with more to do. */
  private receive(): boolean {
    const ctx = this.ctx;
    const q = ctx?.queues[RX];
    let used = false;
    try {
      for (let budget = FRAMES_PER_TURN; budget > 0; budget--) {
        const deliver = !this.dropping && q !== undefined && q.ready && !ctx!.broken;
        if (this.rxMapping === null && deliver && this.rxWaitingForBuffers) return false;
        const length = this.backend.nextFrameLength();
        if (length < 0) return false;
        if (!deliver || length === 0) {
          if (this.dropFrame(!deliver)) continue;
          return false;
        }
        if (this.rxMapping === null) {
          const taken = this.takeRxBuffers(q!, length);
          if (taken === 'wait') {
            this.rxWaitingForBuffers = true;
            this.stats.rxWaits++;
            if (!q!.enableNotifications()) return false;
            this.rxWaitingForBuffers = false;
            continue;
          }
          if (taken === 'broken') return false;
          if (taken === 'too-small') {
            this.options.onError?.(`virtio-net ${this.name}: a ${length}-byte frame does not fit the guest's receive buffer (no MRG_RXBUF)`);
            if (this.dropFrame(false)) continue;
            return false;
          }
        }
        const got = this.backend.receive(this.rxIov);
        if (got < 0) return false;
        this.completeRx(q!, got);
        used = true;
      }
      return true;
    } finally {
      if (used && ctx && q) ctx.signalUsed(q);
    }
  }

  /**
   * Takes receive chains for a `length`-byte frame and its header (for a tap,
   * whose frames' lengths are known only once read: for the guessed size,
   * with the scratch buffer behind them), and maps them into rxIov (the part
   * the backend fills).
   */
  private takeRxBuffers(q: VirtQueue, length: number): 'ok' | 'wait' | 'broken' | 'too-small' {
    const ctx = this.ctx!;
    const hb = this.backend.headerBytes;
    const needed = HEADER + length - hb;
    const mergeable = this.mergeable;
    const target = this.backend.lengthKnown ? needed : mergeable ? Math.min(needed, this.rxGuess) : 1;
    this.rxSg.reset();
    this.rxChains = 0;
    let room = 0;
    while (room < target) {
      if (this.rxChains > 0 && !mergeable) {
        q.unpop(this.rxChains);
        this.rxChains = 0;
        return 'too-small';
      }
      const taken = this.takeRxChain(q, needed - room, true);
      if (typeof taken !== 'number') {
        if (taken !== 'broken') q.unpop(this.rxChains);
        this.rxChains = 0;
        return taken === 'fragmented' ? this.dropRxTooFragmented() : taken;
      }
      room += taken;
    }
    const m = this.mapper.acquire()!;
    const s = this.mapper.map(this.rxSg, DmaAccess.Write, m);
    const p = s === DmaStatus.Ok ? m.nextPiece() : s;
    if (p !== DmaStatus.Ok || m.pieceLength !== room || m.pieceBounced !== 0) {
      m.release();
      ctx.markBroken(`virtio-net: RX buffers: ${p === DmaStatus.Ok ? 'not all in guest RAM' : describeDmaStatus(p)}`);
      this.rxChains = 0;
      return 'broken';
    }
    this.rxMapping = m;
    this.rxRoomTotal = room;
    // Without a backend header the device writes it: the backend fills what follows.
    this.rxIov.reset();
    const tail = needed - room;
    if (!this.rxIov.appendFrom(m.iov, hb === 0 ? HEADER : 0) || (tail > 0 && !this.rxIov.push(this.scratch.address + SCRATCH_DATA, tail))) {
      q.unpop(this.rxChains);
      this.releaseRx();
      return this.dropRxTooFragmented();
    }
    return 'ok';
  }

  /**
   * Pops one receive chain for up to `want` more bytes: the bytes of it used
   * (its buffers pushed to rxSg when `map`), 'wait' when the ring is empty,
   * 'broken' (device marked) when the chain is unusable, 'fragmented' (given
   * back) when its buffers do not fit rxSg.
   */
  private takeRxChain(q: VirtQueue, want: number, map: boolean): number | 'wait' | 'broken' | 'fragmented' {
    if (this.rxChains === this.rxHeads.length) return 'wait';
    const r = q.pop(this.chain);
    if (r === PopResult.Empty) return 'wait';
    const c = this.chain;
    if (r === PopResult.Broken || c.error !== ChainError.None || c.firstWritable !== 0 || c.writableBytes === 0) {
      const why = r === PopResult.Broken || c.error !== ChainError.None ? ChainError[c.error] : 'not a device-writable buffer';
      this.ctx!.markBroken(`virtio-net: unusable RX descriptor chain (${why})`);
      return 'broken';
    }
    const take = Math.min(c.writableBytes, want);
    for (let i = 0, left = take; map && i < c.count && left > 0; i++) {
      const l = Math.min(c.len[i], left);
      if (l > 0 && !this.rxSg.push(c.addr[i], l, DmaAccess.Write)) {
        q.unpop(1);
        return 'fragmented';
      }
      left -= l;
    }
    this.rxHeads[this.rxChains] = c.head;
    this.rxRoom[this.rxChains] = c.writableBytes;
    this.rxChains++;
    return take;
  }

  private dropRxTooFragmented(): 'too-small' {
    this.options.onError?.(`virtio-net ${this.name}: receive buffers in more than ${IOVECS} pieces`);
    return 'too-small';
  }

  /** The frame is in: header, used lengths, chains back to the guest. */
  private completeRx(q: VirtQueue, got: number): void {
    const hb = this.backend.headerBytes;
    const total = HEADER + got - hb;
    if (total > this.rxRoomTotal && !this.copyRxOverflow(q, total)) {
      this.stats.rxDropped++;
      this.releaseRx();
      return;
    }
    this.rxGuess = Math.max(RX_GUESS_MIN, total, this.rxGuess - (this.rxGuess >>> 3));
    let chains = 0;
    for (let left = total; left > 0; chains++) left -= Math.min(left, this.rxRoom[chains]);
    if (chains < this.rxChains) q.unpop(this.rxChains - chains);
    // A backend's header is in the guest's buffers already, all but
    // num_buffers (a tap skips those 2 bytes); a bare frame's is written whole.
    if (hb === 0) this.header.bytes.set(this.plainHeader);
    this.header.set('num_buffers', chains);
    const from = hb === 0 ? 0 : NUM_BUFFERS;
    this.copyRxHead(this.header.bytes, from, HEADER - from);
    for (let i = 0, left = total; i < chains; i++) {
      const n = Math.min(left, this.rxRoom[i]);
      q.pushUsed(this.rxHeads[i], n);
      left -= n;
    }
    const frame = got - hb;
    this.stats.rxCopiedBytes += this.backend.copiedIn - this.backendCopiedIn;
    this.backendCopiedIn = this.backend.copiedIn;
    this.stats.rxFrames++;
    this.stats.rxBytes += frame;
    if (frame > this.stats.rxLongestFrame) this.stats.rxLongestFrame = frame;
    this.releaseRx();
  }

  /**
   * A tap frame longer than the buffers taken for it: the rest, in the
   * scratch buffer, is copied into further chains (MRG_RXBUF). False (the
   * chains all given back, the frame to drop) when it cannot be.
   */
  private copyRxOverflow(q: VirtQueue, total: number): boolean {
    const mergeable = this.mergeable;
    let copied = 0;
    let why = mergeable ? '' : 'does not fit the receive buffer (no MRG_RXBUF)';
    while (!why && this.rxRoomTotal + copied < total) {
      const taken = this.takeRxChain(q, total - this.rxRoomTotal - copied, false);
      if (taken === 'broken') return (this.rxChains = 0), false;
      if (typeof taken !== 'number') {
        why = 'arrived while the receive ring ran out'; // ('fragmented' is only for mapped chains)
        break;
      }
      const c = this.chain;
      for (let i = 0, left = taken; i < c.count && left > 0; i++) {
        const n = Math.min(c.len[i], left);
        if (this.mapper.copyToGuest(c.addr[i], this.scratch.bytes, SCRATCH_DATA + copied, n) !== DmaStatus.Ok) {
          this.ctx!.markBroken('virtio-net: RX buffers outside guest RAM');
          return (this.rxChains = 0), false;
        }
        copied += n;
        left -= n;
      }
    }
    if (why) {
      q.unpop(this.rxChains);
      this.rxChains = 0;
      this.options.onError?.(`virtio-net ${this.name}: a ${total - HEADER}-byte frame ${why}: dropped`);
      return false;
    }
    this.stats.rxCopiedBytes += copied;
    return true;
  }

  /** Reads (drops) the next frame into the scratch buffer; false while it is still coming. */
  private dropFrame(whileDown: boolean): boolean {
    if (this.backend.receive(this.scratchIov) < 0) return false;
    if (whileDown) this.stats.rxDrainedWhileDown++;
    else this.stats.rxDropped++;
    this.dropping = false;
    return true;
  }

  /** Copies bytes [from, from + n) of `header` to the same place in the mapped receive buffers. */
  private copyRxHead(header: Uint8Array, from: number, n: number): void {
    const sg = this.rxSg;
    for (let i = 0, start = 0, end = from + n; i < sg.count && start < end; i++) {
      const len = sg.len[i];
      const lo = Math.max(from, start);
      const hi = Math.min(end, start + len);
      if (hi > lo) this.mapper.copyToGuest(sg.addr[i] + (lo - start), header, lo, hi - lo);
      start += len;
    }
  }

  private releaseRx(): void {
    this.rxMapping?.release();
    this.rxMapping = null;
    this.rxChains = 0;
  }

  /** With the link down for good the guest's TX buffers still come back: unsent, counted as dropped. */
  private returnTxUnsent(): void {
    const ctx = this.ctx;
    const q = ctx?.queues[TX];
    if (q === undefined || !q.ready || ctx!.broken) return;
    let returned = 0;
    if (this.txMapping !== null) {
      this.txMapping.release();
      this.txMapping = null;
      if (this.txEpoch === this.epoch) q.pushUsed(this.txHead, 0), returned++;
    }
    for (let r = q.pop(this.chain); r !== PopResult.Empty; r = q.pop(this.chain)) {
      if (r === PopResult.Broken) {
        ctx!.markBroken(`virtio-net: malformed TX descriptor chain (${ChainError[this.chain.error]})`);
        break;
      }
      q.pushUsed(this.chain.head, 0);
      returned++;
    }
    this.stats.txDropped += returned;
    if (returned > 0) ctx!.signalUsed(q);
  }

  private fail(message: string): void {
    if (this.backendFailed) return;
    this.backendFailed = true;
    this.config.set('status', 0);
    this.ctx?.signalConfigChange();
    this.options.onBackendError?.(message);
  }

  /** Watches the backend for what the device waits on: a frame to receive, room to send. */
  private updateWatch(): void {
    if (this.backendFailed) {
      this.backend.watch({ readable: false, writable: false }, () => {});
      return;
    }
    const rxReady = this.ctx !== null && this.ctx.queues[RX].ready && !this.rxWaitingForBuffers;
    const readable = rxReady || this.dropping || this.rxMapping !== null || this.ctx === null;
    const writable = this.txMapping !== null || this.backend.pendingOutput;
    this.backend.watch({ readable, writable }, () => this.serve());
  }
}
