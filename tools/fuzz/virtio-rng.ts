// Fuzz target: virtio-rng (src/devices/virtio/virtio-rng.ts) behind its
// virtio-mmio transport, on a clock the fuzzer moves: a hostile driver posts
// requests whose descriptors are then mutated, writes garbage avail indices
// and random registers, disables its queue and resets while the device waits
// for its token bucket to refill; time passes in random steps and the
// device's timers fire when due.
// Invariants: nothing throws; no guest byte changes outside device-writable
// buffers and the used ring; used elements name heads inside the queue; the
// device never gives more than its burst plus its rate times the time
// passed; no used length exceeds its chain's writable bytes; and a driver
// that only posts well-formed requests has every one served once enough time
// has passed, the used lengths adding up to the bytes given.
import { VirtioRng, VIRTIO_RNG_FEATURES, VIRTIO_RNG_QUEUE_SIZE } from '../../src/devices/virtio/virtio-rng.js';
import { VIRTQ_DESC_F_WRITE } from '../../src/devices/virtio/virtio-constants.js';
import { VIRTIO_MMIO, VirtioMmioTransport } from '../../src/devices/virtio/virtio-mmio.js';
import { GuestRam, type Range } from './guest-ram.js';
import { Outcomes, Prng, check, show, type FuzzTarget } from './harness.js';
import { BufferArea, QueueSet, applyMutations, hostileMutations, randomRingStep, write32, type DescriptorMutation, type FuzzDescriptor, type QueueRings, type RingStep } from './mmio-fuzz-driver.js';

const QUEUE_MAX = 32;
const USED_RING_BYTES = 6 + 8 * VIRTIO_RNG_QUEUE_SIZE;
const RINGS: readonly QueueRings[] = [{ desc: 0x10000, avail: 0x11000, used: 0x12000, indirect: 0x13000 }];
const DATA_START = 0x20000;
const MUTATIONS = { lengths: [0, 1, 4096, 4097], queueSize: QUEUE_MAX, buffers: DATA_START };

interface ChainSpec {
  segments: { len: number; writable: boolean }[];
  indirect: boolean;
  mutations: DescriptorMutation[];
}

type Step = { step: 'post'; chains: ChainSpec[]; notify: boolean } | { step: 'wait'; ms: number } | RingStep;

interface RngInput {
  features: bigint;
  size: number;
  bytesPerSecond: number;
  burst: number;
  /** Well-formed requests only, no hostile steps: every one must be served. */
  clean: boolean;
  steps: Step[];
}

/** The device's clock and timers, moved by the fuzzer. */
class FakeClock {
  now = 0;
  private timers: { at: number; f: () => void; cancelled: boolean }[] = [];

  later = (f: () => void, ms: number): (() => void) => {
    const t = { at: this.now + ms, f, cancelled: false };
    this.timers.push(t);
    return () => (t.cancelled = true);
  };

  /** Moves time on by `ms`, firing every timer due on the way, in order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (let fired = 0; ; fired++) {
      check(fired < 100_000, 'timers keep firing: the device never settles');
      this.timers = this.timers.filter((t) => !t.cancelled);
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.timers.splice(this.timers.indexOf(due), 1);
      this.now = Math.max(this.now, due.at);
      due.f();
    }
    this.now = end;
  }

  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}

export class VirtioRngTarget implements FuzzTarget<RngInput> {
  readonly name = 'virtio-rng';
  readonly description = 'virtio-rng over virtio-mmio on a fuzzer-driven clock: hostile chains and rings, resets while throttled';
  readonly outcomes = new Outcomes();
  private readonly ram = new GuestRam();
  private readonly queues = new QueueSet(this.ram, RINGS, QUEUE_MAX, DATA_START, USED_RING_BYTES);
  private writable: Range[] = [];
  private readonly buffers = new BufferArea(DATA_START);
  /** Writable bytes of each posted chain, by head (clean inputs). */
  private room = new Map<number, number>();

  generate(rng: Prng): RngInput {
    const clean = rng.chance(0.25);
    const features = clean || rng.chance(0.5) ? VIRTIO_RNG_FEATURES : VIRTIO_RNG_FEATURES & (BigInt(rng.u32()) | (BigInt(rng.u32()) << 32n));
    const size = clean ? QUEUE_MAX : rng.chance(0.95) ? rng.pick([1, 2, 4, 8, 16, 32]) : rng.pick([0, 3, 64, 128]);
    const chain = (): ChainSpec => {
      const segments = Array.from({ length: rng.range(1, clean ? 2 : 4) }, () => ({
        len: clean ? rng.range(1, 2048) : rng.pick([0, 1, 16, 4096, rng.below(10000)]),
        writable: clean || rng.chance(0.9),
      }));
      // A clean driver's chains are direct: the queue cycles through only 8 indirect tables, and a throttled device keeps chains a while.
      return { segments, indirect: !clean && rng.chance(0.3), mutations: clean ? [] : hostileMutations(rng, MUTATIONS) };
    };
    const steps: Step[] = [];
    // A clean driver never has more descriptors out than the queue holds (4 posts of up to 4 chains of up to 2).
    for (let n = rng.range(1, clean ? 4 : 10); n > 0; n--) {
      const k = rng.below(100);
      if (k < 40 || clean) steps.push({ step: 'post', chains: Array.from({ length: rng.range(1, clean ? 4 : 10) }, chain), notify: clean || rng.chance(0.9) });
      if (k < 70 || clean) steps.push({ step: 'wait', ms: rng.pick([0, 1, 5, 50, 1000]) });
      else steps.push(randomRingStep(rng, 1));
    }
    return { features, size, bytesPerSecond: rng.pick([1, 100, 4096, 1 << 20]), burst: rng.pick([1, 64, 4096, 65536]), clean, steps };
  }

  describe(input: RngInput): string {
    return show(input, 4000);
  }

  execute(input: RngInput): void {
    const ram = this.ram;
    ram.clear();
    this.writable = [{ gpa: RINGS[0].used, size: USED_RING_BYTES }];
    this.buffers.reset();
    this.room.clear();
    const clock = new FakeClock();
    const rng = new VirtioRng('rng', ram.memory, { bytesPerSecond: input.bytesPerSecond, burstBytes: input.burst, now: () => clock.now, later: clock.later });
    const t = new VirtioMmioTransport(rng, ram.memory, { trigger() {}, setLevel() {} });
    const sizes = [input.size];
    ram.snapshot();
    this.queues.init(t, input.features, sizes);
    for (const s of input.steps) {
      if (s.step === 'post') {
        ram.driverWrites = true;
        for (const c of s.chains) this.post(c, input.size);
        ram.driverWrites = false;
        this.queues.scanWritable(sizes, VIRTIO_RNG_QUEUE_SIZE, this.writable);
        if (s.notify) write32(t, VIRTIO_MMIO.QUEUE_NOTIFY, 0);
      } else if (s.step === 'wait') clock.advance(s.ms);
      else this.queues.ringStep(t, s, input.features, sizes);
      check(rng.stats.bytes <= input.burst + (clock.now * input.bytesPerSecond) / 1000 + 1e-6, `${rng.stats.bytes} bytes given in ${clock.now} ms at ${input.bytesPerSecond} bytes/s with a ${input.burst}-byte burst`);
    }
    if (input.clean) clock.advance(Math.ceil((1000 * 2048 * 4 * 10) / input.bytesPerSecond) + 10);
    ram.checkWritesOnlyIn(this.writable, 'virtio-rng');
    this.queues.checkUsedHeads(sizes, VIRTIO_RNG_QUEUE_SIZE, check);
    this.outcomes.add(t.broken ? 'device broken' : 'device fine');
    if (rng.stats.throttled > 0) this.outcomes.add('throttled');
    if (rng.stats.refused > 0) this.outcomes.add('requests refused');
    if (input.clean) this.checkClean(t, rng, input);
    write32(t, VIRTIO_MMIO.STATUS, 0);
    check(clock.pending === 0, `${clock.pending} timers still pending after a reset`);
  }

  private post(c: ChainSpec, qsize: number): void {
    const descs: FuzzDescriptor[] = c.segments.map((s) => {
      const at = this.buffers.take(s.len);
      return { addr: at, len: s.len, flags: s.writable ? VIRTQ_DESC_F_WRITE : 0, xor: 0 };
    });
    applyMutations(descs, c.mutations);
    const head = this.queues.posters[0].post(descs, c.indirect, qsize);
    this.room.set(head, c.segments.reduce((n, s) => n + (s.writable ? s.len : 0), 0));
  }

  /** Well-formed requests and time enough: every one served, no more than it holds, adding up to the bytes given. */
  private checkClean(t: VirtioMmioTransport, rng: VirtioRng, input: RngInput): void {
    check(!t.broken, `a clean driver broke the device: ${t.brokenBecause}`);
    const used = RINGS[0].used;
    const avail = this.ram.getU16(RINGS[0].avail + 2);
    const usedIdx = this.ram.getU16(used + 2);
    check(usedIdx === avail, `${avail} requests posted, ${usedIdx} served after waiting long enough`);
    let total = 0;
    for (let i = 0; i < usedIdx; i++) {
      const head = this.ram.getU32(used + 4 + 8 * (i % input.size));
      const len = this.ram.getU32(used + 8 + 8 * (i % input.size));
      check(len <= (this.room.get(head) ?? 0), `request ${head} got ${len} bytes, room for ${this.room.get(head)}`);
      total += len;
    }
    check(total === rng.stats.bytes, `used lengths add up to ${total}, the device gave ${rng.stats.bytes} bytes`);
  }

  close(): void {
    this.ram.release();
  }
}
