// virtio-console (virtio v1.2 §5.3) with VIRTIO_CONSOLE_F_MULTIPORT, output
// only: what the guest writes to a port (/dev/vport0pN) goes to that port's
// host descriptor, the write end of a non-blocking pipe (`tsvmm exec` gets a
// command's stdout and stderr this way, apart). Input (host to guest) is not
// supported yet: receive buffers the driver posts stay posted, unused.
//
// Queues, fixed at construction: 0/1 port 0's receiveq/transmitq, 2/3 the
// control receiveq (device to driver) and transmitq, then 2i+2/2i+3 for port
// i ≥ 1. A driver that does not take MULTIPORT uses queues 0/1 only: port 0,
// which it treats as a console, still goes to port 0's descriptor.
//
// The control handshake, as Linux's driver (drivers/char/virtio_console.c)
// runs it: driver DEVICE_READY(1); device DEVICE_ADD(i) for each port; driver
// PORT_READY(i, 1) once a port is set up; device PORT_NAME(i) (the name after
// the header) and PORT_OPEN(i, 1): the host end is connected, without which
// Linux blocks the port's writers. No port is nominated CONSOLE_PORT. The
// driver's transmit chains are completed at once (Linux spins until they
// are); messages to it wait in the device until it posts control receive
// buffers, and none is dropped.
//
// Output: a transmit chain's buffers are mapped through the DMA API and go to
// the descriptor with writev, zero copy, one chain at a time per port, in ring
// order. A full pipe (EAGAIN) keeps the chain and how much of it went, and the
// port waits until the descriptor is writable; the guest's writers block once
// its ring is full (backpressure, nothing lost). A reader that went away
// (EPIPE) turns the port into a sink: its chains are completed unsent, counted,
// reported once. (PORT_OPEN(i, 0) would tell the driver instead, but Linux then
// blocks the port's writers for good.)
//
// Linux completes a port write as soon as its buffer is in the ring, so a
// command's last output may still be there when the VM ends: flush() writes
// it out at shutdown, waiting for the reader up to a deadline. A reset or a
// disabled queue forgets the chains: the rest of one half written is
// abandoned (counted), since the driver may reuse its memory at once.
//
// VIRTIO_CONSOLE_F_SIZE is not offered (no port is a terminal), nor
// F_EMERG_WRITE: Linux does not use it, and a byte written to emerg_wr could
// only be kept or lost when the pipe is full.
//
// What a guest gets wrong is a counted, reported value, never an exception:
// an unusable chain (a buffer in the wrong direction, outside guest RAM, too
// short) is returned with nothing done; a malformed ring marks the device
// DEVICE_NEEDS_RESET.
import { EAGAIN, EINTR, EPIPE, errnoName, koffi, poll, writev } from '../../../ffi/libc.js';
import { HostBuffer } from '../../memory/dma-host-buffer.js';
import { IoVecArray } from '../../memory/dma-iovec.js';
import { DmaMapper, type DmaMapping } from '../../memory/dma-mapper.js';
import { DmaSgList } from '../../memory/dma-sg-list.js';
import { DmaStatus, describeDmaStatus } from '../../memory/dma-status.js';
import { DmaAccess, GuestMemoryTranslator } from '../../memory/dma-translator.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { FdReadiness } from '../../net/fd-readiness.js';
import { ChainReader, ChainWriter } from './chain-streams.js';
import { StructView } from './guest-struct.js';
import { VIRTIO_CONSOLE_EVENT, VIRTIO_CONSOLE_F, VirtioConsoleConfig, VirtioConsoleControl } from './virtio-console-layout.js';
import { VIRTIO_F, VIRTIO_ID, featureBit } from './virtio-constants.js';
import type { VirtioDevice, VirtioDeviceContext } from './virtio-device.js';
import { ChainError, DescriptorChain, MAX_CHAIN_SEGMENTS, PopResult, type VirtQueue } from './virtqueue.js';

/** Size of each port's queues: Linux writes up to 32 KiB per chain, so up to 4 MiB in flight per port. */
export const VIRTIO_CONSOLE_QUEUE_SIZE = 128;
/** Size of the control queues: Linux has one message in flight at a time. */
export const VIRTIO_CONSOLE_CONTROL_QUEUE_SIZE = 32;
/** The most ports a device has (its queues are created up front). */
export const VIRTIO_CONSOLE_MAX_PORTS = 16;

export const VIRTIO_CONSOLE_FEATURES =
  featureBit(VIRTIO_F.VERSION_1) | featureBit(VIRTIO_F.RING_INDIRECT_DESC) | featureBit(VIRTIO_F.RING_EVENT_IDX) | featureBit(VIRTIO_CONSOLE_F.MULTIPORT);

const CONTROL_RX = 2;
const CONTROL_TX = 3;
const CONTROL_HEADER = VirtioConsoleControl.size;
/** Chains a port writes before yielding to the event loop. */
const CHAINS_PER_TURN = 64;
/** iovecs per piece of a chain (merged where guest buffers touch; more pieces for more). */
const IOVECS = 64;
/** poll(2): writable (ffi/libc.ts has POLLIN only). */
const POLLOUT = 0x4;

/** Port `port`'s receiveq (virtio v1.2 §5.3.2). */
export function receiveQueueOf(port: number): number {
  return port === 0 ? 0 : 2 * port + 2;
}

/** Port `port`'s transmitq. */
export function transmitQueueOf(port: number): number {
  return port === 0 ? 1 : 2 * port + 3;
}

/** The queues of a device with `ports` ports, by index: each port's pair and the control pair. */
export function consoleQueueSizes(ports: number): number[] {
  const sizes = [VIRTIO_CONSOLE_QUEUE_SIZE, VIRTIO_CONSOLE_QUEUE_SIZE, VIRTIO_CONSOLE_CONTROL_QUEUE_SIZE, VIRTIO_CONSOLE_CONTROL_QUEUE_SIZE];
  for (let i = 1; i < ports; i++) sizes.push(VIRTIO_CONSOLE_QUEUE_SIZE, VIRTIO_CONSOLE_QUEUE_SIZE);
  return sizes;
}

export interface VirtioConsolePortOptions {
  /** Sent to the driver (PORT_NAME): /sys/class/virtio-ports/vport0pN/name. */
  name: string;
  /** Where the port's output goes: a non-blocking descriptor (the caller keeps it and closes it). */
  fd: number;
}

export interface VirtioConsoleOptions {
  ports: readonly VirtioConsolePortOptions[];
  /** Told what the guest got wrong; the caller rate-limits the log. */
  onError?: (message: string) => void;
  /** Told once per port when its descriptor fails (its reader is gone); the port's output is dropped from then on. */
  onHostError?: (message: string) => void;
}

export interface ConsolePortStats {
  /** Transmit chains taken from the ring (each returned once). */
  chains: number;
  /** Bytes written to the port's descriptor. */
  bytes: number;
  /** Bytes returned unwritten because the descriptor failed (EPIPE: its reader is gone). */
  droppedBytes: number;
  /** Bytes of a chain half written when a reset or a disabled queue made the device forget it. */
  abandonedBytes: number;
  /** Chains returned unread because they were unusable. */
  refused: number;
  /** Times the port found its pipe full and began to wait for the reader. */
  waits: number;
}

export interface VirtioConsoleStats {
  /** Control messages taken from the driver. */
  controlReceived: number;
  /** Control messages given to the driver. */
  controlSent: number;
  /** Control chains returned unused because they were unusable. */
  controlRefused: number;
}

interface ControlMessage {
  id: number;
  event: number;
  value: number;
}

type PumpResult = 'idle' | 'wait' | 'more';

export class VirtioConsole implements VirtioDevice {
  readonly deviceId = VIRTIO_ID.CONSOLE;
  readonly deviceFeatures = VIRTIO_CONSOLE_FEATURES;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = VirtioConsoleConfig.size;
  /** Set once at construction. */
  readonly configFixed = true;
  readonly stats: VirtioConsoleStats = { controlReceived: 0, controlSent: 0, controlRefused: 0 };
  readonly ports: readonly OutputPort[];

  private readonly config = new StructView(VirtioConsoleConfig);
  private readonly message = new StructView(VirtioConsoleControl);
  /** The chain being looked at (control queues, and a transmit chain until it is mapped). */
  private readonly chain = new DescriptorChain();
  /** Copies control messages (small) between guest buffers and `message`. */
  private readonly controlMapper: DmaMapper;
  private readonly controlReader: ChainReader;
  private readonly controlWriter: ChainWriter;
  private readonly names: Uint8Array[];
  private ctx: VirtioDeviceContext | null = null;
  private multiport = false;
  /** Messages for the driver, oldest first, until it posts control receive buffers. */
  private readonly outbox: ControlMessage[] = [];
  /** Ports announced (DEVICE_ADD) since the driver started: the spec forbids adding one twice. */
  private readonly added: boolean[];
  private controlResume: NodeJS.Immediate | null = null;

  constructor(
    readonly name: string,
    memory: GuestMemory,
    private readonly options: VirtioConsoleOptions,
  ) {
    const n = options.ports.length;
    if (!(n >= 1 && n <= VIRTIO_CONSOLE_MAX_PORTS)) throw new RangeError(`a virtio-console has 1 to ${VIRTIO_CONSOLE_MAX_PORTS} ports, not ${n}`);
    this.queueMaxSizes = consoleQueueSizes(n);
    this.config.set('max_nr_ports', n);
    this.names = options.ports.map((p) => new TextEncoder().encode(p.name));
    this.added = options.ports.map(() => false);
    this.controlMapper = new DmaMapper(new GuestMemoryTranslator(memory), { mappings: 1, iovecsPerMapping: 1 });
    this.controlReader = new ChainReader(this.controlMapper);
    this.controlWriter = new ChainWriter(this.controlMapper);
    this.ports = options.ports.map((p, i) => new OutputPort(i, p.name, p.fd, memory, this.chain, options));
  }

  // ---- VirtioDevice ----

  readConfig(offset: number, data: Uint8Array): void {
    data.set(this.config.bytes.subarray(offset, offset + data.length));
  }

  writeConfig(): void {
    // Nothing is writable (emerg_wr only with F_EMERG_WRITE, not offered).
  }

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
    this.multiport = (ctx.features & featureBit(VIRTIO_CONSOLE_F.MULTIPORT)) !== 0n;
    this.ports.forEach((p, i) => p.attach(ctx, i === 0 || this.multiport ? ctx.queues[transmitQueueOf(i)] : null));
    for (const p of this.ports) p.serve();
    if (this.multiport) this.serveControl();
  }

  queueNotify(index: number): void {
    if (this.ctx === null) return;
    if (this.multiport && index === CONTROL_TX) this.serveControl();
    else if (this.multiport && index === CONTROL_RX) this.deliverControl();
    else this.portOfTransmitQueue(index)?.serve();
  }

  reset(): void {
    this.ctx = null;
    this.multiport = false;
    for (const p of this.ports) p.detach();
    this.outbox.length = 0;
    this.added.fill(false);
    this.stopControlResume();
  }

  queueDisabled(index: number): void {
    // Control chains are finished as they are taken; the outbox stays, the
    // handshake still needs it when the driver sets the queue up again.
    this.portOfTransmitQueue(index)?.dropInFlight();
  }

  // ---- shutdown ----

  /**
   * Writes out what the guest has queued on every port, waiting up to
   * `timeoutMs` for full pipes to drain (the guest memory must still be
   * mapped). Returns the names of the ports that did not finish in time.
   */
  flush(timeoutMs: number): string[] {
    const deadline = performance.now() + timeoutMs;
    let busy = [...this.ports];
    for (;;) {
      const results = busy.map((p) => p.writeNow());
      busy = busy.filter((_, i) => results[i] !== 'idle');
      if (busy.length === 0) return [];
      const left = deadline - performance.now();
      if (left <= 0) return busy.map((p) => p.name);
      // Sleep only when every port still busy waits for its reader.
      if (!results.includes('more')) waitWritable(busy.map((p) => p.fd), Math.ceil(left));
    }
  }

  /** Stops watching descriptors and frees host memory; the descriptors stay open (their owner closes them). */
  close(): void {
    this.reset();
    for (const p of this.ports) p.close();
    this.controlMapper.release();
  }

  // ---- control ----

  private portOfTransmitQueue(index: number): OutputPort | undefined {
    if (index === 1) return this.ports[0];
    if (!this.multiport || index < 5 || index % 2 === 0) return undefined;
    return this.ports[(index - 3) / 2];
  }

  /** Takes the driver's control messages (at most a ring's worth per turn), then delivers any answers. */
  private serveControl(): void {
    const ctx = this.ctx;
    if (ctx === null || ctx.broken || this.controlResume !== null) return;
    const q = ctx.queues[CONTROL_TX];
    let used = false;
    let more = false;
    for (let taken = 0; q.ready; taken++) {
      if (taken === q.size) {
        more = true;
        break;
      }
      const r = q.pop(this.chain);
      if (r === PopResult.Empty) {
        if (q.enableNotifications()) continue;
        break;
      }
      q.disableNotifications();
      if (r === PopResult.Broken) {
        ctx.markBroken(`virtio-console: malformed control descriptor chain (${ChainError[this.chain.error]})`);
        return;
      }
      this.receiveControl(this.chain);
      q.pushUsed(this.chain.head, 0);
      used = true;
    }
    if (used) ctx.signalUsed(q);
    this.deliverControl();
    if (more) this.controlResume = setImmediate(() => ((this.controlResume = null), this.serveControl()));
  }

  private receiveControl(chain: DescriptorChain): void {
    const why =
      chain.error !== ChainError.None ? `buffers outside guest memory (${ChainError[chain.error]})`
      : chain.firstWritable < chain.count ? 'a device-writable buffer in the control transmitq'
      : chain.readableBytes < CONTROL_HEADER ? `${chain.readableBytes} bytes, less than a control message`
      : null;
    if (why !== null || this.controlReader.reset(chain).readStruct(this.message) !== DmaStatus.Ok) {
      this.refuseControl(`control message ${chain.head} ignored: ${why ?? 'unreadable'}`);
      return;
    }
    this.stats.controlReceived++;
    const id = this.message.get('id');
    const event = this.message.get('event');
    const value = this.message.get('value');
    const E = VIRTIO_CONSOLE_EVENT;
    switch (event) {
      case E.DEVICE_READY:
        if (value !== 1) return this.report(`the driver could not set the device up (DEVICE_READY ${value})`);
        this.ports.forEach((_, i) => {
          if (this.added[i]) return;
          this.added[i] = true;
          this.send(i, E.DEVICE_ADD, 0);
        });
        return;
      case E.PORT_READY:
        if (!this.isAdded(id, 'PORT_READY')) return;
        if (value !== 1) return this.report(`the driver could not set port ${id} up (PORT_READY ${value})`);
        this.send(id, E.PORT_NAME, 0);
        this.send(id, E.PORT_OPEN, 1);
        return;
      case E.PORT_OPEN:
        // The guest opened (1) or closed (0) the port: output flows either way.
        this.isAdded(id, 'PORT_OPEN');
        return;
      default:
        return this.report(`unexpected control event ${event} (id ${id}, value ${value}) from the driver`);
    }
  }

  private isAdded(id: number, event: string): boolean {
    if (id < this.ports.length && this.added[id]) return true;
    this.report(`${event} for port ${id}, which ${id < this.ports.length ? 'was not added' : `does not exist (${this.ports.length} ports)`}`);
    return false;
  }

  /** Queues a message for the driver; one already waiting is not queued twice (every message the device sends is idempotent). */
  private send(id: number, event: number, value: number): void {
    if (!this.outbox.some((m) => m.id === id && m.event === event && m.value === value)) this.outbox.push({ id, event, value });
  }

  /** Writes waiting messages into control receive buffers while the driver has posted some. */
  private deliverControl(): void {
    const ctx = this.ctx;
    if (ctx === null || ctx.broken || !this.multiport) return;
    const q = ctx.queues[CONTROL_RX];
    let used = false;
    for (let taken = 0; this.outbox.length > 0 && q.ready && taken < q.size; taken++) {
      const r = q.pop(this.chain);
      if (r === PopResult.Empty) {
        // Ask to be notified when buffers come (with EVENT_IDX the driver does only then).
        if (q.enableNotifications()) continue;
        break;
      }
      if (r === PopResult.Broken) {
        ctx.markBroken(`virtio-console: malformed control descriptor chain (${ChainError[this.chain.error]})`);
        return;
      }
      const written = this.writeControl(this.chain, this.outbox[0]);
      if (written > 0) {
        this.outbox.shift();
        this.stats.controlSent++;
      }
      q.pushUsed(this.chain.head, written);
      used = true;
    }
    if (used) ctx.signalUsed(q);
  }

  /** Writes `m` (and a port's name after PORT_NAME) into a control receive chain: the bytes written, 0 when the chain is unusable. */
  private writeControl(chain: DescriptorChain, m: ControlMessage): number {
    const name = m.event === VIRTIO_CONSOLE_EVENT.PORT_NAME ? this.names[m.id] : null;
    const size = CONTROL_HEADER + (name?.length ?? 0);
    const why =
      chain.error !== ChainError.None ? `buffers outside guest memory (${ChainError[chain.error]})`
      : chain.firstWritable !== 0 ? 'a device-readable buffer in the control receiveq'
      : chain.writableBytes < size ? `${chain.writableBytes} bytes, too few for a ${size}-byte control message`
      : null;
    if (why !== null) {
      this.refuseControl(`control buffer ${chain.head} returned unused: ${why}`);
      return 0;
    }
    this.message.set('id', m.id).set('event', m.event).set('value', m.value);
    const w = this.controlWriter.reset(chain);
    // pop() checked the buffers: these copies cannot fail.
    if (w.write(this.message.bytes, CONTROL_HEADER) !== DmaStatus.Ok || (name !== null && w.write(name) !== DmaStatus.Ok)) return 0;
    return w.written;
  }

  private refuseControl(message: string): void {
    this.stats.controlRefused++;
    this.report(message);
  }

  private report(message: string): void {
    this.options.onError?.(`virtio-console ${this.name}: ${message}`);
  }

  private stopControlResume(): void {
    if (this.controlResume !== null) clearImmediate(this.controlResume);
    this.controlResume = null;
  }
}

/** Blocks until one of `fds` is writable (or failed), `ms` at most: only at shutdown, never on the event loop's behalf. */
function waitWritable(fds: number[], ms: number): void {
  const pollfds = new DataView(new ArrayBuffer(8 * fds.length));
  fds.forEach((fd, i) => {
    pollfds.setInt32(8 * i, fd, true);
    pollfds.setInt16(8 * i + 4, POLLOUT, true);
  });
  poll(new Uint8Array(pollfds.buffer), fds.length, ms); // EINTR or a timeout: the caller looks again
}

/** One port's output: its transmit chains, in ring order, to its host descriptor. */
export class OutputPort {
  readonly stats: ConsolePortStats = { chains: 0, bytes: 0, droppedBytes: 0, abandonedBytes: 0, refused: 0, waits: 0 };
  /** Maps chains to iovecs; its stats say how many bytes went direct and how many were bounced. */
  readonly mapper: DmaMapper;

  private readonly reader: ChainReader;
  private readonly sg = new DmaSgList(MAX_CHAIN_SEGMENTS);
  private readonly readiness: FdReadiness;
  /** Host memory for `rest`, the iovecs of what is left of a piece after a partial write. */
  private readonly restMemory: HostBuffer;
  private readonly rest: IoVecArray;
  private ctx: VirtioDeviceContext | null = null;
  private queue: VirtQueue | null = null;
  // The chain being written (kept across EAGAIN).
  private mapping: DmaMapping | null = null;
  private head = 0;
  private pieceOpen = false;
  private pieceWritten = 0;
  private chainWritten = 0;
  /** Why the descriptor failed; from then on the port drops what it is given. */
  private failure: string | null = null;
  private watching = false;
  private resume: NodeJS.Immediate | null = null;

  constructor(
    readonly id: number,
    readonly name: string,
    /** Where the port's output goes (non-blocking). */
    readonly fd: number,
    memory: GuestMemory,
    /** The device's scratch chain: a transmit chain is used only until it is mapped. */
    private readonly chain: DescriptorChain,
    private readonly options: VirtioConsoleOptions,
  ) {
    this.mapper = new DmaMapper(new GuestMemoryTranslator(memory), {
      mappings: 1,
      iovecsPerMapping: IOVECS,
      maxSegments: MAX_CHAIN_SEGMENTS,
      // pop() refuses chains over 4 GiB; any size below is written piece by piece.
      maxTransfer: 2 ** 32,
      bounceBufferSize: 16 * 1024,
      bounceBuffers: 1,
      pieceAlignment: 1,
    });
    this.reader = new ChainReader(this.mapper);
    this.readiness = new FdReadiness(fd);
    this.restMemory = new HostBuffer(IOVECS * 16);
    this.rest = new IoVecArray(this.restMemory.bytes, this.restMemory.address, IOVECS);
  }

  /** Whether the descriptor failed (its output is dropped). */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** Serves `queue` (null: the driver does not use this port) for a running driver. */
  attach(ctx: VirtioDeviceContext, queue: VirtQueue | null): void {
    this.ctx = ctx;
    this.queue = queue;
  }

  /** The driver is gone (reset): forget its chains. */
  detach(): void {
    this.dropInFlight();
    this.ctx = null;
    this.queue = null;
  }

  /** Forgets the chain being written (its queue was reset) and stops waiting. */
  dropInFlight(): void {
    if (this.mapping !== null) {
      this.stats.abandonedBytes += this.mapping.totalLength - this.chainWritten;
      this.releaseChain();
    }
    if (this.resume !== null) clearImmediate(this.resume);
    this.resume = null;
    this.watch(false);
  }

  /** Writes what the ring holds, a turn's worth; waits for the descriptor or comes back for the rest. */
  serve(): void {
    if (this.resume !== null) return;
    const r = this.pump(CHAINS_PER_TURN);
    if (r === 'wait' && !this.watching) this.stats.waits++;
    this.watch(r === 'wait');
    if (r === 'more') this.resume = setImmediate(this.onResume);
  }

  /** For flush(): stops serving on the event loop and writes a turn's worth now. */
  writeNow(): PumpResult {
    if (this.resume !== null) clearImmediate(this.resume);
    this.resume = null;
    this.watch(false);
    return this.pump(CHAINS_PER_TURN);
  }

  close(): void {
    this.detach();
    this.readiness.close();
    this.mapper.release();
    this.restMemory.release();
  }

  private readonly onResume = (): void => {
    this.resume = null;
    this.serve();
  };

  private readonly onWritable = (): void => this.serve();

  private watch(writable: boolean): void {
    if (writable === this.watching) return;
    this.watching = writable;
    this.readiness.watch({ readable: false, writable }, this.onWritable);
  }

  /** Writes chains until the ring is empty ('idle'), the pipe is full ('wait') or `budget` chains are done ('more'). */
  private pump(budget: number): PumpResult {
    const ctx = this.ctx;
    const q = this.queue;
    if (ctx === null || q === null || !q.ready || ctx.broken) return 'idle';
    let used = false;
    try {
      for (let taken = 0; ; ) {
        if (this.mapping === null) {
          if (taken === budget) return 'more';
          const r = q.pop(this.chain);
          if (r === PopResult.Empty) {
            if (q.enableNotifications()) continue;
            return 'idle';
          }
          q.disableNotifications();
          if (r === PopResult.Broken) {
            ctx.markBroken(`virtio-console: malformed transmit descriptor chain on port ${this.name} (${ChainError[this.chain.error]})`);
            return 'idle';
          }
          taken++;
          this.stats.chains++;
          if (!this.take(this.chain)) {
            q.pushUsed(this.chain.head, 0);
            used = true;
            continue;
          }
        }
        if (!this.writeOut()) return 'wait';
        // Nothing is written into a transmit chain: its used length is 0.
        q.pushUsed(this.head, 0);
        used = true;
        this.releaseChain();
      }
    } finally {
      if (used) ctx.signalUsed(q);
    }
  }

  /** Maps a transmit chain for writing; false (the chain to return as it is) when there is nothing to write. */
  private take(chain: DescriptorChain): boolean {
    const why =
      chain.error !== ChainError.None ? `buffers outside guest memory (${ChainError[chain.error]})`
      : chain.firstWritable < chain.count ? 'a device-writable buffer in a transmit chain'
      : null;
    if (why !== null) return this.refuse(chain, why);
    if (this.failure !== null) {
      this.stats.droppedBytes += chain.readableBytes;
      return false;
    }
    if (chain.readableBytes === 0) return false;
    this.sg.reset();
    // The list holds as many elements as a chain may have: this cannot stop short.
    this.reader.reset(chain).takeSegments(chain.readableBytes, this.sg, DmaAccess.Read);
    const m = this.mapper.acquire()!;
    const s = this.mapper.map(this.sg, DmaAccess.Read, m);
    if (s !== DmaStatus.Ok) {
      m.release();
      return this.refuse(chain, describeDmaStatus(s));
    }
    this.mapping = m;
    this.head = chain.head;
    this.pieceOpen = false;
    this.chainWritten = 0;
    return true;
  }

  private refuse(chain: DescriptorChain, why: string): false {
    this.stats.refused++;
    this.options.onError?.(`virtio-console: port ${this.name}: transmit chain ${chain.head} returned unwritten: ${why}`);
    return false;
  }

  /** Writes the mapped chain on from where it stopped; true when it is all written (or dropped), false on a full pipe. */
  private writeOut(): boolean {
    const m = this.mapping!;
    for (;;) {
      if (this.failure !== null) {
        this.stats.droppedBytes += m.totalLength - this.chainWritten;
        return true;
      }
      if (!this.pieceOpen) {
        const s = m.nextPiece();
        if (s === DmaStatus.Done) return true;
        if (s !== DmaStatus.Ok) {
          // map() checked every byte; a memory map cannot change under a device.
          this.stats.droppedBytes += m.totalLength - this.chainWritten;
          this.options.onError?.(`virtio-console: port ${this.name}: transmit chain ${this.head} cut short: ${describeDmaStatus(s)}`);
          return true;
        }
        this.pieceOpen = true;
        this.pieceWritten = 0;
      }
      let iov = m.iov;
      if (this.pieceWritten > 0) {
        this.rest.reset();
        this.rest.appendFrom(m.iov, this.pieceWritten);
        iov = this.rest;
      }
      const n = writev(this.fd, iov.address, iov.count) as number;
      if (n < 0) {
        const errno = koffi.errno();
        if (errno === EAGAIN) return false;
        if (errno !== EINTR) this.fail(errno);
        continue;
      }
      if (n === 0) return false; // not for a pipe; wait rather than spin
      this.pieceWritten += n;
      this.chainWritten += n;
      this.stats.bytes += n;
      if (this.pieceWritten === m.pieceLength) {
        m.finishPiece(m.pieceLength);
        this.pieceOpen = false;
      }
    }
  }

  private fail(errno: number): void {
    this.failure = errnoName(errno);
    const why = errno === EPIPE ? 'nobody reads its output any more (EPIPE)' : `writing its output failed (${this.failure})`;
    this.options.onHostError?.(`console port ${this.name}: ${why}; what the guest writes to it is dropped from now on`);
  }

  private releaseChain(): void {
    this.mapping?.release();
    this.mapping = null;
    this.pieceOpen = false;
  }
}
