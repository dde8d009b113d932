// Fuzz target: virtio-console (src/devices/virtio/virtio-console.ts, what
// carries `tsvmm exec`'s stdout and stderr) behind its virtio-mmio
// transport, with three ports on real pipes, driven by a hostile guest
// driver: port writes whose descriptors are then mutated, control messages
// with any id, event and value (and mutated chains), control receive buffers
// of any size, garbage avail indices, random registers, queues disabled and
// resets with writes half done; on the host side pipes of one page that fill
// up, readers that drain them now and then, and readers that go away (EPIPE).
// Invariants: nothing throws; no guest byte changes outside device-writable
// buffers and the used rings; used elements name heads inside their queue;
// and a driver that runs Linux's handshake and only writes well-formed
// chains gets a DEVICE_ADD for every port, and every byte it wrote to a port
// arrives on that port's pipe, in order.
import { EAGAIN, O_CLOEXEC, O_NONBLOCK, check as checkCall, close, fcntl, koffi, pipe2, read } from '../../ffi/libc.js';
import { VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_EVENT, VIRTIO_CONSOLE_F } from '../../src/devices/virtio/virtio-console-layout.js';
import { VIRTIO_CONSOLE_FEATURES, VIRTIO_CONSOLE_QUEUE_SIZE, VirtioConsole, consoleQueueSizes, receiveQueueOf, transmitQueueOf } from '../../src/devices/virtio/virtio-console.js';
import { VIRTQ_DESC_F_WRITE, featureBit } from '../../src/devices/virtio/virtio-constants.js';
import { VIRTIO_MMIO, VirtioMmioTransport } from '../../src/devices/virtio/virtio-mmio.js';
import { GuestRam, type Range } from './guest-ram.js';
import { Outcomes, Prng, check, show, type FuzzTarget } from './harness.js';
import { BufferArea, QueueSet, applyMutations, hostileMutations, randomRingStep, write32, type DescriptorMutation, type FuzzDescriptor, type QueueRings, type RingStep } from './mmio-fuzz-driver.js';

const PORTS = 3;
const QUEUES = 2 * (PORTS + 1);
const CONTROL_RX = 2;
const CONTROL_TX = 3;
/** The largest queue the driver fills. */
const QUEUE_MAX = 32;
/** The largest any of the device's queues accepts: the used rings are that long. */
const USED_RING_BYTES = 6 + 8 * VIRTIO_CONSOLE_QUEUE_SIZE;
/** Each queue's rings and indirect tables in 16 KiB from 0x10000 on. */
const RINGS: readonly QueueRings[] = Array.from({ length: QUEUES }, (_, q) => {
  const base = 0x10000 + 0x4000 * q;
  return { desc: base, avail: base + 0x800, used: base + 0x1000, indirect: base + 0x2000 };
});
const DATA_START = 0x30000;
const F_SETPIPE_SZ = 1031;
const MUTATIONS = { lengths: [0, 1, 7, 8, 9], queueSize: QUEUE_MAX, buffers: DATA_START };
const E = VIRTIO_CONSOLE_EVENT;

interface ChainSpec {
  segments: { len: number; writable: boolean }[];
  indirect: boolean;
  mutations: DescriptorMutation[];
}

type Step =
  | { step: 'write'; port: number; chains: ChainSpec[]; notify: boolean }
  | { step: 'controlBuffers'; chains: ChainSpec[] }
  | { step: 'control'; id: number; event: number; value: number; chain: ChainSpec }
  | { step: 'receiveBuffers'; port: number; chains: ChainSpec[] }
  | { step: 'drain'; port: number }
  | { step: 'readerGone'; port: number }
  | RingStep;

interface ConsoleInput {
  features: bigint;
  sizes: number[];
  /** Linux's handshake, well-formed writes, no hostile steps: every byte must arrive. */
  clean: boolean;
  /** Pipe capacity: one page fills at once, 64 KiB holds a clean input. */
  pipeSize: number;
  steps: Step[];
}

/** `total` bytes in `pieces` buffers; a hostile driver's may be empty or device-writable. */
function segments(rng: Prng, total: number, pieces: number, hostile: boolean): ChainSpec['segments'] {
  const out: ChainSpec['segments'] = [];
  const n = hostile ? pieces : Math.max(1, Math.min(pieces, total));
  for (let left = total, i = n; i > 0; i--) {
    const len = i === 1 ? left : hostile ? rng.range(0, left) : rng.range(1, left - i + 1);
    out.push({ len, writable: hostile && rng.chance(0.05) });
    left -= len;
  }
  return out;
}

function chain(rng: Prng, clean: boolean, segs: ChainSpec['segments']): ChainSpec {
  return { segments: segs, indirect: rng.chance(0.3), mutations: clean ? [] : hostileMutations(rng, MUTATIONS) };
}

/** A receive buffer; Linux's are single descriptors (and a queue has only 8 indirect tables to cycle through). */
function writableChain(rng: Prng, clean: boolean, size: number): ChainSpec {
  const c = chain(rng, clean, [{ len: size, writable: clean || rng.chance(0.9) }]);
  if (clean) c.indirect = false;
  return c;
}

export class VirtioConsoleTarget implements FuzzTarget<ConsoleInput> {
  readonly name = 'virtio-console';
  readonly description = 'virtio-console over virtio-mmio: hostile port writes, control messages and rings; pipes that fill up and readers that go away';
  readonly outcomes = new Outcomes();
  private readonly ram = new GuestRam();
  private readonly queues = new QueueSet(this.ram, RINGS, QUEUE_MAX, DATA_START, USED_RING_BYTES);
  private writable: Range[] = [];
  private readonly buffers = new BufferArea(DATA_START);
  /** Bytes written to each port (clean inputs), and what its pipe has given back. */
  private written: number[][] = [];
  private arrived: number[][] = [];
  /** Where each control receive buffer is, by head: the messages the device wrote there. */
  private controlBuffers = new Map<number, number>();
  private byte = 0;

  generate(rng: Prng): ConsoleInput {
    const clean = rng.chance(0.25);
    let features = VIRTIO_CONSOLE_FEATURES;
    if (!clean && rng.chance(0.4)) features &= BigInt(rng.u32()) | (BigInt(rng.u32()) << 32n);
    if (!clean && rng.chance(0.2)) features &= ~featureBit(VIRTIO_CONSOLE_F.MULTIPORT);
    const sizes = consoleQueueSizes(PORTS).map((max) => (clean ? Math.min(max, QUEUE_MAX) : rng.chance(0.95) ? rng.pick([2, 4, 8, 16, 32].filter((s) => s <= max)) : rng.pick([0, 3, max, 2 * max])));
    const steps: Step[] = [];
    const write = (port: number) => ({
      step: 'write' as const,
      port,
      chains: Array.from({ length: rng.range(1, 4) }, () => chain(rng, clean, segments(rng, clean ? rng.pick([1, 100, 4096, rng.range(1, 8000)]) : rng.pick([0, 1, 100, 4096, rng.below(8000)]), rng.range(1, 4), !clean))),
      notify: clean || rng.chance(0.9),
    });
    if (clean) {
      steps.push({ step: 'controlBuffers', chains: Array.from({ length: 4 * PORTS + 4 }, () => writableChain(rng, true, 64)) });
      steps.push({ step: 'control', id: VIRTIO_CONSOLE_BAD_ID, event: E.DEVICE_READY, value: 1, chain: chain(rng, true, [{ len: 8, writable: false }]) });
      for (let p = 0; p < PORTS; p++) steps.push({ step: 'control', id: p, event: E.PORT_READY, value: 1, chain: chain(rng, true, [{ len: 8, writable: false }]) });
      for (let n = rng.range(1, 6); n > 0; n--) {
        const port = rng.below(PORTS);
        steps.push(write(port), { step: 'drain', port });
      }
      return { features, sizes, clean, pipeSize: 65536, steps };
    }
    for (let n = rng.range(1, 12); n > 0; n--) {
      const k = rng.below(100);
      const port = rng.below(PORTS);
      if (k < 30) steps.push(write(port));
      else if (k < 40) steps.push({ step: 'controlBuffers', chains: Array.from({ length: rng.range(1, 8) }, () => writableChain(rng, false, rng.pick([0, 7, 8, 9, 64, rng.below(300)]))) });
      else if (k < 55) {
        const event = rng.chance(0.8) ? rng.below(9) : rng.below(0x10000);
        const id = rng.chance(0.7) ? rng.below(PORTS + 1) : rng.pick([VIRTIO_CONSOLE_BAD_ID, rng.u32()]);
        steps.push({ step: 'control', id, event, value: rng.chance(0.8) ? rng.below(2) : rng.below(0x10000), chain: chain(rng, false, [{ len: rng.pick([8, 8, 8, 7, 0, 64]), writable: rng.chance(0.05) }]) });
      } else if (k < 60) steps.push({ step: 'receiveBuffers', port, chains: Array.from({ length: rng.range(1, 4) }, () => writableChain(rng, false, rng.pick([1, 64, 4096]))) });
      else if (k < 70) steps.push({ step: 'drain', port });
      else if (k < 73) steps.push({ step: 'readerGone', port });
      else steps.push(randomRingStep(rng, QUEUES));
    }
    return { features, sizes, clean, pipeSize: rng.pick([4096, 65536]), steps };
  }

  describe(input: ConsoleInput): string {
    return show(input, 6000);
  }

  execute(input: ConsoleInput): void {
    const ram = this.ram;
    ram.clear();
    this.writable = RINGS.map((r) => ({ gpa: r.used, size: USED_RING_BYTES }));
    this.buffers.reset();
    this.written = Array.from({ length: PORTS }, () => []);
    this.arrived = Array.from({ length: PORTS }, () => []);
    this.controlBuffers.clear();
    const pipes = Array.from({ length: PORTS }, () => openPipe(input.pipeSize));
    const hostErrors: string[] = [];
    const console = new VirtioConsole('console0', ram.memory, {
      ports: pipes.map((p, i) => ({ name: `port${i}`, fd: p.w })),
      onHostError: (m) => hostErrors.push(m),
    });
    const t = new VirtioMmioTransport(console, ram.memory, { trigger() {}, setLevel() {} });
    try {
      ram.snapshot();
      this.queues.init(t, input.features, input.sizes);
      for (const s of input.steps) this.step(s, input, t, pipes);
      ram.checkWritesOnlyIn(this.writable, 'virtio-console');
      this.queues.checkUsedHeads(input.sizes, VIRTIO_CONSOLE_QUEUE_SIZE, check);
      this.outcomes.add(t.broken ? 'device broken' : 'device fine');
      if (hostErrors.length > 0) this.outcomes.add('a reader went away');
      if (console.ports.some((p) => p.stats.waits > 0)) this.outcomes.add('a pipe filled up');
      if (console.ports.some((p) => p.stats.refused > 0)) this.outcomes.add('chains refused');
      if (console.stats.controlSent > 0) this.outcomes.add('control messages sent');
      if (input.clean) this.checkClean(t, input);
    } finally {
      console.close();
      for (const p of pipes) p.close();
    }
  }

  private step(s: Step, input: ConsoleInput, t: VirtioMmioTransport, pipes: Pipe[]): void {
    const post = (queue: number, chains: readonly ChainSpec[], fill?: (at: number, len: number) => void) => {
      this.ram.driverWrites = true;
      for (const c of chains) this.post(queue, c, input.sizes[queue], fill);
      this.ram.driverWrites = false;
      this.queues.scanWritable(input.sizes, VIRTIO_CONSOLE_QUEUE_SIZE, this.writable);
    };
    switch (s.step) {
      case 'write': {
        const out = this.written[s.port];
        post(transmitQueueOf(s.port), s.chains, (at, len) => {
          for (let i = 0; i < len; i++) {
            const b = this.byte++ & 0xff;
            this.ram.setU8(at + i, b);
            if (input.clean) out.push(b);
          }
        });
        if (s.notify) write32(t, VIRTIO_MMIO.QUEUE_NOTIFY, transmitQueueOf(s.port));
        break;
      }
      case 'controlBuffers':
        post(CONTROL_RX, s.chains);
        write32(t, VIRTIO_MMIO.QUEUE_NOTIFY, CONTROL_RX);
        break;
      case 'control':
        post(CONTROL_TX, [s.chain], (at, len) => {
          const m = new DataView(new ArrayBuffer(8));
          m.setUint32(0, s.id, true);
          m.setUint16(4, s.event, true);
          m.setUint16(6, s.value, true);
          for (let i = 0; i < Math.min(len, 8); i++) this.ram.setU8(at + i, m.getUint8(i));
        });
        write32(t, VIRTIO_MMIO.QUEUE_NOTIFY, CONTROL_TX);
        break;
      case 'receiveBuffers':
        post(receiveQueueOf(s.port), s.chains);
        write32(t, VIRTIO_MMIO.QUEUE_NOTIFY, receiveQueueOf(s.port));
        break;
      case 'drain':
        this.arrived[s.port].push(...pipes[s.port].drain());
        // The device waits for the pipe on the event loop, which does not turn here: a notify stands in for it.
        write32(t, VIRTIO_MMIO.QUEUE_NOTIFY, transmitQueueOf(s.port));
        break;
      case 'readerGone':
        pipes[s.port].closeReader();
        write32(t, VIRTIO_MMIO.QUEUE_NOTIFY, transmitQueueOf(s.port));
        break;
      default:
        this.queues.ringStep(t, s, input.features, input.sizes);
    }
  }

  /** Posts one chain on `queue`; `fill` writes each device-readable buffer's bytes. */
  private post(queue: number, c: ChainSpec, qsize: number, fill?: (at: number, len: number) => void): void {
    const descs: FuzzDescriptor[] = c.segments.map((s) => {
      const at = this.buffers.take(s.len);
      if (!s.writable) fill?.(at, s.len);
      return { addr: at, len: s.len, flags: s.writable ? VIRTQ_DESC_F_WRITE : 0, xor: 0 };
    });
    applyMutations(descs, c.mutations);
    const head = this.queues.posters[queue].post(descs, c.indirect, qsize);
    if (queue === CONTROL_RX) this.controlBuffers.set(head, Number(descs[0].addr));
  }

  /** Linux's handshake and well-formed writes: every port announced, every byte on its pipe in order. */
  private checkClean(t: VirtioMmioTransport, input: ConsoleInput): void {
    check(!t.broken, `a clean driver broke the device: ${t.brokenBecause}`);
    const rx = RINGS[CONTROL_RX];
    const size = input.sizes[CONTROL_RX];
    const added = new Set<number>();
    for (let i = 0; i < this.ram.getU16(rx.used + 2); i++) {
      const at = this.controlBuffers.get(this.ram.getU32(rx.used + 4 + 8 * (i % size)))!;
      if (this.ram.getU16(at + 4) === E.DEVICE_ADD) added.add(this.ram.getU32(at));
    }
    check(added.size === PORTS, `DEVICE_ADD came for ports ${[...added].join(', ')} of ${PORTS}`);
    for (let p = 0; p < PORTS; p++) {
      const want = this.written[p];
      const got = this.arrived[p];
      check(got.length === want.length && got.every((b, i) => b === want[i]), `port ${p}: ${want.length} bytes written, ${got.length} arrived${got.length === want.length ? ' (different)' : ''}`);
    }
  }

  close(): void {
    this.ram.release();
  }
}

/** A non-blocking pipe of `size` bytes, whose reader the fuzzer plays. */
interface Pipe {
  w: number;
  drain(): number[];
  closeReader(): void;
  close(): void;
}

function openPipe(size: number): Pipe {
  const fds = new Int32Array(2);
  checkCall(pipe2(fds, O_CLOEXEC | O_NONBLOCK) as number, 'pipe2');
  const [r, w] = [fds[0], fds[1]];
  checkCall(fcntl(w, F_SETPIPE_SZ, size) as number, 'fcntl(F_SETPIPE_SZ)');
  let readerOpen = true;
  const buf = new Uint8Array(65536);
  return {
    w,
    drain() {
      const out: number[] = [];
      for (let n; readerOpen && (n = read(r, buf, buf.length) as number) > 0; ) for (let i = 0; i < n; i++) out.push(buf[i]);
      check(!readerOpen || koffi.errno() === EAGAIN, `reading the pipe failed (errno ${koffi.errno()})`);
      return out;
    },
    closeReader() {
      if (readerOpen) close(r);
      readerOpen = false;
    },
    close() {
      this.closeReader();
      close(w);
    },
  };
}
