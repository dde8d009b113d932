// Fuzz target: virtio-blk (src/devices/virtio/virtio-blk.ts) behind its
// virtio-mmio transport, driven by a hostile guest driver: well-formed
// requests (IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES, unknown types,
// direct or indirect, header split or not) whose descriptors are then
// mutated (addresses outside RAM, into holes, past 2^64; lengths; flags;
// next indices), garbage avail indices, random register writes, QueueReady=0
// and resets with requests in flight, and a fake in-memory block backend that
// completes requests later, in random order, some with -EIO.
// Invariants: nothing throws; the device never hands the backend an iovec
// outside guest RAM, never a read iovec outside a buffer the driver marked
// device-writable, never a request past the end of the disk, never a write
// to a read-only disk; no guest byte changes outside device-writable buffers
// and the used ring; once every completion is delivered nothing is in flight;
// used elements name heads inside the queue; and a driver that only posts
// well-formed requests (and no errors are injected) gets status OK for every
// one and a device that is not broken.
import type { BlockBackend, BlockCompletion } from '../../src/block/block-backend.js';
import { VIRTIO_F, VIRTQ_DESC_F_WRITE, featureBit } from '../../src/devices/virtio/virtio-constants.js';
import { VIRTIO_BLK_F, VIRTIO_BLK_S, VIRTIO_BLK_T, VirtioBlk } from '../../src/devices/virtio/virtio-blk.js';
import { VIRTIO_MMIO, VirtioMmioTransport } from '../../src/devices/virtio/virtio-mmio.js';
import type { IoVecList } from '../../src/memory/dma-iovec.js';
import { Outcomes, Prng, check, show, type FuzzTarget } from './harness.js';
import { GuestRam, type Range } from './guest-ram.js';
import { BufferArea, ChainPoster, applyMutations, covered, hostileMutations, initDevice, scanWritable, setupQueue, write32, type DescriptorMutation, type FuzzDescriptor, type QueueRings } from './mmio-fuzz-driver.js';

const QUEUE_MAX = 32;
const DISK_SECTORS = 256;
const DESC = 0x10000;
const AVAIL = 0x11000;
const USED = 0x12000;
const INDIRECT = 0x13000; // 8 tables of 64 descriptors
const HEADERS = 0x15000; // 32-byte slots
const STATUS = 0x17000;
const DATA_START = 0x20000;
const RINGS: QueueRings = { desc: DESC, avail: AVAIL, used: USED, indirect: INDIRECT };

interface Pending {
  op: 'read' | 'write' | 'flush' | 'discard' | 'zeroes';
  offset: number;
  length: number;
  iov: { gpa: number; len: number }[];
  done: BlockCompletion;
  tag: number;
}

/** A disk in memory whose requests complete only when the fuzzer says so. */
class MemBackend implements BlockBackend {
  readonly kind = 'sync' as const;
  readonly size = DISK_SECTORS * 512;
  readonly direct = false;
  readonly logicalBlockSize = 512;
  readonly canDiscard = true;
  readonly canWriteZeroes = true;
  readonly disk = new Uint8Array(this.size);
  pending: Pending[] = [];
  failRate = 0;
  rng = new Prng(0);
  outcomes: Outcomes | null = null;
  /** Called after a batch's completions, before the device hears the batch ended. */
  beforeBatchEnd: (() => void) | null = null;
  /** Ranges the device may write, kept current by the target. */
  writable: Range[] = [];

  constructor(
    readonly readOnly: boolean,
    private readonly ram: GuestRam,
  ) {}

  get inFlight(): number {
    return this.pending.length;
  }

  private request(op: Pending['op'], offset: number, length: number, done: BlockCompletion, tag: number, iov?: IoVecList): void {
    check(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= this.size, `${op} of ${length} bytes at ${offset}: past the end of a ${this.size}-byte disk`);
    check(!(this.readOnly && op !== 'read' && op !== 'flush'), `${op} submitted to a read-only disk`);
    const list: { gpa: number; len: number }[] = [];
    if (iov) {
      for (let i = 0; i < iov.count; i++) {
        const base = iov.base(i);
        const len = iov.len(i);
        const gpa = this.ram.gpaOfHost(base, len);
        check(gpa !== undefined, `${op}: iovec ${i} (${len} bytes at host ${base}) is not inside guest RAM`);
        if (op === 'read') check(covered(this.writable, gpa, len), `read: iovec ${i} (${len} bytes at guest ${gpa}) is not inside a device-writable buffer`);
        list.push({ gpa, len });
      }
      check(list.reduce((n, v) => n + v.len, 0) === length, `${op}: iovecs do not add up to ${length}`);
    }
    this.pending.push({ op, offset, length, iov: list, done, tag });
  }

  readv(offset: number, iov: IoVecList, done: BlockCompletion, tag: number): void {
    this.request('read', offset, iov.length, done, tag, iov);
  }
  writev(offset: number, iov: IoVecList, done: BlockCompletion, tag: number): void {
    this.request('write', offset, iov.length, done, tag, iov);
  }
  flush(done: BlockCompletion, tag: number): void {
    this.request('flush', 0, 0, done, tag);
  }
  discard(offset: number, length: number, done: BlockCompletion, tag: number): void {
    this.request('discard', offset, length, done, tag);
  }
  writeZeroes(offset: number, length: number, done: BlockCompletion, tag: number): void {
    this.request('zeroes', offset, length, done, tag);
  }

  /** Completes up to `n` pending requests in random order, then ends the batch. */
  deliver(n: number): void {
    const targets = new Set<BlockCompletion>();
    for (; n > 0 && this.pending.length > 0; n--) {
      const p = this.pending.splice(this.rng.below(this.pending.length), 1)[0];
      this.outcomes?.add(`backend ${p.op}`);
      const fail = this.rng.chance(this.failRate);
      let pos = p.offset;
      for (const v of p.iov) {
        const mem = this.ram.view(v.gpa, v.len)!;
        if (!fail && p.op === 'read') mem.set(this.disk.subarray(pos, pos + v.len));
        if (!fail && p.op === 'write') this.disk.set(mem, pos);
        pos += v.len;
      }
      if (!fail && (p.op === 'discard' || p.op === 'zeroes')) this.disk.fill(0, p.offset, p.offset + p.length);
      p.done.blockComplete(p.tag, fail ? -5 : p.op === 'read' || p.op === 'write' ? p.length : 0);
      targets.add(p.done);
    }
    this.beforeBatchEnd?.();
    for (const t of targets) t.blockBatchEnd?.();
  }

  drain(): void {
    while (this.pending.length > 0) this.deliver(this.pending.length);
  }

  close(): void {
    this.pending = [];
  }
}

interface SegSpec {
  len: number;
  writable: boolean;
}

interface ChainSpec {
  type: number;
  sector: bigint;
  segs: SegSpec[];
  indirect: boolean;
  split: boolean;
  status: boolean;
  /** For DISCARD / WRITE_ZEROES: the segment's sector, count and flags. */
  dwz?: { sector: bigint; count: number; flags: number };
  mutations: DescriptorMutation[];
}

type Step =
  | { step: 'post'; chains: ChainSpec[]; notify: boolean }
  | { step: 'complete'; n: number }
  | { step: 'register'; offset: number; value: number }
  | { step: 'availIdx'; value: number }
  | { step: 'queueOff' }
  | { step: 'reset' };

interface BlkInput {
  readOnly: boolean;
  features: bigint;
  queueSize: number;
  /** Only well-formed requests, no injected errors, no hostile steps: every request must succeed. */
  clean: boolean;
  failRate: number;
  backendSeed: number;
  steps: Step[];
}

function randomChain(rng: Prng, clean: boolean, discard: boolean, readOnly: boolean): ChainSpec {
  const pickType = (): number => {
    const all = [VIRTIO_BLK_T.IN, VIRTIO_BLK_T.OUT, VIRTIO_BLK_T.FLUSH, VIRTIO_BLK_T.GET_ID, VIRTIO_BLK_T.DISCARD, VIRTIO_BLK_T.WRITE_ZEROES];
    if (clean) return rng.pick(discard ? all : readOnly ? [VIRTIO_BLK_T.IN, VIRTIO_BLK_T.FLUSH, VIRTIO_BLK_T.GET_ID] : all.slice(0, 4));
    return rng.chance(0.9) ? rng.pick(all) : rng.pick([5, 2, 7, 0xffffffff, rng.u32()]);
  };
  const type = pickType();
  const sectors = rng.range(0, 16);
  const segs: SegSpec[] = [];
  const dataWritable = type === VIRTIO_BLK_T.IN || type === VIRTIO_BLK_T.GET_ID;
  if (type === VIRTIO_BLK_T.IN || type === VIRTIO_BLK_T.OUT) {
    let left = sectors * 512;
    while (left > 0) {
      const l = Math.min(left, clean ? rng.pick([512, 1024, 4096]) : rng.pick([512, 1024, 4096, rng.range(1, 3000)]));
      segs.push({ len: l, writable: dataWritable });
      left -= l;
    }
  } else if (type === VIRTIO_BLK_T.GET_ID) segs.push({ len: rng.pick([20, 20, 1, 64]), writable: true });
  else if (type === VIRTIO_BLK_T.DISCARD || type === VIRTIO_BLK_T.WRITE_ZEROES) segs.push({ len: 16, writable: false });
  if (!clean && rng.chance(0.2)) segs.push({ len: rng.below(5000), writable: rng.chance(0.5) });
  const maxSector = DISK_SECTORS - sectors;
  const chain: ChainSpec = {
    type,
    sector: clean || rng.chance(0.85) ? BigInt(rng.below(maxSector + 1)) : rng.pick([BigInt(DISK_SECTORS), (1n << 64n) - 1n, 1n << 55n, BigInt(maxSector + 1)]),
    segs,
    indirect: clean || rng.chance(0.3) || segs.length > 8,
    split: rng.chance(0.2),
    status: clean || rng.chance(0.97),
    mutations: [],
  };
  if (type === VIRTIO_BLK_T.DISCARD || type === VIRTIO_BLK_T.WRITE_ZEROES) {
    const count = clean ? rng.range(0, 8) : rng.chance(0.8) ? rng.range(0, 64) : rng.u32();
    chain.dwz = {
      sector: BigInt(clean ? rng.below(DISK_SECTORS - 8) : rng.below(DISK_SECTORS + 4)),
      count,
      flags: clean ? (type === VIRTIO_BLK_T.WRITE_ZEROES && rng.chance(0.5) ? 1 : 0) : rng.chance(0.8) ? rng.below(2) : rng.u32(),
    };
  }
  if (!clean) chain.mutations = hostileMutations(rng, { lengths: [0, 1, 15, 17, 511, 513], queueSize: QUEUE_MAX, buffers: DATA_START });
  return chain;
}

export class VirtioBlkTarget implements FuzzTarget<BlkInput> {
  readonly name = 'virtio-blk';
  readonly description = 'virtio-blk over virtio-mmio: hostile chains, rings, request headers; completions in random order';
  readonly outcomes = new Outcomes();
  private readonly ram = new GuestRam();
  private readonly devices: { blk: VirtioBlk; t: VirtioMmioTransport; backend: MemBackend }[];
  private readonly poster = new ChainPoster(this.ram, RINGS, QUEUE_MAX, HEADERS);
  // per-input driver state
  private readonly buffers = new BufferArea(DATA_START);
  private headerNext = 0;
  private statusNext = 0;
  private writable: Range[] = [];
  private statuses: number[] = [];

  constructor() {
    this.devices = [false, true].map((readOnly) => {
      const backend = new MemBackend(readOnly, this.ram);
      backend.outcomes = this.outcomes;
      const blk = new VirtioBlk(backend, this.ram.memory, { serial: 'fuzz', queueSize: QUEUE_MAX });
      const t = new VirtioMmioTransport(blk, this.ram.memory, { trigger() {}, setLevel() {} });
      return { blk, t, backend };
    });
  }

  generate(rng: Prng): BlkInput {
    const readOnly = rng.chance(0.2);
    const clean = rng.chance(0.2);
    const offered = this.devices[readOnly ? 1 : 0].blk.deviceFeatures;
    let features = offered;
    if (!clean && rng.chance(0.5)) features &= BigInt(rng.u32()) | (BigInt(rng.u32()) << 32n) | (rng.chance(0.9) ? featureBit(VIRTIO_F.VERSION_1) : 0n);
    if (clean && rng.chance(0.3)) features &= ~featureBit(VIRTIO_F.RING_EVENT_IDX);
    const discard = (features & featureBit(VIRTIO_BLK_F.DISCARD)) !== 0n && (features & featureBit(VIRTIO_BLK_F.WRITE_ZEROES)) !== 0n;
    const queueSize = clean || rng.chance(0.95) ? rng.pick([2, 4, 8, 16, 32]) : rng.pick([0, 3, 64, 1 << 16]);
    const steps: Step[] = [];
    for (let n = rng.range(1, 8); n > 0; n--) {
      const k = rng.below(100);
      if (k < 45 || clean) {
        const chains = Array.from({ length: rng.range(1, clean ? Math.min(queueSize, 6) : 10) }, () => randomChain(rng, clean, discard && !readOnly, readOnly));
        steps.push({ step: 'post', chains, notify: clean || rng.chance(0.9) });
        // a clean driver lets every request finish before reusing descriptors and tables
        if (clean) steps.push({ step: 'complete', n: 1000 });
      } else if (k < 75) steps.push({ step: 'complete', n: rng.range(1, 40) });
      else if (k < 85) steps.push({ step: 'register', offset: 4 * rng.below(0x44), value: rng.chance(0.5) ? rng.below(4) : rng.u32() });
      else if (k < 92) steps.push({ step: 'availIdx', value: rng.below(0x10000) });
      else steps.push(rng.chance(0.5) ? { step: 'queueOff' } : { step: 'reset' });
    }
    return { readOnly, features, queueSize, clean, failRate: clean || rng.chance(0.5) ? 0 : rng.pick([0.1, 0.5, 1]), backendSeed: rng.u32(), steps };
  }

  describe(input: BlkInput): string {
    return show(input, 6000);
  }

  private init(t: VirtioMmioTransport, input: BlkInput): void {
    initDevice(t, input.features, [RINGS], [input.queueSize]);
    this.poster.reset();
  }

  private setupQueue(t: VirtioMmioTransport, input: BlkInput): void {
    setupQueue(t, 0, RINGS, input.queueSize);
    this.poster.reset();
  }

  execute(input: BlkInput): void {
    const { blk, t, backend } = this.devices[input.readOnly ? 1 : 0];
    const ram = this.ram;
    write32(t, VIRTIO_MMIO.STATUS, 0); // reset: drops whatever the last input left
    check(backend.pending.length === 0 && blk.inFlight === 0, 'requests still in flight after a reset');
    ram.clear();
    backend.disk.fill(0x5a);
    backend.failRate = input.failRate;
    backend.rng = new Prng(input.backendSeed);
    this.writable = [{ gpa: USED, size: 6 + 8 * QUEUE_MAX }];
    backend.writable = this.writable;
    backend.beforeBatchEnd = () => this.scanWritable(input.queueSize);
    this.buffers.reset();
    this.headerNext = 0;
    this.statusNext = 0;
    this.statuses = [];
    ram.snapshot();
    this.init(t, input);
    const qsize = input.queueSize;
    for (const s of input.steps) {
      switch (s.step) {
        case 'post':
          ram.driverWrites = true;
          for (const c of s.chains) this.post(c, qsize);
          ram.driverWrites = false;
          this.scanWritable(qsize);
          if (s.notify) write32(t, VIRTIO_MMIO.QUEUE_NOTIFY, 0);
          break;
        case 'complete':
          backend.deliver(s.n);
          break;
        case 'register':
          write32(t, s.offset, s.value);
          break;
        case 'availIdx':
          this.poster.setAvailIdx(s.value);
          break;
        case 'queueOff':
          write32(t, VIRTIO_MMIO.QUEUE_SEL, 0);
          write32(t, VIRTIO_MMIO.QUEUE_READY, 0);
          check(backend.pending.length === 0 && blk.inFlight === 0, 'requests still in flight after QueueReady=0');
          ram.clearRange(USED, 6 + 8 * QUEUE_MAX); // the driver zeroes its rings before reuse
          this.setupQueue(t, input);
          write32(t, VIRTIO_MMIO.QUEUE_NOTIFY, 0);
          break;
        case 'reset':
          write32(t, VIRTIO_MMIO.STATUS, 0);
          check(backend.pending.length === 0 && blk.inFlight === 0, 'requests still in flight after a reset');
          ram.clearRange(AVAIL, 4);
          ram.clearRange(USED, 6 + 8 * QUEUE_MAX);
          this.init(t, input);
          break;
      }
    }
    // deliver everything; completions may let the device take more chains
    for (let round = 0; backend.pending.length > 0; round++) {
      check(round < 10_000, 'completions keep coming: the device does not settle');
      backend.deliver(backend.pending.length);
    }
    check(blk.inFlight === 0, `${blk.inFlight} requests in flight with no backend work pending`);
    ram.checkWritesOnlyIn(this.writable, 'virtio-blk');
    const sizeOk = qsize >= 1 && qsize <= QUEUE_MAX && (qsize & (qsize - 1)) === 0;
    if (sizeOk) for (let i = 0; i < qsize; i++) check(ram.getU32(USED + 4 + 8 * i) < qsize, `used element ${i} names head ${ram.getU32(USED + 4 + 8 * i)}`);
    this.outcomes.add(t.broken ? 'device broken' : 'device fine');
    for (const gpa of this.statuses) this.outcomes.add(`status ${ram.getU8(gpa)}`);
    if (input.clean) {
      check(!t.broken, `a clean driver broke the device: ${t.brokenBecause}`);
      for (const gpa of this.statuses) check(ram.getU8(gpa) === VIRTIO_BLK_S.OK, `a well-formed request got status ${ram.getU8(gpa)}`);
    }
  }

  private scanWritable(qsize: number): void {
    scanWritable(this.ram, RINGS, Math.min(Math.max(qsize, 0), QUEUE_MAX), this.writable);
  }

  private post(c: ChainSpec, qsize: number): void {
    const ram = this.ram;
    const descs: FuzzDescriptor[] = [];
    const header = HEADERS + 32 * (this.headerNext++ % 256);
    ram.setU32(header, c.type);
    ram.setU32(header + 4, 0);
    ram.setU64(header + 8, c.sector);
    if (c.split) descs.push({ addr: header, len: 7, flags: 0, xor: 0 }, { addr: header + 7, len: 9, flags: 0, xor: 0 });
    else descs.push({ addr: header, len: 16, flags: 0, xor: 0 });
    for (const s of c.segs) {
      const addr = this.buffers.take(s.len);
      if (c.dwz && !s.writable && s.len === 16) {
        ram.setU64(addr, c.dwz.sector);
        ram.setU32(addr + 8, c.dwz.count);
        ram.setU32(addr + 12, c.dwz.flags);
      }
      descs.push({ addr, len: s.len, flags: s.writable ? VIRTQ_DESC_F_WRITE : 0, xor: 0 });
    }
    if (c.status) {
      const s = STATUS + (this.statusNext++ % 4096);
      ram.setU8(s, 0xff);
      this.statuses.push(s);
      descs.push({ addr: s, len: 1, flags: VIRTQ_DESC_F_WRITE, xor: 0 });
    }
    applyMutations(descs, c.mutations);
    this.poster.post(descs, c.indirect, qsize);
  }

  close(): void {
    for (const d of this.devices) write32(d.t, VIRTIO_MMIO.STATUS, 0);
    this.ram.release();
  }
}

