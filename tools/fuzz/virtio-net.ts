// Fuzz target: virtio-net (src/devices/virtio/virtio-net.ts) behind its
// virtio-mmio transport, driven by a hostile guest driver over two backends:
// the real stream backend (passt's framing) on a socketpair whose far end the
// fuzzer plays, frames cut mid-way, an impossible length or a hang-up among
// them; and an in-memory backend with a tap's manners (whole frames with a
// virtio-net header, lengths known only once read, sends that may be refused
// until the backend says it is writable). The driver posts receive and
// transmit chains whose descriptors are then mutated (addresses outside RAM,
// into holes, past 2^64; lengths; flags; next indices), writes garbage avail
// indices and random registers, disables queues and resets with frames in
// flight.
// Invariants: nothing throws; no guest byte changes outside the buffers the
// driver marked device-writable and the used rings; a transmitted frame is
// read from guest RAM only; used elements name heads inside their queue; and
// a receive is handed guest RAM or the device's own scratch buffer, nothing
// else; a driver that only posts well-formed chains, with enough receive buffers,
// gets every frame the peer sent, byte for byte and in order, and the peer
// every frame it sent.
import { koffi } from '../../ffi/koffi.js';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, check as checkCall, close, read, socketpair, write } from '../../ffi/libc.js';
import { VIRTIO_F, VIRTQ_DESC_F_WRITE, featureBit } from '../../src/devices/virtio/virtio-constants.js';
import { VIRTIO_MMIO, VirtioMmioTransport } from '../../src/devices/virtio/virtio-mmio.js';
import { VIRTIO_NET_F } from '../../src/devices/virtio/virtio-net-layout.js';
import { VIRTIO_NET_FEATURES, VIRTIO_NET_QUEUE_SIZE, VirtioNet, offloadFeatures } from '../../src/devices/virtio/virtio-net.js';
import type { IoVecList } from '../../src/memory/dma-iovec.js';
import { SendResult, type NetBackend, type NetOffloads } from '../../src/net/net-backend.js';
import { StreamBackend } from '../../src/net/stream-backend.js';
import { libuvWatcher, useFdWatcher } from '../../src/bus/fd-watch.js';
import { GuestRam, type Range } from './guest-ram.js';
import { SteppedLoop } from './stepped-loop.js';
import { Outcomes, Prng, check, show, type FuzzTarget } from './harness.js';
import { BufferArea, QueueSet, applyMutations, hostileMutations, randomRingStep, write32, type DescriptorMutation, type FuzzDescriptor, type QueueRings, type RingStep } from './mmio-fuzz-driver.js';

/** The largest queue the driver fills (clean inputs use it). */
const QUEUE_MAX = 32;
/** The largest the device accepts: a hostile driver may pick any size up to it, and the rings are that long. */
const DEVICE_QUEUE_MAX = VIRTIO_NET_QUEUE_SIZE;
const USED_RING_BYTES = 6 + 8 * DEVICE_QUEUE_MAX;
const HEADER = 12;
const RX = 0;
const TX = 1;
const RINGS: readonly QueueRings[] = [
  { desc: 0x10000, avail: 0x11000, used: 0x12000, indirect: 0x13000 },
  { desc: 0x15000, avail: 0x16000, used: 0x17000, indirect: 0x18000 },
];
const DATA_START = 0x20000;
/** A tap-like backend's largest frame, header included (small: the device guesses receive sizes from it). */
const FRAMES_MAX = HEADER + 14 + 4000;
const MAC = Uint8Array.from([0x52, 0x54, 0, 0xf0, 0x22, 0x01]);

/** The byte at `i` of test frame `id`: every frame is recognisable. */
const frameByte = (id: number, i: number) => (id * 31 + i * 7 + (i >> 8)) & 0xff;
function frameOf(id: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => frameByte(id, i));
}

/** A tap's manners in memory: whole frames, each with its 12-byte header; sends refused at random until writable. */
class FrameBackend implements NetBackend {
  readonly kind = 'tap';
  readonly headerBytes = HEADER;
  readonly maxFrame = FRAMES_MAX;
  readonly midFrame = false;
  /** Each frame goes out with a write of its own, as send() is called. */
  readonly pendingOutput = false;
  readonly copiedOut = 0;
  flush(): boolean {
    return true;
  }
  static readonly OFFLOADS: NetOffloads = { checksum: true, tso4: true, tso6: true, tsoEcn: true };
  readonly offloads = FrameBackend.OFFLOADS;
  readonly lengthKnown = false;
  readonly copiedIn = 0;
  /** Frames waiting to be read (header included). */
  incoming: Uint8Array[] = [];
  /** Frames sent (header included). */
  sent: Uint8Array[] = [];
  busyRate = 0;
  rng = new Prng(0);
  wants = { readable: false, writable: false };
  /** The device's own scratch buffer, the one host memory outside guest RAM a receive may be handed. */
  deviceScratch: { address: number; size: number } | null = null;
  /** Receives that went partly into that scratch buffer. */
  scratchReceives = 0;
  private onReady: (ready: { readable: boolean; writable: boolean }) => void = () => {};
  private blocked = false;

  constructor(private readonly ram: GuestRam) {}

  setOffloads(): void {}

  send(frame: IoVecList): SendResult {
    if (this.blocked || this.rng.chance(this.busyRate)) {
      this.blocked = true;
      return SendResult.Busy;
    }
    const bytes = new Uint8Array(frame.length);
    let at = 0;
    for (let i = 0; i < frame.count; i++) {
      const gpa = this.ram.gpaOfHost(frame.base(i), frame.len(i));
      check(gpa !== undefined, `send: iovec ${i} (${frame.len(i)} bytes at host ${frame.base(i)}) is not inside guest RAM`);
      bytes.set(this.ram.view(gpa, frame.len(i))!, at);
      at += frame.len(i);
    }
    this.sent.push(bytes);
    return SendResult.Done;
  }

  nextFrameLength(): number {
    return this.maxFrame;
  }

  /** Copies the next frame into the iovecs (a longer one is cut, as readv on a tap cuts it). */
  receive(into: IoVecList): number {
    const frame = this.incoming.shift();
    if (frame === undefined) return -1;
    let at = 0;
    for (let i = 0; i < into.count && at < frame.length; i++) {
      const n = Math.min(into.len(i), frame.length - at);
      const base = into.base(i);
      const gpa = this.ram.gpaOfHost(base, n);
      if (gpa === undefined) {
        // Outside guest RAM only the device's scratch buffer may take a frame's rest (longer than the chains taken).
        const s = this.deviceScratch;
        check(s !== null && base >= s.address && base + n <= s.address + s.size, `receive: iovec ${i} (${n} bytes at host ${base}) is neither guest RAM nor the device's scratch buffer`);
        new Uint8Array(koffi.view(base, n) as ArrayBuffer).set(frame.subarray(at, at + n));
        this.scratchReceives++;
      } else this.ram.view(gpa, n)!.set(frame.subarray(at, at + n));
      at += n;
    }
    return at;
  }

  watch(wants: { readable: boolean; writable: boolean }, onReady: (ready: { readable: boolean; writable: boolean }) => void): void {
    this.wants = wants;
    this.onReady = onReady;
  }

  /** The backend's side of the event loop: tells the device what it waits for has come. */
  signalReady(): void {
    this.blocked = false;
    const readable = this.wants.readable && this.incoming.length > 0;
    const writable = this.wants.writable;
    if (readable || writable) this.onReady({ readable, writable });
  }

  close(): void {}
}

interface Segment {
  len: number;
  writable: boolean;
}

interface ChainSpec {
  segments: Segment[];
  indirect: boolean;
  /** Transmit: the virtio-net header's bytes (clean: all zero). */
  header?: number[];
  mutations: DescriptorMutation[];
}

type Step =
  | { step: 'post'; queue: number; chains: ChainSpec[]; notify: boolean }
  | { step: 'incoming'; lengths: number[]; cut: number }
  | { step: 'ready' }
  | { step: 'peer'; what: 'bad-length' | 'hang-up' }
  | RingStep;

interface NetInput {
  backend: 'frames' | 'stream';
  features: bigint;
  sizes: [number, number];
  /** Only well-formed chains, enough receive buffers, no hostile steps: every frame must arrive intact. */
  clean: boolean;
  busyRate: number;
  backendSeed: number;
  steps: Step[];
}

/** Hostile descriptor changes: lengths around the 12-byte header are the interesting ones here. */
const MUTATIONS = { lengths: [0, 1, 11, 12, 13], queueSize: QUEUE_MAX, buffers: DATA_START };

function rxChain(rng: Prng, clean: boolean): ChainSpec {
  if (clean) return { segments: [{ len: 2048, writable: true }], indirect: false, mutations: [] };
  const segments = Array.from({ length: rng.range(1, 4) }, () => ({ len: rng.pick([0, 1, 11, 12, 64, 1526, 2048, rng.below(5000)]), writable: rng.chance(0.9) }));
  return { segments, indirect: rng.chance(0.2), mutations: hostileMutations(rng, MUTATIONS) };
}

function txChain(rng: Prng, clean: boolean, indirect: boolean): ChainSpec {
  const length = clean ? rng.range(14, 1514) : rng.pick([0, 1, 13, 14, 60, 1514, 1515, rng.below(9000)]);
  const pieces = Math.min(length, clean ? rng.range(1, 3) : rng.range(1, 6));
  const segments: Segment[] = [];
  for (let left = length, i = pieces; i > 0; i--) {
    const n = i === 1 ? left : rng.range(1, Math.max(1, left - i + 1));
    segments.push({ len: n, writable: !clean && rng.chance(0.05) });
    left -= n;
  }
  const header = clean ? new Array<number>(HEADER).fill(0) : Array.from({ length: HEADER }, () => (rng.chance(0.7) ? 0 : rng.below(256)));
  return { segments, indirect: clean ? indirect : rng.chance(0.3), header, mutations: clean ? [] : hostileMutations(rng, MUTATIONS) };
}

export class VirtioNetTarget implements FuzzTarget<NetInput> {
  readonly name = 'virtio-net';
  readonly description = 'virtio-net over virtio-mmio: hostile chains and rings; a stream peer that cuts and lies, a tap-like backend that refuses sends';
  readonly outcomes = new Outcomes();
  private readonly ram = new GuestRam();
  private readonly queues = new QueueSet(this.ram, RINGS, QUEUE_MAX, DATA_START, USED_RING_BYTES);
  private writable: Range[] = [];
  private readonly buffers = new BufferArea(DATA_START);
  /** What the stream backend's socket waits on, turned when the input says. */
  private readonly loop = new SteppedLoop();
  /** TX frames posted (clean inputs), in order: what the peer must get. */
  private txPosted: Uint8Array[] = [];
  private nextFrameId = 0;

  generate(rng: Prng): NetInput {
    const backend = rng.chance(0.5) ? 'frames' : 'stream';
    const clean = rng.chance(0.25);
    const offered = VIRTIO_NET_FEATURES | (backend === 'frames' ? offloadFeatures(FrameBackend.OFFLOADS) : 0n);
    let features = offered;
    if (!clean && rng.chance(0.5)) features &= BigInt(rng.u32()) | (BigInt(rng.u32()) << 32n) | (rng.chance(0.9) ? featureBit(VIRTIO_F.VERSION_1) : 0n);
    if (clean && rng.chance(0.3)) features &= ~featureBit(VIRTIO_NET_F.MRG_RXBUF);
    if (clean && rng.chance(0.3)) features &= ~featureBit(VIRTIO_F.RING_INDIRECT_DESC);
    const size = () => (clean ? QUEUE_MAX : rng.chance(0.95) ? rng.pick([2, 4, 8, 16, 32]) : rng.pick([0, 3, 64, 1 << 16]));
    const sizes: [number, number] = [size(), size()];
    const indirect = (features & featureBit(VIRTIO_F.RING_INDIRECT_DESC)) !== 0n;
    const steps: Step[] = [];
    if (clean) {
      // Rounds: receive buffers first, then at most as many frames from the peer, then frames out.
      for (let round = rng.range(1, 3); round > 0; round--) {
        const buffers = rng.range(1, 8);
        steps.push({ step: 'post', queue: RX, chains: Array.from({ length: buffers }, () => rxChain(rng, true)), notify: true });
        steps.push({ step: 'incoming', lengths: Array.from({ length: rng.range(0, buffers) }, () => rng.range(14, 1514)), cut: 0 });
        steps.push({ step: 'ready' });
        steps.push({ step: 'post', queue: TX, chains: Array.from({ length: rng.range(0, 6) }, () => txChain(rng, true, indirect)), notify: true });
      }
      return { backend, features, sizes, clean, busyRate: 0, backendSeed: rng.u32(), steps };
    }
    for (let n = rng.range(1, 10); n > 0; n--) {
      const k = rng.below(100);
      const queue = rng.below(2);
      if (k < 40) steps.push({ step: 'post', queue, chains: Array.from({ length: rng.range(1, 8) }, () => (queue === RX ? rxChain(rng, false) : txChain(rng, false, indirect))), notify: rng.chance(0.9) });
      else if (k < 60) steps.push({ step: 'incoming', lengths: Array.from({ length: rng.range(1, 6) }, () => rng.pick([0, 1, 14, 60, 1514, rng.below(FRAMES_MAX - HEADER + 1)])), cut: rng.chance(0.3) ? rng.range(1, 20) : 0 });
      else if (k < 72) steps.push({ step: 'ready' });
      else if (k < 75) steps.push({ step: 'peer', what: rng.pick(['bad-length', 'hang-up'] as const) });
      else steps.push(randomRingStep(rng, 2));
    }
    return { backend, features, sizes, clean, busyRate: rng.pick([0, 0, 0.2, 0.7]), backendSeed: rng.u32(), steps };
  }

  describe(input: NetInput): string {
    return show(input, 6000);
  }

  execute(input: NetInput): void {
    const ram = this.ram;
    ram.clear();
    this.writable = RINGS.map((r) => ({ gpa: r.used, size: USED_RING_BYTES }));
    this.buffers.reset();
    this.txPosted = [];
    this.nextFrameId = 0;
    useFdWatcher(this.loop);
    const rig = this.rig(input);
    const { t, net } = rig;
    try {
      ram.snapshot();
      this.queues.init(t, input.features, input.sizes);
      const toGuest: Uint8Array[] = [];
      for (const s of input.steps) this.step(s, input, rig, toGuest);
      ram.checkWritesOnlyIn(this.writable, 'virtio-net');
      this.queues.checkUsedHeads(input.sizes, DEVICE_QUEUE_MAX, check);
      this.outcomes.add(t.broken ? 'device broken' : rig.failed.length > 0 ? 'backend failed' : 'device fine');
      if (net.stats.rxFrames > 0) this.outcomes.add('received frames');
      if (net.stats.txFrames > 0) this.outcomes.add('sent frames');
      if (net.stats.rxDropped + net.stats.txDropped > 0) this.outcomes.add('dropped frames');
      if (rig.frames && rig.frames.scratchReceives > 0) this.outcomes.add('frame tails in the scratch buffer');
      if (input.clean) this.checkClean(input, rig, toGuest);
    } finally {
      net.close();
      rig.closePeer();
      useFdWatcher(libuvWatcher);
    }
  }

  /** A fresh device over the input's backend (a failed backend stays failed: no state may leak into the next input). */
  private rig(input: NetInput) {
    const failed: string[] = [];
    const errors: string[] = [];
    let backend: NetBackend;
    let frames: FrameBackend | null = null;
    let peer = -1;
    if (input.backend === 'frames') {
      frames = new FrameBackend(this.ram);
      frames.busyRate = input.busyRate;
      frames.rng = new Prng(input.backendSeed);
      backend = frames;
    } else {
      const sv = new Int32Array(2);
      checkCall(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) as number, 'socketpair');
      backend = new StreamBackend(sv[0], 'the fuzzer');
      peer = sv[1];
    }
    const net = new VirtioNet('net0', backend, this.ram.memory, { mac: MAC, onError: (m) => errors.push(m), onBackendError: (m) => failed.push(m) });
    if (frames) frames.deviceScratch = (net as unknown as { scratch: { address: number; size: number } }).scratch;
    const t = new VirtioMmioTransport(net, this.ram.memory, { trigger() {}, setLevel() {} });
    const closePeer = () => {
      if (peer >= 0) close(peer);
      peer = -1;
    };
    /** The frames the stream's peer has been sent, read off its socket (parsed from QEMU's framing). */
    const peerFrames =
      peer < 0
        ? undefined
        : (into: Uint8Array[]) => {
            const chunk = new Uint8Array(1 << 16);
            let pending = new Uint8Array(0);
            for (;;) {
              const n = read(peer, chunk, chunk.length) as number;
              if (n <= 0) break;
              const both = new Uint8Array(pending.length + n);
              both.set(pending);
              both.set(chunk.subarray(0, n), pending.length);
              pending = both;
            }
            while (pending.length >= 4) {
              const length = new DataView(pending.buffer, pending.byteOffset).getUint32(0);
              if (pending.length < 4 + length) break;
              into.push(pending.slice(4, 4 + length));
              pending = pending.slice(4 + length);
            }
          };
    const sendToPeer = (bytes: Uint8Array) => {
      if (peer < 0) return;
      // A clean input's frames fit the socket many times over; a hostile one's may not, and are then cut short.
      const n = write(peer, bytes, bytes.length) as number;
      if (input.clean) check(n === bytes.length, 'the fuzzer could not write a clean input to its socket');
    };
    return { t, net, frames, failed, errors, closePeer, peerFrames, sendToPeer, peerFd: () => peer };
  }

  private step(s: Step, input: NetInput, rig: ReturnType<VirtioNetTarget['rig']>, toGuest: Uint8Array[]): void {
    const { t, frames } = rig;
    switch (s.step) {
      case 'post':
        this.ram.driverWrites = true;
        for (const c of s.chains) this.post(c, s.queue, input.sizes[s.queue], input.clean);
        this.ram.driverWrites = false;
        this.queues.scanWritable(input.sizes, DEVICE_QUEUE_MAX, this.writable);
        if (s.notify) write32(t, VIRTIO_MMIO.QUEUE_NOTIFY, s.queue);
        break;
      case 'incoming':
        s.lengths.forEach((length, i) => {
          const frame = frameOf(1000 + this.nextFrameId++, length);
          const last = i === s.lengths.length - 1;
          // A tap writes the header's first 10 bytes and skips num_buffers: garbage there, which the device must overwrite.
          if (frames) frames.incoming.push(Buffer.concat([tapHeaderOf(frame), new Uint8Array([0xee, 0xee]), frame]));
          else {
            const framed = Buffer.concat([u32be(length), frame]);
            rig.sendToPeer(last && s.cut > 0 ? framed.subarray(0, Math.max(0, framed.length - s.cut)) : framed);
          }
          if (input.clean) toGuest.push(frame);
        });
        if (!frames) this.loop.turn(); // the stream's readiness comes from the loop
        break;
      case 'ready':
        if (frames) frames.signalReady();
        else this.loop.turn();
        break;
      case 'peer':
        if (rig.peerFd() < 0) break;
        if (s.what === 'bad-length') rig.sendToPeer(u32be(0x7fffffff));
        else rig.closePeer();
        this.loop.turn();
        break;
      default:
        this.queues.ringStep(t, s, input.features, input.sizes);
    }
  }

  private post(c: ChainSpec, queue: number, qsize: number, clean: boolean): void {
    const descs: FuzzDescriptor[] = [];
    let frame: Uint8Array | null = null;
    if (c.header) {
      const at = this.buffers.take(HEADER);
      c.header.forEach((b, i) => this.ram.setU8(at + i, b));
      descs.push({ addr: at, len: HEADER, flags: 0, xor: 0 });
      frame = frameOf(this.nextFrameId++, c.segments.reduce((n, s) => n + s.len, 0));
    }
    let offset = 0;
    for (const s of c.segments) {
      const at = this.buffers.take(s.len);
      if (frame) for (let i = 0; i < s.len; i++) this.ram.setU8(at + i, frame[offset + i]);
      offset += s.len;
      descs.push({ addr: at, len: s.len, flags: s.writable ? VIRTQ_DESC_F_WRITE : 0, xor: 0 });
    }
    if (clean && frame) this.txPosted.push(frame);
    applyMutations(descs, c.mutations);
    this.queues.posters[queue].post(descs, c.indirect, qsize);
  }

  /** A well-behaved driver with room for everything: every frame arrives whole, in order, both ways. */
  private checkClean(input: NetInput, rig: ReturnType<VirtioNetTarget['rig']>, toGuest: Uint8Array[]): void {
    const { t, net, frames } = rig;
    check(!t.broken, `a clean driver broke the device: ${t.brokenBecause}`);
    check(rig.failed.length === 0 && rig.errors.length === 0, `a clean driver got errors: ${[...rig.failed, ...rig.errors].join('; ')}`);
    const sent = frames ? frames.sent.map((f) => f.subarray(HEADER)) : [];
    if (!frames) rig.peerFrames!(sent);
    check(sent.length === this.txPosted.length, `${this.txPosted.length} frames posted for transmission, ${sent.length} reached the peer`);
    sent.forEach((f, i) => check(Buffer.compare(f, this.txPosted[i]) === 0, `transmitted frame ${i} (${this.txPosted[i].length} bytes) arrived as ${f.length} different bytes`));
    // Receive: each frame in its own 2048-byte chain (all fit), header then frame, in the order sent.
    const rx = RINGS[RX];
    const usedIdx = this.ram.getU16(rx.used + 2);
    check(usedIdx === toGuest.length, `${toGuest.length} frames sent to the guest, ${usedIdx} chains used (rxDropped ${net.stats.rxDropped})`);
    for (let i = 0; i < usedIdx; i++) {
      const head = this.ram.getU32(rx.used + 4 + 8 * (i % input.sizes[RX]));
      const len = this.ram.getU32(rx.used + 8 + 8 * (i % input.sizes[RX]));
      const addr = this.ram.getU32(rx.desc + 16 * head);
      check(len === HEADER + toGuest[i].length, `received frame ${i}: used length ${len}, the frame had ${toGuest[i].length} bytes and a ${HEADER}-byte header`);
      const got = this.ram.view(addr + HEADER, toGuest[i].length)!;
      check(Buffer.compare(got, toGuest[i]) === 0, `received frame ${i} differs from what the peer sent`);
      // The backend's header as it gave it (a stream gives none: no offloads to report), num_buffers 1 (one chain).
      const header = this.ram.view(addr, HEADER)!;
      const expected = frames ? tapHeaderOf(toGuest[i]) : new Uint8Array(NUM_BUFFERS);
      check(Buffer.compare(header.subarray(0, NUM_BUFFERS), expected) === 0, `received frame ${i}: header ${Buffer.from(header).toString('hex')}, the backend's was ${Buffer.from(expected).toString('hex')}`);
      check(this.ram.getU16(addr + NUM_BUFFERS) === 1, `received frame ${i}: num_buffers ${this.ram.getU16(addr + NUM_BUFFERS)} for one chain`);
    }
  }

  close(): void {
    this.ram.release();
  }
}

/** Where num_buffers sits in virtio_net_hdr_v1: what a tap writes of the header comes before it. */
const NUM_BUFFERS = 10;

/** A tap's header for `frame` (its first 10 bytes: flags, GSO fields, checksum offsets), recognisable per frame. */
function tapHeaderOf(frame: Uint8Array): Uint8Array {
  return Uint8Array.from({ length: NUM_BUFFERS }, (_, i) => (frame.length * 13 + i * 29 + 1) & 0xff);
}

function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}
