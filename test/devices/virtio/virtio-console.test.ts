// virtio-console through its virtio-mmio transport, driven the way Linux's
// driver (drivers/char/virtio_console.c) drives it, each port writing into a
// real non-blocking pipe the test reads: the control handshake, output on the
// right pipe in order, a full pipe, a reader gone, hostile chains, a driver
// without MULTIPORT, a reset with output pending, the catalog entry.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { testGuestRam } from '../../support/test-guest-ram.js';
import { EAGAIN, EBADF, EFD_CLOEXEC, EFD_NONBLOCK, F_GETFD, check, close, eventfd, fcntl, koffi, read } from '../../../ffi/libc.js';
import { openPipe } from '../../support/pipe.js';
import { consoleDevice, virtioConsoleKind, type VirtioConsoleDefinition } from '../../../src/devices/kinds/virtio-console-kind.js';
import { VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_EVENT as E, VIRTIO_CONSOLE_F } from '../../../src/devices/virtio/virtio-console-layout.js';
import { VIRTIO_CONSOLE_QUEUE_SIZE, VirtioConsole, receiveQueueOf, transmitQueueOf } from '../../../src/devices/virtio/virtio-console.js';
import { VIRTIO_STATUS, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, featureBit } from '../../../src/devices/virtio/virtio-constants.js';
import { VIRTIO_MMIO, VirtioMmioTransport } from '../../../src/devices/virtio/virtio-mmio.js';
import { planDevices } from '../../../src/machine/device-plan.js';
import { parseMachine } from '../../../src/machine/machine-definition.js';
import { CountingIrq, MmioDriver, until } from './mmio-driver.js';
import type { DriverQueue } from './virtio-driver.js';

const RAM = 16 * 1024 * 1024;
/** Guest buffers go from here up (the driver's rings lie below). */
const DATA = 0x800000;
const CONTROL_RX = 2;
const CONTROL_TX = 3;
const MULTIPORT = featureBit(VIRTIO_CONSOLE_F.MULTIPORT);
const F_SETPIPE_SZ = 1031;

const { mem, ram } = testGuestRam(RAM);

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).reverse().forEach((f) => f()));

/** A pipe as the frontend makes one for a port: the device gets the write end; the test reads the other. */
class Pipe {
  readonly r: number;
  readonly w: number;
  private readerOpen = true;
  private writerOpen = true;

  constructor(size?: number) {
    [this.r, this.w] = openPipe({ nonBlocking: true });
    if (size !== undefined) check(fcntl(this.w, F_SETPIPE_SZ, size) as number, 'fcntl(F_SETPIPE_SZ)');
    cleanups.push(() => {
      this.closeReader();
      if (this.writerOpen) close(this.w);
    });
  }

  /** Everything waiting in the pipe now. */
  drain(): Uint8Array {
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = read(this.r, buf, buf.length) as number;
      if (n <= 0) {
        if (n < 0 && koffi.errno() !== EAGAIN) throw new Error(`read: errno ${koffi.errno()}`);
        break;
      }
      chunks.push(buf.slice(0, n));
    }
    return concat(chunks);
  }

  text(): string {
    return new TextDecoder().decode(this.drain());
  }

  /** The write end was handed to a device that closes it. */
  handedOver(): void {
    this.writerOpen = false;
  }

  closeReader(): void {
    if (this.readerOpen) close(this.r);
    this.readerOpen = false;
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

interface Message {
  id: number;
  event: number;
  value: number;
  name?: string;
}

/** A console with `names.length` ports on pipes, and a guest driver that negotiated (or refused) MULTIPORT. */
function rig(names: string[] = ['stdout', 'stderr'], opts: { multiport?: boolean; pipeSize?: number } = {}) {
  const multiport = opts.multiport ?? true;
  const pipes = names.map(() => new Pipe(opts.pipeSize));
  const errors: string[] = [];
  const hostErrors: string[] = [];
  const model = new VirtioConsole('console0', mem, {
    ports: names.map((name, i) => ({ name, fd: pipes[i].w })),
    onError: (m) => errors.push(m),
    onHostError: (m) => hostErrors.push(m),
  });
  cleanups.push(() => model.close());
  const irq = new CountingIrq();
  const transport = new VirtioMmioTransport(model, mem, irq, { onError: (m) => errors.push(m) });
  const d = new MmioDriver(transport, mem);
  const queues = multiport ? 2 * (names.length + 1) : 2;
  const features = d.init({ queues, accept: (offered) => (multiport ? offered : offered & ~MULTIPORT) });
  if (features === null) throw new Error('feature negotiation failed');

  let next = DATA;
  const alloc = (len: number) => {
    const at = next;
    next += Math.ceil(Math.max(len, 1) / 64) * 64;
    return at;
  };
  /** Where each posted control receive buffer lives, by head. */
  const controlBuffers = new Map<number, number>();

  return {
    model,
    transport,
    d,
    irq,
    pipes,
    errors,
    hostErrors,
    features,
    alloc,
    q: (index: number): DriverQueue => d.queues[index],
    /** Puts `bytes` in guest RAM and on port `port`'s transmitq, split into `pieces` descriptors; notifies. */
    write(port: number, bytes: Uint8Array, opts: { pieces?: number; indirect?: boolean; notify?: boolean } = {}): number {
      const pieces = opts.pieces ?? 1;
      const bufs = [];
      for (let i = 0; i < pieces; i++) {
        const part = bytes.subarray(Math.floor((i * bytes.length) / pieces), Math.floor(((i + 1) * bytes.length) / pieces));
        const gpa = alloc(part.length + 64); // a gap between pieces: not merged into one iovec
        ram.set(part, gpa);
        bufs.push({ gpa, len: part.length, writable: false });
      }
      const head = d.queues[transmitQueueOf(port)].add(bufs, { indirect: opts.indirect });
      if (head < 0) throw new Error('transmitq full');
      if (opts.notify ?? true) d.notify(transmitQueueOf(port));
      return head;
    },
    /** Posts `count` control receive buffers of `size` bytes; notifies. */
    postControlBuffers(count: number, size = 4096): void {
      for (let i = 0; i < count; i++) {
        const gpa = alloc(size);
        ram.fill(0xee, gpa, gpa + size);
        controlBuffers.set(d.queues[CONTROL_RX].add([{ gpa, len: size, writable: true }]), gpa);
      }
      d.notify(CONTROL_RX);
    },
    /** Sends a control message on the control transmitq; returns whether the device returned its buffer. */
    sendControl(id: number, event: number, value: number): boolean {
      const gpa = alloc(8);
      const v = new DataView(ram.buffer, ram.byteOffset + gpa, 8);
      v.setUint32(0, id, true);
      v.setUint16(4, event, true);
      v.setUint16(6, value, true);
      const head = d.queues[CONTROL_TX].add([{ gpa, len: 8, writable: false }]);
      d.notify(CONTROL_TX);
      // Linux spins until its message comes back: it must be back now.
      return d.queues[CONTROL_TX].takeUsed().some((u) => u.id === head && u.len === 0);
    },
    /** Messages the device delivered since the last call, in order (a buffer it returned unused reads as null). */
    received(): (Message | null)[] {
      return d.queues[CONTROL_RX].takeUsed().map(({ id, len }) => {
        if (len === 0) return null;
        const gpa = controlBuffers.get(id)!;
        const v = new DataView(ram.buffer, ram.byteOffset + gpa, len);
        const m: Message = { id: v.getUint32(0, true), event: v.getUint16(4, true), value: v.getUint16(6, true) };
        if (len > 8) m.name = new TextDecoder().decode(ram.subarray(gpa + 8, gpa + len));
        return m;
      });
    },
  };
}

/** Runs the whole Linux handshake, with plenty of control buffers. */
function handshake(t: ReturnType<typeof rig>, ports: number): void {
  t.postControlBuffers(4 * ports + 4);
  t.sendControl(VIRTIO_CONSOLE_BAD_ID, E.DEVICE_READY, 1);
  for (let i = 0; i < ports; i++) t.sendControl(i, E.PORT_READY, 1);
  t.received();
}

describe('virtio-console', () => {
  it('is a console device with MULTIPORT, a queue pair per port and the control pair, and max_nr_ports in its configuration', () => {
    const t = rig(['a', 'b', 'c']);
    expect(t.d.read32(VIRTIO_MMIO.DEVICE_ID)).toBe(3);
    const offered = t.d.deviceFeatures();
    expect(offered & MULTIPORT).toBe(MULTIPORT);
    expect(offered & featureBit(VIRTIO_CONSOLE_F.SIZE)).toBe(0n);
    expect(offered & featureBit(VIRTIO_CONSOLE_F.EMERG_WRITE)).toBe(0n);
    expect(offered).toBe(virtioConsoleKind.virtio.features);
    // 3 ports: 8 queues, and as many doorbells in the catalog.
    expect(t.model.queueMaxSizes.length).toBe(8);
    expect(virtioConsoleKind.queueCount(consoleDevice([{ name: 'a', output: 'stdout' }, { name: 'b', output: 'stdout' }, { name: 'c', output: 'stderr' }]))).toBe(8);
    for (const [q, max] of [[0, VIRTIO_CONSOLE_QUEUE_SIZE], [7, VIRTIO_CONSOLE_QUEUE_SIZE], [8, 0]]) {
      t.d.write32(VIRTIO_MMIO.QUEUE_SEL, q);
      expect(t.d.read32(VIRTIO_MMIO.QUEUE_NUM_MAX), `queue ${q}`).toBe(max);
    }
    expect([receiveQueueOf(0), transmitQueueOf(0), receiveQueueOf(1), transmitQueueOf(1), receiveQueueOf(2), transmitQueueOf(2)]).toEqual([0, 1, 4, 5, 6, 7]);
    expect(t.d.configRead(0, 2)).toBe(0n); // cols
    expect(t.d.configRead(2, 2)).toBe(0n); // rows
    expect(t.d.configRead(4, 4)).toBe(3n); // max_nr_ports
    expect(t.d.read32(VIRTIO_MMIO.STATUS) & VIRTIO_STATUS.DRIVER_OK).toBeTruthy();
  });

  it('runs the control handshake: DEVICE_READY adds every port, PORT_READY gets the name and PORT_OPEN', () => {
    const t = rig(['stdout', 'stderr']);
    t.postControlBuffers(8);
    expect(t.received()).toEqual([]);
    const edges = t.irq.edges;
    expect(t.sendControl(VIRTIO_CONSOLE_BAD_ID, E.DEVICE_READY, 1)).toBe(true);
    expect(t.received()).toEqual([
      { id: 0, event: E.DEVICE_ADD, value: 0 },
      { id: 1, event: E.DEVICE_ADD, value: 0 },
    ]);
    expect(t.irq.edges).toBeGreaterThan(edges);
    expect(t.sendControl(1, E.PORT_READY, 1)).toBe(true);
    expect(t.sendControl(0, E.PORT_READY, 1)).toBe(true);
    expect(t.received()).toEqual([
      { id: 1, event: E.PORT_NAME, value: 0, name: 'stderr' },
      { id: 1, event: E.PORT_OPEN, value: 1 },
      { id: 0, event: E.PORT_NAME, value: 0, name: 'stdout' },
      { id: 0, event: E.PORT_OPEN, value: 1 },
    ]);
    // The used length is the header and the name, no NUL (Linux sizes the name by it).
    // A second DEVICE_READY adds no port twice (the spec forbids it); the guest opening a port needs no answer.
    expect(t.sendControl(VIRTIO_CONSOLE_BAD_ID, E.DEVICE_READY, 1)).toBe(true);
    expect(t.sendControl(0, E.PORT_OPEN, 1)).toBe(true);
    expect(t.received()).toEqual([]);
    expect(t.errors).toEqual([]);
    expect(t.model.stats).toMatchObject({ controlReceived: 5, controlSent: 6, controlRefused: 0 });
  });

  it('keeps messages for the driver until it posts control buffers, and asks to be notified when it does', () => {
    const t = rig(['stdout', 'stderr']);
    // DEVICE_READY before any receive buffer: its buffer still comes back at once (Linux spins on it).
    expect(t.sendControl(VIRTIO_CONSOLE_BAD_ID, E.DEVICE_READY, 1)).toBe(true);
    expect(t.received()).toEqual([]);
    t.postControlBuffers(1);
    expect(t.received()).toEqual([{ id: 0, event: E.DEVICE_ADD, value: 0 }]);
    // With EVENT_IDX the driver kicks only when it passes avail_event: out of buffers with a
    // message still waiting, the device moved it to the next buffer the driver will post.
    expect(t.q(CONTROL_RX).availEvent).toBe(1);
    // A buffer too small for the message comes back unused; the message waits for the next.
    t.postControlBuffers(1, 4);
    expect(t.received()).toEqual([null]);
    t.postControlBuffers(1);
    expect(t.received()).toEqual([{ id: 1, event: E.DEVICE_ADD, value: 0 }]);
    // A name longer than the buffer: the same. PORT_READY repeated while the messages wait
    // queues nothing more (a driver cannot make the device hold more than 3 per port).
    for (let i = 0; i < 100; i++) t.sendControl(0, E.PORT_READY, 1);
    t.postControlBuffers(1, 8 + 3);
    expect(t.received()).toEqual([null]);
    t.postControlBuffers(4);
    expect(t.received()).toEqual([
      { id: 0, event: E.PORT_NAME, value: 0, name: 'stdout' },
      { id: 0, event: E.PORT_OPEN, value: 1 },
    ]);
    expect(t.errors.join('\n')).toMatch(/4 bytes, too few for a 8-byte control message[^]*11 bytes, too few for a 14-byte/);
    expect(t.model.stats.controlRefused).toBe(2);
  });

  it('reports control messages it cannot use, returns their buffers, and keeps going', () => {
    const t = rig(['stdout']);
    t.postControlBuffers(4);
    expect(t.sendControl(0, E.PORT_READY, 1)).toBe(true); // before DEVICE_ADD
    expect(t.sendControl(VIRTIO_CONSOLE_BAD_ID, E.DEVICE_READY, 0)).toBe(true);
    expect(t.sendControl(7, E.PORT_OPEN, 1)).toBe(true);
    expect(t.sendControl(0, 42, 0)).toBe(true);
    expect(t.sendControl(0, E.DEVICE_ADD, 0)).toBe(true); // the device's message, not the driver's
    // A 4-byte message, and one with a device-writable buffer.
    const cq = t.q(CONTROL_TX);
    const short = t.alloc(8);
    cq.add([{ gpa: short, len: 4, writable: false }]);
    cq.add([
      { gpa: short, len: 8, writable: false },
      { gpa: short, len: 8, writable: true },
    ]);
    t.d.notify(CONTROL_TX);
    expect(cq.takeUsed().map((u) => u.len)).toEqual([0, 0]);
    expect(t.received()).toEqual([]);
    const errors = t.errors.join('\n');
    for (const m of [/PORT_READY for port 0, which was not added/, /DEVICE_READY 0/, /PORT_OPEN for port 7, which does not exist/, /unexpected control event 42/, /unexpected control event 1 /, /4 bytes, less than a control message/, /device-writable buffer in the control transmitq/])
      expect(errors).toMatch(m);
    expect(t.transport.broken).toBe(false);
    // The handshake still works.
    t.sendControl(VIRTIO_CONSOLE_BAD_ID, E.DEVICE_READY, 1);
    expect(t.received()).toEqual([{ id: 0, event: E.DEVICE_ADD, value: 0 }]);
  });

  it("writes each port's output to its own pipe, byte for byte and in order, zero copy", () => {
    const t = rig(['stdout', 'stderr']);
    handshake(t, 2);
    const enc = (s: string) => new TextEncoder().encode(s);
    t.write(0, enc('hello, '));
    t.write(1, enc('warning: '));
    t.write(0, enc('wide world'), { pieces: 3 });
    t.write(1, enc('disk almost full\n'), { indirect: true, pieces: 2 });
    t.write(0, enc('!\n'));
    expect(t.pipes[0].text()).toBe('hello, wide world!\n');
    expect(t.pipes[1].text()).toBe('warning: disk almost full\n');
    // Transmit chains come back with nothing written into them.
    expect(t.q(transmitQueueOf(0)).takeUsed().map((u) => u.len)).toEqual([0, 0, 0]);
    expect(t.q(transmitQueueOf(1)).takeUsed().map((u) => u.len)).toEqual([0, 0]);
    const [out, err] = t.model.ports;
    expect(out.stats).toMatchObject({ chains: 3, bytes: 19, droppedBytes: 0, refused: 0 });
    expect(err.stats).toMatchObject({ chains: 2, bytes: 26 });
    expect(out.mapper.stats).toMatchObject({ directBytes: 19, bouncedBytes: 0 });
    // Nothing goes to the receive queues (no input yet): a posted receive buffer stays posted.
    const rx = t.q(receiveQueueOf(0));
    rx.add([{ gpa: t.alloc(64), len: 64, writable: true }]);
    t.d.notify(receiveQueueOf(0));
    expect(rx.takeUsed()).toEqual([]);
    expect(t.errors).toEqual([]);
  });

  it('waits on a full pipe and goes on where it stopped when the reader drains it: nothing lost, doubled or reordered', async () => {
    const t = rig(['stdout', 'stderr'], { pipeSize: 4096 });
    handshake(t, 2);
    const chunks = [randomBytes(32 * 1024, 1), randomBytes(32 * 1024, 2), randomBytes(20_000, 3), randomBytes(7, 4)];
    chunks.forEach((c, i) => t.write(0, c, { pieces: 1 + (i % 3) }));
    const tx = t.q(transmitQueueOf(0));
    const out = t.model.ports[0];
    // The pipe took what it holds; the first chain stays with the device, not returned yet.
    expect(out.stats.bytes).toBeGreaterThan(0);
    expect(out.stats.bytes).toBeLessThan(32 * 1024);
    expect(out.stats.waits).toBe(1); // once, however often the driver kicks meanwhile
    expect(tx.takeUsed()).toEqual([]);
    // Port 1 is not held up by port 0's full pipe.
    t.write(1, new TextEncoder().encode('still here'));
    expect(t.pipes[1].text()).toBe('still here');
    // The reader drains a little at a time; the device resumes on its own (the descriptor became writable).
    const got: Uint8Array[] = [];
    let returned = 0;
    const total = chunks.reduce((n, c) => n + c.length, 0);
    await until(() => {
      got.push(t.pipes[0].drain());
      returned += tx.takeUsed().length;
      return got.reduce((n, c) => n + c.length, 0) >= total && returned === chunks.length;
    });
    expect(Buffer.compare(concat(got), concat(chunks))).toBe(0);
    expect(out.stats).toMatchObject({ chains: 4, bytes: total, droppedBytes: 0 });
  });

  it('drops the output of a port whose reader is gone (EPIPE): no exception, chains returned, bytes counted, reported once', async () => {
    const t = rig(['stdout', 'stderr'], { pipeSize: 4096 });
    handshake(t, 2);
    // A chain half written into a full pipe when the reader goes away.
    t.write(0, randomBytes(10_000, 5));
    const out = t.model.ports[0];
    const written = out.stats.bytes;
    expect(written).toBeLessThan(10_000);
    t.pipes[0].closeReader();
    const tx = t.q(transmitQueueOf(0));
    await until(() => tx.takeUsed().length === 1);
    expect(out.stats.droppedBytes).toBe(10_000 - written);
    // Later output is dropped at once.
    expect(() => t.write(0, randomBytes(300, 6))).not.toThrow();
    expect(() => t.write(0, randomBytes(200, 7), { pieces: 2 })).not.toThrow();
    expect(tx.takeUsed().length).toBe(2);
    expect(out.stats).toMatchObject({ chains: 3, bytes: written, droppedBytes: 10_000 - written + 500 });
    expect(out.failed).toBe(true);
    expect(t.hostErrors).toEqual([expect.stringMatching(/console port stdout: nobody reads its output any more \(EPIPE\)/)]);
    // The other port and the device carry on.
    t.write(1, new TextEncoder().encode('ok'));
    expect(t.pipes[1].text()).toBe('ok');
    expect(t.transport.broken).toBe(false);
  });

  it('returns hostile transmit chains unwritten and reports them: a device-writable buffer, a buffer outside RAM', () => {
    const t = rig(['stdout', 'stderr']);
    handshake(t, 2);
    const tx = t.q(transmitQueueOf(0));
    const gpa = t.alloc(64);
    ram.set(new TextEncoder().encode('secret'), gpa);
    tx.add([
      { gpa, len: 6, writable: false },
      { gpa: gpa + 32, len: 16, writable: true },
    ]);
    tx.add([{ gpa: RAM - 4, len: 64, writable: false }]);
    tx.add([{ gpa: 2 ** 52, len: 8, writable: false }]);
    t.d.notify(transmitQueueOf(0));
    expect(tx.takeUsed().map((u) => u.len)).toEqual([0, 0, 0]);
    expect(t.pipes[0].drain().length).toBe(0);
    expect(t.model.ports[0].stats).toMatchObject({ chains: 3, refused: 3, bytes: 0 });
    expect(t.errors.join('\n')).toMatch(/device-writable buffer in a transmit chain[^]*BadAddress[^]*BadAddress/);
    expect(t.transport.broken).toBe(false);
    // The port still works.
    t.write(0, new TextEncoder().encode('fine'));
    expect(t.pipes[0].text()).toBe('fine');
  });

  it('marks the device for reset on a descriptor loop, without throwing', () => {
    const t = rig(['stdout', 'stderr']);
    handshake(t, 2);
    const tx = t.q(transmitQueueOf(1));
    const gpa = t.alloc(32);
    tx.writeDesc(0, gpa, 16, VIRTQ_DESC_F_NEXT, 1);
    tx.writeDesc(1, gpa + 16, 16, VIRTQ_DESC_F_NEXT, 0);
    tx.putAvail(0);
    expect(() => t.d.notify(transmitQueueOf(1))).not.toThrow();
    expect(t.transport.broken).toBe(true);
    expect(t.d.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET).toBeTruthy();
    expect(t.errors.join('\n')).toMatch(/malformed transmit descriptor chain on port stderr \(Loop\)/);
  });

  it('marks the device for reset on a malformed control chain (a writable buffer before a readable one)', () => {
    const t = rig(['stdout']);
    const cq = t.q(CONTROL_TX);
    const gpa = t.alloc(16);
    cq.writeDesc(0, gpa, 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    cq.writeDesc(1, gpa + 8, 8, 0, 0);
    cq.putAvail(0);
    expect(() => t.d.notify(CONTROL_TX)).not.toThrow();
    expect(t.transport.broken).toBe(true);
  });

  it('serves port 0 as a plain console for a driver without MULTIPORT', () => {
    const t = rig(['stdout', 'stderr'], { multiport: false });
    expect(t.features! & MULTIPORT).toBe(0n);
    t.write(0, new TextEncoder().encode('console output\n'), { pieces: 2 });
    expect(t.pipes[0].text()).toBe('console output\n');
    expect(t.q(transmitQueueOf(0)).takeUsed()).toEqual([{ id: expect.any(Number), len: 0 }]);
    // Notifying queues the driver does not have is harmless.
    for (const q of [CONTROL_RX, CONTROL_TX, transmitQueueOf(1)]) expect(() => t.d.notify(q)).not.toThrow();
    expect(t.pipes[1].drain().length).toBe(0);
    expect(t.model.stats.controlSent).toBe(0);
    expect(t.transport.broken).toBe(false);
  });

  it('forgets a chain half written at a reset, stops waiting on the pipe, and serves the next driver from a clean start', async () => {
    const t = rig(['stdout', 'stderr'], { pipeSize: 4096 });
    handshake(t, 2);
    t.write(0, randomBytes(10_000, 8));
    t.write(0, randomBytes(100, 9));
    const out = t.model.ports[0];
    const before = out.stats.bytes;
    expect(before).toBeLessThan(10_000);
    t.d.write32(VIRTIO_MMIO.STATUS, 0);
    expect(out.stats.abandonedBytes).toBe(10_000 - before);
    // The reader drains; nothing more of the old ring is written (the device no longer waits on the pipe).
    const old = t.pipes[0].drain();
    expect(old.length).toBe(before);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(t.pipes[0].drain().length).toBe(0);
    expect(out.stats.bytes).toBe(before);
    // A new driver: handshake again, and output flows.
    expect(t.d.init({ queues: 6 })).not.toBeNull();
    handshake(t, 2);
    t.write(0, new TextEncoder().encode('after reset'));
    expect(t.pipes[0].text()).toBe('after reset');
  });

  it('flushes what is queued at shutdown when the reader drained the pipe meanwhile, and gives up at the deadline when it does not', () => {
    const t = rig(['stdout', 'stderr'], { pipeSize: 4096 });
    handshake(t, 2);
    const data = randomBytes(6000, 10);
    t.write(0, data);
    // The reader drains the pipe but the event loop has not run: the device still waits.
    const first = t.pipes[0].drain();
    expect(first.length).toBeLessThan(6000);
    const errData = [randomBytes(3000, 11), randomBytes(3000, 12)];
    t.write(1, errData[0]);
    t.write(1, errData[1], { notify: false }); // in the ring, never notified
    // Port 0's rest fits in the drained pipe; port 1 is stuck on a full one.
    expect(t.model.flush(200)).toEqual(['stderr']);
    expect(Buffer.compare(concat([first, t.pipes[0].drain()]), data)).toBe(0);
    const errFirst = t.pipes[1].drain();
    expect(errFirst.length).toBeLessThan(6000);
    expect(t.model.flush(50)).toEqual([]);
    expect(Buffer.compare(concat([errFirst, t.pipes[1].drain()]), concat(errData))).toBe(0);
  });
});

describe('virtio-console in the catalog and machine files', () => {
  const machine = (console: object) =>
    parseMachine(
      {
        name: 'm',
        memory: { defaultSize: '64M', mmioGap: { start: '0xc0000000', end: '0x100000000' } },
        devices: [{ type: 'virtio-mmio', base: '0xd0000000', slotSize: '0x1000', irqs: [5, 6] }, console],
      },
      'm.json',
    );
  const ports = [
    { name: 'stdout', output: 'stdout' },
    { name: 'stderr', output: 'stderr' },
  ];

  it('reads its ports and refuses bad ones naming the path', () => {
    expect(machine({ type: 'virtio-console', name: 'console0', ports }).devices[1]).toEqual({ type: 'virtio-console', name: 'console0', ports });
    const bad: [object, RegExp][] = [
      [{ ports: [] }, /devices\[1\].ports: expected 1 to 16 ports, got 0/],
      [{ ports: Array.from({ length: 17 }, (_, i) => ({ name: `p${i}`, output: 'stdout' })) }, /expected 1 to 16 ports, got 17/],
      [{ ports: 'stdout' }, /devices\[1\].ports: expected an array/],
      [{}, /devices\[1\].ports: expected an array/],
      [{ ports: [{ name: 'a b', output: 'stdout' }] }, /devices\[1\].ports\[0\].name: expected 1 to 64 of/],
      [{ ports: [{ name: 'x'.repeat(65), output: 'stdout' }] }, /ports\[0\].name: expected 1 to 64/],
      [{ ports: [{ name: 'out', output: 'stdout' }, { name: 'out', output: 'stderr' }] }, /ports\[1\].name: port name "out" is used twice/],
      [{ ports: [{ name: 'out', output: 'stdin' }] }, /ports\[0\].output: expected one of stdout, stderr, got "stdin"/],
      [{ ports: [{ name: 'out' }] }, /ports\[0\].output: expected a string/],
      [{ ports: [{ name: 'out', output: 'stdout', colour: 'red' }] }, /ports\[0\].colour: unknown field \(allowed: name, output\)/],
      [{ ports, speed: 9600 }, /devices\[1\].speed: unknown field/],
    ];
    for (const [fields, error] of bad) expect(() => machine({ type: 'virtio-console', ...fields }), JSON.stringify(fields)).toThrow(error);
  });

  it('asks the frontend for one output pipe per port, and runs on the main thread', () => {
    const d = consoleDevice([
      { name: 'stdout', output: 'stdout' },
      { name: 'stderr', output: 'stderr' },
    ]);
    expect(d.name).toBe('console0');
    expect(consoleDevice([], 'c1').name).toBe('c1');
    expect(virtioConsoleKind.files(d)).toEqual([
      { role: 'port0', file: { kind: 'output-pipe', stream: 'stdout' } },
      { role: 'port1', file: { kind: 'output-pipe', stream: 'stderr' } },
    ]);
    const plan = planDevices(machine({ type: 'virtio-console', name: 'console0', ports }), []);
    const planned = plan.devices.find((x) => x.name === 'console0')!;
    expect([planned.host, planned.virtio]).toEqual(['main-thread', { slot: 0, irq: 5 }]);
    expect(planned.descriptors.map((x) => [x.role, x.source, x.helper])).toEqual([
      ['port0', { kind: 'file', file: { kind: 'output-pipe', stream: 'stdout' } }, true],
      ['port1', { kind: 'file', file: { kind: 'output-pipe', stream: 'stderr' } }, true],
    ]);
  });

  it('builds a device on the pipes it is given, flushes at close and closes them', () => {
    const pipes = [new Pipe(4096), new Pipe()];
    const lines: { msg: string }[] = [];
    const log = pino({ base: undefined, level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const d: VirtioConsoleDefinition = consoleDevice([
      { name: 'out', output: 'stdout' },
      { name: 'err', output: 'stderr' },
    ]);
    const notifyFds = Array.from({ length: virtioConsoleKind.queueCount(d) }, () => check(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) as number, 'eventfd'));
    cleanups.push(() => notifyFds.forEach((fd) => close(fd)));
    const fds = new Map(pipes.map((p, i) => [`port${i}`, p.w]));
    const instance = virtioConsoleKind.build(d, { memory: mem, interrupt: new CountingIrq(), notifyFds, file: (role) => fds.get(role)!, log });
    const driver = new MmioDriver(instance.transport, mem);
    expect(driver.init({ queues: 6 })).not.toBeNull();
    const data = randomBytes(5000, 13);
    ram.set(data, DATA);
    driver.queues[transmitQueueOf(0)].add([{ gpa: DATA, len: data.length, writable: false }]);
    driver.notify(transmitQueueOf(0));
    const first = pipes[0].drain();
    instance.close();
    expect(Buffer.compare(concat([first, pipes[0].drain()]), data)).toBe(0);
    for (const p of pipes) {
      expect(fcntl(p.w, F_GETFD, 0)).toBe(-1);
      expect(koffi.errno()).toBe(EBADF);
    }
    pipes.forEach((p) => p.handedOver());
    expect(lines.map((l) => l.msg).join('\n')).toMatch(/console console0: port 0 "out" to stdout, port 1 "err" to stderr/);
    expect(instance.statistics()).toMatchObject({ ports: { out: { bytes: 5000, dma: { directBytes: 5000, bouncedBytes: 0 } }, err: { bytes: 0 } } });
  });
});
