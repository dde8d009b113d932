// virtio-net against a real stream socket: the test holds the far end of a
// socketpair and speaks QEMU's stream framing (what passt speaks), while a
// guest-side driver (test/devices/virtio) posts buffers in guest memory.
import { afterEach, describe, expect, it } from 'vitest';
import { testGuestRam } from '../../support/test-guest-ram.js';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, check, close, read, socketpair, write } from '../../../ffi/libc.js';
import { VIRTIO_MMIO } from '../../../src/devices/virtio/virtio-mmio.js';
import { VirtioMmioTransport } from '../../../src/devices/virtio/virtio-mmio.js';
import { VIRTIO_NET_F, VIRTIO_NET_S_LINK_UP } from '../../../src/devices/virtio/virtio-net-layout.js';
import { VirtioNet, offloadFeatures } from '../../../src/devices/virtio/virtio-net.js';
import { tunOffloadFlags } from '../../../src/net/tap-backend.js';
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN } from '../../../ffi/tun.js';
import { VIRTIO_STATUS, featureBit } from '../../../src/devices/virtio/virtio-constants.js';
import { StreamBackend } from '../../../src/net/stream-backend.js';
import { CountingIrq, MmioDriver, until } from './mmio-driver.js';

const RAM = 4 * 1024 * 1024;
const BUF = 0x200000;
const HDR = 12;
const { mem, ram } = testGuestRam(RAM);

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).reverse().forEach((f) => f()));

/** The far end of the NIC's socket: frames in and out in QEMU's stream framing. */
class Peer {
  private pending: Uint8Array = new Uint8Array(0);
  constructor(public fd: number) {}

  close(): void {
    if (this.fd >= 0) close(this.fd);
    this.fd = -1;
  }

  send(frame: Uint8Array, cut?: number): void {
    const bytes = framed(frame);
    this.writeAll(cut === undefined ? bytes : bytes.subarray(0, cut));
  }

  writeAll(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      const n = write(this.fd, bytes.subarray(at), bytes.length - at) as number;
      if (n < 0) throw new Error('peer write failed');
      at += n;
    }
  }

  /** Frames received so far (reads what is waiting). */
  take(): Uint8Array[] {
    const chunk = new Uint8Array(1 << 20);
    for (;;) {
      const n = read(this.fd, chunk, chunk.length) as number;
      if (n <= 0) break;
      this.pending = concat(this.pending, chunk.subarray(0, n));
    }
    const frames: Uint8Array[] = [];
    while (this.pending.length >= 4) {
      const len = new DataView(this.pending.buffer, this.pending.byteOffset).getUint32(0);
      if (this.pending.length < 4 + len) break;
      frames.push(this.pending.slice(4, 4 + len));
      this.pending = this.pending.slice(4 + len);
    }
    return frames;
  }
}

function framed(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + frame.length);
  new DataView(out.buffer).setUint32(0, frame.length);
  out.set(frame, 4);
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A recognisable Ethernet frame of `n` bytes. */
function frameOf(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
}

function rig(opts: { mergeable?: boolean } = {}) {
  const sv = new Int32Array(2);
  check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) as number, 'socketpair');
  const errors: string[] = [];
  const backendErrors: string[] = [];
  const net = new VirtioNet('net0', new StreamBackend(sv[0], 'the test peer'), mem, {
    mac: Uint8Array.from([0x52, 0x54, 0, 0x12, 0x34, 0x56]),
    onError: (m) => errors.push(m),
    onBackendError: (m) => backendErrors.push(m),
  });
  const peer = new Peer(sv[1]);
  const irq = new CountingIrq();
  const transport = new VirtioMmioTransport(net, mem, irq, { onError: (m) => errors.push(m) });
  const d = new MmioDriver(transport, mem);
  const accept = (f: bigint) => (opts.mergeable === false ? f & ~featureBit(VIRTIO_NET_F.MRG_RXBUF) : f);
  if (d.init({ queues: 2, accept }) === null) throw new Error('feature negotiation failed');
  cleanups.push(() => {
    net.close();
    peer.close();
  });
  const [rx, tx] = d.queues;
  return { net, transport, d, rx, tx, peer, irq, errors, backendErrors };
}

/** Puts a TX frame in guest memory as header + frame split into `pieces`. */
function postTx(tx: MmioDriver['queues'][number], frame: Uint8Array, pieces = 1, at = BUF): number {
  ram.fill(0, at, at + HDR);
  const bufs = [{ gpa: at, len: HDR, writable: false }];
  const step = Math.ceil(frame.length / pieces);
  for (let off = 0, gpa = at + 4096; off < frame.length; off += step, gpa += step + 64) {
    const part = frame.subarray(off, off + step);
    ram.set(part, gpa);
    bufs.push({ gpa, len: part.length, writable: false });
  }
  return tx.add(bufs);
}

/** Posts `count` receive chains of `size` bytes each, from `at` on. */
function postRx(rx: MmioDriver['queues'][number], count: number, size: number, at = BUF + 0x40000): number[] {
  return Array.from({ length: count }, (_, i) => rx.add([{ gpa: at + i * size, len: size, writable: true }]));
}

describe('virtio-net', () => {
  it('is a network device with an RX and a TX queue, a MAC and the link up', () => {
    const { d } = rig();
    expect(d.read32(VIRTIO_MMIO.DEVICE_ID)).toBe(1);
    expect([0, 1, 2, 3, 4, 5].map((i) => Number(d.configRead(i, 1)))).toEqual([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    expect(Number(d.configRead(6, 2))).toBe(VIRTIO_NET_S_LINK_UP);
  });

  it('offers offloads only over a backend that carries them: none over a stream, checksum and TSO both ways over a tap', () => {
    const { net } = rig();
    const offloadBits = [VIRTIO_NET_F.CSUM, VIRTIO_NET_F.GUEST_CSUM, VIRTIO_NET_F.HOST_TSO4, VIRTIO_NET_F.GUEST_TSO4, VIRTIO_NET_F.HOST_TSO6, VIRTIO_NET_F.GUEST_TSO6, VIRTIO_NET_F.HOST_ECN, VIRTIO_NET_F.GUEST_ECN];
    const all = offloadBits.reduce((f, b) => f | featureBit(b), 0n);
    expect(net.deviceFeatures & all).toBe(0n);
    expect(offloadFeatures({ checksum: true, tso4: true, tso6: true, tsoEcn: true })).toBe(all);
    expect(offloadFeatures({ checksum: true, tso4: false, tso6: false, tsoEcn: false })).toBe(featureBit(VIRTIO_NET_F.CSUM) | featureBit(VIRTIO_NET_F.GUEST_CSUM));
  });

  it('tells a tap only the offloads the guest takes (TSO without the checksum offload is none)', () => {
    const takes = (checksum: boolean, tso4: boolean, tso6: boolean, tsoEcn: boolean) => tunOffloadFlags({ checksum, tso4, tso6, tsoEcn });
    expect(takes(false, true, true, true)).toBe(0);
    expect(takes(true, false, false, true)).toBe(TUN_F_CSUM);
    expect(takes(true, true, false, false)).toBe(TUN_F_CSUM | TUN_F_TSO4);
    expect(takes(true, true, true, true)).toBe(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN);
  });

  it('sends a frame from a chain of several buffers with one framed write, and returns the chain', async () => {
    const { d, tx, peer, net } = rig();
    const frame = frameOf(1514, 1);
    const head = postTx(tx, frame, 3);
    d.notify(1);
    let got: Uint8Array[] = [];
    await until(() => (got = got.concat(peer.take())).length === 1);
    expect(got[0]).toEqual(frame);
    expect(tx.takeUsed()).toEqual([{ id: head, len: 0 }]);
    expect(net.stats).toMatchObject({ txFrames: 1, txBytes: 1514, txDropped: 0, txLongestFrame: 1514 });
  });

  it('receives a frame into several mergeable buffers with num_buffers in the header', async () => {
    const { d, rx, peer, net } = rig();
    const heads = postRx(rx, 8, 512);
    d.notify(0);
    const frame = frameOf(1400, 2);
    peer.send(frame);
    let used: { id: number; len: number }[] = [];
    await until(() => (used = used.concat(rx.takeUsed())).length > 0);
    // 12 + 1400 bytes: 512 + 512 + 388
    expect(used).toEqual([
      { id: heads[0], len: 512 },
      { id: heads[1], len: 512 },
      { id: heads[2], len: 388 },
    ]);
    const base = BUF + 0x40000;
    expect(new DataView(ram.buffer, ram.byteOffset).getUint16(base + 10, true)).toBe(3); // num_buffers
    expect(ram.subarray(base + HDR, base + HDR + 1400)).toEqual(frame);
    expect(net.stats).toMatchObject({ rxFrames: 1, rxBytes: 1400 });
    // The unused chains are still the guest's: the next frame lands in them.
    peer.send(frameOf(100, 3));
    await until(() => (used = rx.takeUsed()).length > 0);
    expect(used).toEqual([{ id: heads[3], len: 112 }]);
    expect(net.stats).toMatchObject({ rxFrames: 2, rxBytes: 1500, rxLongestFrame: 1400 });
  });

  it('waits for receive buffers instead of dropping: a frame sent before any is posted arrives once they are', async () => {
    const { d, rx, peer, net } = rig();
    const frame = frameOf(600, 4);
    peer.send(frame);
    await until(() => net.stats.rxWaits > 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(rx.takeUsed()).toEqual([]);
    postRx(rx, 2, 2048);
    d.notify(0);
    let used: { id: number; len: number }[] = [];
    await until(() => (used = used.concat(rx.takeUsed())).length > 0);
    expect(used).toEqual([{ id: expect.any(Number), len: HDR + 600 }]);
    expect(ram.subarray(BUF + 0x40000 + HDR, BUF + 0x40000 + HDR + 600)).toEqual(frame);
    expect(net.stats).toMatchObject({ rxFrames: 1, rxDropped: 0 });
  });

  it('puts together a frame the stream delivers in pieces', async () => {
    const { d, rx, peer } = rig();
    postRx(rx, 4, 2048);
    d.notify(0);
    const frame = frameOf(1000, 5);
    const bytes = framed(frame);
    peer.writeAll(bytes.subarray(0, 2));
    await new Promise((r) => setTimeout(r, 20));
    peer.writeAll(bytes.subarray(2, 300));
    await new Promise((r) => setTimeout(r, 20));
    expect(rx.takeUsed()).toEqual([]);
    peer.writeAll(bytes.subarray(300));
    let used: { id: number; len: number }[] = [];
    await until(() => (used = used.concat(rx.takeUsed())).length > 0);
    expect(used).toEqual([{ id: expect.any(Number), len: HDR + 1000 }]);
    expect(ram.subarray(BUF + 0x40000 + HDR, BUF + 0x40000 + HDR + 1000)).toEqual(frame);
  });

  it('keeps every frame, in order, when the peer is slow to read (backpressure)', async () => {
    const { d, tx, peer, net } = rig();
    const frames = Array.from({ length: 240 }, (_, i) => frameOf(4000 + i, i));
    const sent: Uint8Array[] = [];
    let received: Uint8Array[] = [];
    // Rounds of 80 chains (3 descriptors each); the socket fills long before the peer reads.
    for (let round = 0; round < 3; round++) {
      for (let i = round * 80; i < (round + 1) * 80; i++) {
        postTx(tx, frames[i], 2, BUF + (i % 80) * 16384);
        sent.push(frames[i]);
      }
      d.notify(1);
      await new Promise((r) => setTimeout(r, 20));
      await until(() => {
        received = received.concat(peer.take());
        tx.takeUsed();
        return net.stats.txFrames === (round + 1) * 80;
      });
    }
    await until(() => (received = received.concat(peer.take())).length === 240);
    expect(received).toEqual(sent);
    expect(net.stats.txWaits).toBeGreaterThan(0);
  });

  it('drops a frame without room for an Ethernet header, and one that is too long, and keeps going', async () => {
    const { d, tx, peer, net, errors } = rig();
    postTx(tx, new Uint8Array(0), 1);
    d.notify(1);
    expect(tx.takeUsed()).toEqual([{ id: expect.any(Number), len: 0 }]);
    expect(net.stats.txDropped).toBe(1);
    expect(errors.join('\n')).toMatch(/at least 26/);
    postTx(tx, frameOf(70_000, 6), 20);
    d.notify(1);
    expect(tx.takeUsed()).toEqual([{ id: expect.any(Number), len: 0 }]);
    expect(net.stats.txDropped).toBe(2);
    const ok = frameOf(60, 7);
    postTx(tx, ok);
    d.notify(1);
    let got: Uint8Array[] = [];
    await until(() => (got = got.concat(peer.take())).length === 1);
    expect(got[0]).toEqual(ok);
  });

  it('marks the device broken on a TX descriptor loop, without throwing', () => {
    const { d, tx, transport } = rig();
    tx.writeDesc(0, BUF, HDR, 1, 1);
    tx.writeDesc(1, BUF + 4096, 64, 1, 0);
    tx.putAvail(0);
    d.notify(1);
    expect(transport.broken).toBe(true);
    expect(d.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET).toBeTruthy();
  });

  it('marks the device broken on a receive chain with a device-readable buffer', async () => {
    const { d, rx, peer, transport } = rig();
    rx.add([{ gpa: BUF, len: 2048, writable: false }]);
    d.notify(0);
    peer.send(frameOf(100, 8));
    await until(() => transport.broken);
  });

  it('drops a frame larger than a single receive buffer when buffers may not be merged', async () => {
    const { d, rx, peer, net, errors } = rig({ mergeable: false });
    postRx(rx, 4, 256);
    d.notify(0);
    peer.send(frameOf(1000, 9));
    peer.send(frameOf(100, 10));
    let used: { id: number; len: number }[] = [];
    await until(() => (used = used.concat(rx.takeUsed())).length > 0);
    expect(used).toEqual([{ id: expect.any(Number), len: HDR + 100 }]);
    expect(net.stats.rxDropped).toBe(1);
    expect(errors.join('\n')).toMatch(/does not fit/);
  });

  it('after a reset in the middle of a frame, drops the rest of it and delivers the next one whole', async () => {
    const { d, rx, peer, net } = rig();
    postRx(rx, 4, 2048);
    d.notify(0);
    const bytes = framed(frameOf(1500, 11));
    peer.writeAll(bytes.subarray(0, 700));
    await new Promise((r) => setTimeout(r, 30));
    d.write32(VIRTIO_MMIO.STATUS, 0); // reset with the frame half read
    peer.writeAll(bytes.subarray(700));
    await until(() => net.stats.rxDrainedWhileDown === 1);
    d.init({ queues: 2 });
    const [rx2] = d.queues;
    postRx(rx2, 4, 2048);
    d.notify(0);
    const next = frameOf(300, 12);
    peer.send(next);
    let used: { id: number; len: number }[] = [];
    await until(() => (used = used.concat(rx2.takeUsed())).length > 0);
    expect(used).toEqual([{ id: expect.any(Number), len: HDR + 300 }]);
    expect(ram.subarray(BUF + 0x40000 + HDR, BUF + 0x40000 + HDR + 300)).toEqual(next);
  });

  it('takes the link down and says why when the peer goes away', async () => {
    const { d, peer, backendErrors, irq } = rig();
    const before = irq.edges;
    peer.close();
    await until(() => backendErrors.length > 0);
    expect(backendErrors[0]).toMatch(/closed the connection/);
    expect(Number(d.configRead(6, 2))).toBe(0);
    expect(irq.edges).toBeGreaterThan(before);
  });

  it('with the link down, still gives the guest its TX buffers back (unsent, counted)', async () => {
    const { d, tx, peer, net, backendErrors } = rig();
    peer.close();
    await until(() => backendErrors.length > 0);
    const heads = [postTx(tx, frameOf(100, 1)), postTx(tx, frameOf(200, 2), 1, BUF + 0x10000)];
    d.notify(1);
    let used: { id: number; len: number }[] = [];
    await until(() => (used = used.concat(tx.takeUsed())).length === 2);
    expect(used.map((u) => u.id).sort()).toEqual([...heads].sort());
    expect(net.stats.txDropped).toBe(2);
  });

  it('drains frames that arrive while the driver is not running, and delivers what comes once it is', async () => {
    const { d, peer, net } = rig();
    d.write32(VIRTIO_MMIO.STATUS, 0); // the driver starts over: reset
    const early = [frameOf(60, 21), frameOf(70, 22)];
    peer.send(early[0]);
    await until(() => net.stats.rxDrainedWhileDown === 1);
    expect(net.stats).toMatchObject({ rxFrames: 0, rxDropped: 0 });
    d.init({ queues: 2 });
    const [rx] = d.queues;
    postRx(rx, 4, 2048);
    d.notify(0);
    peer.send(early[1]);
    let used: { id: number; len: number }[] = [];
    await until(() => (used = used.concat(rx.takeUsed())).length === 1);
    expect(used.map((u) => u.len)).toEqual([HDR + 70]);
    expect(ram.subarray(BUF + 0x40000 + HDR, BUF + 0x40000 + HDR + 70)).toEqual(early[1]);
  });
});
