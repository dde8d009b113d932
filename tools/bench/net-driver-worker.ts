// The guest side of the virtio-net data-path benchmark (net-data-path.ts),
// in a thread of its own so that its work is not counted as the VMM's:
// Linux's virtio-net driver reduced to streams of frames and a ping, with
// MRG_RXBUF and EVENT_IDX (no offloads: a stream backend carries none), and
// the backend's far end (the socket passt would hold) in the same thread.
//
// - send: up to `inFlight` frames posted on the TX queue at a time, each
//   header and frame in one buffer; the far end reads the stream and counts
//   whole frames.
// - receive: the far end writes framed frames as fast as the socket takes
//   them; every RX buffer (2 KiB, as Linux's mergeable buffers are for
//   small frames) is posted, each taken back and posted again as the device
//   returns it; a large frame spans several (num_buffers).
// - ping: one frame out, which the far end writes back as soon as it has
//   it, and the next once that is in: a round trip at a time, what `ping
//   -A` measures (each counted frame is a round trip).
//
// The far end is either a stream socket in QEMU's stream framing (a 4-byte
// big-endian length before each frame: where passt would be) or a raw packet
// socket on a tap's host side (a frame a call: where the host's network stack
// would be, tap-far-end.ts).
//
// Doorbells as the 9p driver rings them (p9-driver-worker.ts): an eventfd
// per queue for tsvmm, a qtest `writel` for QEMU, counted, its reply
// collected later (QEMU's main loop blocks writing to a full stream socket:
// waiting for the reply before draining the socket would deadlock). No
// interrupts are taken: the driver watches the used rings.
import { parentPort, workerData } from 'node:worker_threads';
import { koffi } from '../../ffi/koffi.js';
import { EAGAIN, ENOBUFS, gettid, read, write } from '../../ffi/libc.js';
import { VIRTIO_MMIO } from '../../src/devices/virtio/virtio-mmio-registers.js';
import { VIRTQ_DESC_F_WRITE } from '../../src/devices/virtio/virtio-constants.js';
import { VirtioDriverRing } from '../../src/devices/virtio/virtio-driver-ring.js';
import { TX_AREA } from './net-path-fixture.js';
import { QtestChannel } from './qtest-channel.js';
import type { QueueLayout } from '../../src/devices/virtio/virtio-mmio-driver-setup.js';

export type NetWorkload = 'send' | 'receive' | 'ping';

export type NetDriverDoorbells = { kind: 'eventfd'; rxFd: number; txFd: number } | { kind: 'qtest'; socketFd: number; mmioBase: number };

export interface NetDriverSetup {
  ram: { hostAddress: number; size: number };
  rx: QueueLayout;
  tx: QueueLayout;
  doorbells: NetDriverDoorbells;
  /** The far end (non-blocking): the backend's stream socket, or a packet socket on the tap's host side. */
  peerFd: number;
  peer: 'stream' | 'packet';
  workload: NetWorkload;
  /** Ethernet frame bytes (without the virtio-net header). */
  frameBytes: number;
  /** send: TX frames posted at a time. */
  inFlight: number;
  warmup: number;
  frames: number;
}

export type NetDriverDone = { type: 'done'; elapsedNs: number; kicks: number; qtestCommands: number; errors: number };
export type NetDriverMessage = { type: 'measuring'; tid: number } | NetDriverDone;

/** virtio_net_hdr_v1 (with VERSION_1 or MRG_RXBUF): 12 bytes. */
const HEADER = 12;
const RX_BUFFER = 2048;
const RX_BUFFERS = 0x100000;
const TX_BUFFERS = 0x200000;

const RX = 0;
const TX = 1;
const PEER_CHUNK = 1 << 20;
/** receive over a tap: frames sent and not yet taken back, at most (a tap drops what its queue of 1,000 cannot hold). */
const PACKET_IN_FLIGHT = 512;

interface Doorbells {
  ring(queue: number): void;
  /** Takes what the device has answered to the doorbells so far. */
  collect(): void;
  qtestCommands(): number;
}

function doorbellsOf(d: NetDriverDoorbells): Doorbells {
  if (d.kind === 'eventfd') {
    const one = new Uint8Array(new BigUint64Array([1n]).buffer);
    return { ring: (queue) => write(queue === RX ? d.rxFd : d.txFd, one, 8), collect: () => {}, qtestCommands: () => 0 };
  }
  const channel = new QtestChannel(d.socketFd);
  const notify = `writel 0x${(d.mmioBase + VIRTIO_MMIO.QUEUE_NOTIFY).toString(16)}`;
  return { ring: (queue) => channel.post(`${notify} 0x${queue}`), collect: () => channel.collect(), qtestCommands: () => channel.commands };
}

function run(s: NetDriverSetup): NetDriverDone {
  const memory = koffi.view(s.ram.hostAddress, s.ram.size) as ArrayBuffer;
  const ram = new DataView(memory);
  const bytes = new Uint8Array(memory);
  const doorbells = doorbellsOf(s.doorbells);
  let kicks = 0;
  const ringing = (queue: number) => () => {
    doorbells.ring(queue);
    kicks++;
  };
  const rx = new VirtioDriverRing(memory, s.rx, ringing(RX));
  const tx = new VirtioDriverRing(memory, s.tx, ringing(TX));
  const total = s.warmup + s.frames;
  const frame = Uint8Array.from({ length: s.frameBytes }, (_, i) => (i < 12 ? 0x02 : i * 7) & 0xff);
  let done = 0;
  let errors = 0;
  let start = 0n;
  let qtestBefore = 0;
  const count = (n: number) => {
    for (let i = 0; i < n && done < total; i++) {
      if (++done === s.warmup) {
        start = process.hrtime.bigint();
        kicks = errors = 0;
        qtestBefore = doorbells.qtestCommands();
        parentPort!.postMessage({ type: 'measuring', tid: gettid() as number } satisfies NetDriverMessage);
      }
    }
  };
  const peer = new Uint8Array(PEER_CHUNK);
  // The spinning loops allocate nothing: this thread's garbage would be
  // collected by V8's helper threads, which count as the device side's CPU.
  let fromAt = 0;
  let fromView = peer;
  const from = (at: number): Uint8Array => (at === fromAt ? fromView : ((fromAt = at), (fromView = peer.subarray(at))));
  if (s.warmup === 0) count(0);
  /** A packet socket's send: the whole frame or, its queue full, nothing yet. */
  const writeFrame = (bytes: Uint8Array): boolean => {
    const n = write(s.peerFd, bytes, s.frameBytes) as number;
    if (n < 0 && koffi.errno() !== EAGAIN && koffi.errno() !== ENOBUFS) throw new Error(`peer write failed (errno ${koffi.errno()})`);
    return n === s.frameBytes;
  };

  if (s.workload === 'ping') {
    for (let i = 0; i < s.rx.size; i++) {
      rx.describe(i, RX_BUFFERS + i * RX_BUFFER, RX_BUFFER, VIRTQ_DESC_F_WRITE);
      rx.post(i);
    }
    rx.publish();
    bytes.fill(0, TX_BUFFERS, TX_BUFFERS + HEADER);
    bytes.set(frame, TX_BUFFERS + HEADER);
    tx.describe(0, TX_BUFFERS, HEADER + s.frameBytes, 0);
    const framed = 4 + s.frameBytes;
    let back = false;
    const echoed = (id: number, length: number) => {
      if (length !== HEADER + s.frameBytes) errors++;
      rx.post(id);
      back = true;
    };
    const sentBack = () => {};
    while (done < total) {
      tx.post(0);
      tx.publish();
      // The far end: the whole frame in, then back out.
      if (s.peer === 'packet') {
        for (;;) {
          const n = read(s.peerFd, peer, PEER_CHUNK) as number;
          if (n < 0 && koffi.errno() !== EAGAIN) throw new Error(`peer read failed (errno ${koffi.errno()})`);
          doorbells.collect();
          if (n < 0) continue;
          if (n !== s.frameBytes) errors++;
          break;
        }
        while (!writeFrame(peer)) {}
      } else {
        for (let got = 0; got < framed; ) {
          const n = read(s.peerFd, from(got), framed - got) as number;
          if (n < 0 && koffi.errno() !== EAGAIN) throw new Error(`peer read failed (errno ${koffi.errno()})`);
          if (n > 0) got += n;
          doorbells.collect();
        }
        for (let sent = 0; sent < framed; ) {
          const n = write(s.peerFd, from(sent), framed - sent) as number;
          if (n < 0 && koffi.errno() !== EAGAIN) throw new Error(`peer write failed (errno ${koffi.errno()})`);
          if (n > 0) sent += n;
        }
      }
      back = false;
      while (!back) {
        rx.takeUsed(echoed);
        doorbells.collect();
      }
      rx.publish();
      tx.takeUsed(sentBack);
      count(1);
    }
  } else if (s.workload === 'send') {
    const stride = Math.ceil((HEADER + s.frameBytes) / 4096) * 4096;
    if (s.inFlight * stride > TX_AREA) throw new RangeError(`${s.inFlight} TX buffers of ${stride} bytes do not fit`);
    for (let i = 0; i < s.inFlight; i++) {
      const at = TX_BUFFERS + i * stride;
      bytes.fill(0, at, at + HEADER);
      bytes.set(frame, at + HEADER);
      tx.describe(i, at, HEADER + s.frameBytes, 0);
      tx.post(i);
    }
    tx.publish();
    // The far end's parse of the stream: a 4-byte big-endian length, then the frame.
    let header = 0;
    let headerBytes = 0;
    let frameLeft = 0;
    const repost = (id: number) => tx.post(id);
    while (done < total) {
      const n = read(s.peerFd, peer, PEER_CHUNK) as number;
      if (n < 0 && koffi.errno() !== EAGAIN) throw new Error(`peer read failed (errno ${koffi.errno()})`);
      if (s.peer === 'packet') {
        // A read is one whole frame.
        if (n > 0) {
          if (n !== s.frameBytes) errors++;
          count(1);
        }
      } else {
        for (let at = 0; at < n; ) {
          if (frameLeft > 0) {
            const take = Math.min(frameLeft, n - at);
            frameLeft -= take;
            at += take;
            if (frameLeft === 0) count(1);
            continue;
          }
          header = header * 256 + peer[at++];
          if (++headerBytes === 4) {
            if (header !== s.frameBytes) errors++;
            frameLeft = header;
            header = headerBytes = 0;
            if (frameLeft === 0) count(1);
          }
        }
      }
      tx.takeUsed(repost);
      tx.publish();
      doorbells.collect();
    }
  } else {
    for (let i = 0; i < s.rx.size; i++) {
      rx.describe(i, RX_BUFFERS + i * RX_BUFFER, RX_BUFFER, VIRTQ_DESC_F_WRITE);
      rx.post(i);
    }
    rx.publish();
    // The far end's stream: framed frames back to back, the chunk written round and round.
    const framed = 4 + s.frameBytes;
    const perChunk = Math.floor(PEER_CHUNK / framed);
    for (let i = 0; i < perChunk; i++) {
      new DataView(peer.buffer).setUint32(i * framed, s.frameBytes);
      peer.set(frame, i * framed + 4);
    }
    const chunk = perChunk * framed;
    let offset = 0;
    let written = 0;
    // The frame being taken back: buffers still to come, bytes so far.
    let buffersLeft = 0;
    let frameLength = 0;
    const received = (id: number, length: number) => {
      if (buffersLeft === 0) {
        buffersLeft = ram.getUint16(RX_BUFFERS + id * RX_BUFFER + 10, true); // num_buffers
        frameLength = 0;
      }
      frameLength += length;
      if (--buffersLeft <= 0) {
        if (frameLength !== HEADER + s.frameBytes) errors++;
        buffersLeft = 0;
        count(1);
      }
      rx.post(id);
    };
    while (done < total) {
      if (s.peer === 'packet') {
        if (written < total && written - done < PACKET_IN_FLIGHT && writeFrame(frame)) written++;
      } else if (written < total) {
        const n = write(s.peerFd, from(offset), chunk - offset) as number;
        if (n < 0 && koffi.errno() !== EAGAIN) throw new Error(`peer write failed (errno ${koffi.errno()})`);
        if (n > 0) {
          const before = Math.floor(offset / framed);
          offset += n;
          written += Math.floor(offset / framed) - before;
          if (offset === chunk) offset = 0;
        }
      }
      rx.takeUsed(received);
      rx.publish();
      doorbells.collect();
    }
  }
  return { type: 'done', elapsedNs: Number(process.hrtime.bigint() - start), kicks, qtestCommands: doorbells.qtestCommands() - qtestBefore, errors };
}

parentPort!.postMessage(run(workerData as NetDriverSetup));
