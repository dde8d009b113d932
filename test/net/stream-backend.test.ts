// The stream backend's own framing (QEMU's -netdev stream: a 4-byte
// big-endian length before each frame), against a real socketpair. The
// virtio-net tests drive it through the device; this checks what only the
// socket shows: how much of the stream each call takes.
import { afterEach, describe, expect, it } from 'vitest';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, check, close, read, socketpair, write } from '../../ffi/libc.js';
import { IoVecArray } from '../../src/memory/dma-iovec.js';
import { HostBuffer } from '../../src/memory/dma-host-buffer.js';
import { StreamBackend } from '../../src/net/stream-backend.js';

const framed = (...frames: Uint8Array[]) =>
  Buffer.concat(frames.flatMap((f) => [Buffer.from([f.length >>> 24, (f.length >>> 16) & 0xff, (f.length >>> 8) & 0xff, f.length & 0xff]), Buffer.from(f)]));
const frameOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

/** Resolves when the backend's socket is next readable (on Node's loop), as a device waits for it. */
const readable = (backend: StreamBackend) =>
  new Promise<void>((resolve) =>
    backend.watch({ readable: true, writable: false }, (ready) => {
      if (!ready.readable) return;
      backend.watch({ readable: false, writable: false }, () => {});
      resolve();
    }),
  );

const cleanup: (() => void)[] = [];
const cleanupNow = () => cleanup.splice(0).forEach((f) => f());
afterEach(cleanupNow);

/** A backend over a socketpair; `guestBuffers` lays 8 KiB of guest buffers out in two pieces, to span a frame over more than one. */
function rig() {
  const sv = new Int32Array(2);
  check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) as number, 'socketpair');
  const backend = new StreamBackend(sv[0], 'the test peer');
  const buffer = new HostBuffer(8192 + 16 * 4);
  const iov = new IoVecArray(buffer.bytes.subarray(8192), buffer.address + 8192, 4);
  cleanup.push(() => (backend.close(), close(sv[1]), buffer.release()));
  const guestBuffers = (length: number) => {
    iov.reset();
    iov.push(buffer.address, Math.min(length, 100));
    if (length > 100) iov.push(buffer.address + 100, length - 100);
    return iov;
  };
  return { backend, peerFd: sv[1], ownFd: sv[0], buffer, guestBuffers };
}

describe('StreamBackend receiving', () => {
  function receiving() {
    const { backend, peerFd, ownFd, buffer, guestBuffers } = rig();
    return { backend, peerFd, ownFd, into: guestBuffers, received: (n: number) => buffer.bytes.slice(0, n) };
  }

  it('reads the next frame length with the rest of a large frame, and nothing more: the next frame goes straight into its buffers too', () => {
    const { backend, peerFd, ownFd, into, received } = receiving();
    const a = frameOf(5000, 1);
    const b = frameOf(200, 2);
    const stream = framed(a, b);
    expect(write(peerFd, stream, stream.length)).toBe(stream.length);
    expect(backend.nextFrameLength()).toBe(5000);
    expect(backend.receive(into(5000))).toBe(5000);
    expect(received(5000)).toEqual(a);
    // B's length word came with A: what is left in the socket is B's body alone.
    const left = new Uint8Array(1024);
    expect(read(ownFd, left, left.length)).toBe(200);
    expect(left.subarray(0, 200)).toEqual(b);
    expect(backend.copiedIn).toBe(0);
  });

  it('reads ahead after a small frame: small frames back to back cost one readv, the ones read ahead copied (and counted)', () => {
    const { backend, peerFd, ownFd, into, received } = receiving();
    const frames = [frameOf(300, 1), frameOf(200, 2), frameOf(100, 3)];
    const stream = framed(...frames);
    expect(write(peerFd, stream, stream.length)).toBe(stream.length);
    expect(backend.nextFrameLength()).toBe(300);
    expect(backend.receive(into(300))).toBe(300);
    expect(received(300)).toEqual(frames[0]);
    // One readv took all three: the socket is empty.
    expect(read(ownFd, new Uint8Array(16), 16)).toBe(-1);
    for (const f of frames.slice(1)) {
      expect(backend.nextFrameLength()).toBe(f.length);
      expect(backend.receive(into(f.length))).toBe(f.length);
      expect(received(f.length)).toEqual(f);
    }
    expect(backend.copiedIn).toBe(300);
    expect(backend.nextFrameLength()).toBe(-1);
  });

  it('after a small frame, a small frame arriving alone is read with one call: its length word with the read-ahead behind it', async () => {
    const { backend, peerFd, ownFd, into, received } = receiving();
    const a = frameOf(100, 6);
    const b = frameOf(200, 7);
    let stream = framed(a);
    expect(write(peerFd, stream, stream.length)).toBe(stream.length);
    expect(backend.nextFrameLength()).toBe(100);
    expect(backend.receive(into(100))).toBe(100);
    stream = framed(b);
    expect(write(peerFd, stream, stream.length)).toBe(stream.length);
    await readable(backend);
    expect(backend.nextFrameLength()).toBe(200);
    expect(read(ownFd, new Uint8Array(16), 16)).toBe(-1); // B's body came with its length word
    expect(backend.receive(into(200))).toBe(200);
    expect(received(200)).toEqual(b);
    expect(backend.copiedIn).toBe(200);
  });

  it('a large frame whose start was read ahead: the start copied, the rest read straight into its buffers', async () => {
    const { backend, peerFd, ownFd, into, received } = receiving();
    const a = frameOf(300, 4);
    const b = frameOf(6000, 5);
    const stream = framed(a, b);
    const firstPart = 4 + 300 + 4 + 1000;
    expect(write(peerFd, stream, firstPart)).toBe(firstPart);
    expect(backend.nextFrameLength()).toBe(300);
    expect(backend.receive(into(300))).toBe(300);
    expect(backend.nextFrameLength()).toBe(6000);
    expect(backend.receive(into(6000))).toBe(-1); // the read-ahead's 1,000 bytes taken, the socket empty
    expect(write(peerFd, stream.subarray(firstPart), stream.length - firstPart)).toBe(stream.length - firstPart);
    await readable(backend);
    expect(backend.receive(into(6000))).toBe(6000);
    expect(received(6000)).toEqual(b);
    expect(backend.copiedIn).toBe(1000);
    expect(read(ownFd, new Uint8Array(16), 16)).toBe(-1);
  });

  it('any mix of frame sizes, written in any pieces, comes out whole and in order (random, 3 seeds)', async () => {
    for (const seed of [1, 2, 3]) {
      const { backend, peerFd, into, received } = receiving();
      let x = seed * 0x9e3779b1;
      const random = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) % n;
      const frames = Array.from({ length: 150 }, (_, i) => frameOf([0, 1, 60, 1514, 4096, 4097, 8000][random(7)] || random(8000), i)); // 0: any size
      const stream = framed(...frames);
      let written = 0;
      const writeSome = () => {
        const n = Math.min(stream.length - written, 1 + random(20_000));
        expect(write(peerFd, stream.subarray(written), n)).toBe(n);
        written += n;
      };
      const waitForMore = async () => {
        if (written === stream.length) throw new Error('the backend waits for bytes that were all written');
        writeSome();
        await readable(backend);
      };
      writeSome();
      for (const frame of frames) {
        let length: number;
        while ((length = backend.nextFrameLength()) < 0) await waitForMore();
        expect(length).toBe(frame.length);
        while (backend.receive(into(length)) < 0) await waitForMore();
        expect(received(length)).toEqual(frame);
      }
      expect(written).toBe(stream.length);
      cleanupNow();
    }
  });

  it('keeps a length word that came in part, and completes it from the stream', async () => {
    const { backend, peerFd, into, received } = receiving();
    const a = frameOf(50, 3);
    const b = frameOf(70, 4);
    const stream = framed(a, b);
    expect(write(peerFd, stream, 4 + 50 + 2)).toBe(56); // A, and half of B's length word
    expect(backend.nextFrameLength()).toBe(50);
    expect(backend.receive(into(50))).toBe(50);
    expect(received(50)).toEqual(a);
    expect(backend.nextFrameLength()).toBe(-1); // two bytes of the word still to come
    expect(write(peerFd, stream.subarray(56), stream.length - 56)).toBe(stream.length - 56);
    await readable(backend);
    expect(backend.nextFrameLength()).toBe(70);
    expect(backend.receive(into(70))).toBe(70);
    expect(received(70)).toEqual(b);
  });

  it('after a readv that emptied the socket, waits for it to be readable instead of reading again', async () => {
    const { backend, peerFd, into, received } = receiving();
    const a = frameOf(40, 5);
    const b = frameOf(60, 6);
    let stream = framed(a);
    expect(write(peerFd, stream, stream.length)).toBe(stream.length);
    expect(backend.nextFrameLength()).toBe(40);
    expect(backend.receive(into(40))).toBe(40);
    expect(received(40)).toEqual(a);
    stream = framed(b);
    expect(write(peerFd, stream, stream.length)).toBe(stream.length);
    // The readv came back short: the backend does not look again until the loop says the socket is readable.
    expect(backend.nextFrameLength()).toBe(-1);
    await readable(backend);
    expect(backend.nextFrameLength()).toBe(60);
    expect(backend.receive(into(60))).toBe(60);
    expect(received(60)).toEqual(b);
  });
});

describe('StreamBackend sending', () => {
  function sending() {
    const { backend, peerFd, buffer, guestBuffers } = rig();
    /** A frame in the guest's buffers. */
    const out = (frame: Uint8Array) => {
      buffer.bytes.set(frame);
      return guestBuffers(frame.length);
    };
    /** Everything the peer can read now. */
    const drain = (most = 1 << 20) => {
      const got = new Uint8Array(most);
      const n = read(peerFd, got, most) as number;
      return n > 0 ? got.subarray(0, n) : new Uint8Array(0);
    };
    return { backend, out, drain };
  }

  it('queues small frames and writes them with one call when flushed; a large frame waits for them, then goes straight out', () => {
    const { backend, out, drain } = sending();
    const small = [frameOf(60, 1), frameOf(1514, 2)];
    for (const f of small) expect(backend.send(out(f))).toBe(0); // SendResult.Done
    expect(drain().length).toBe(0); // queued, not written
    expect(backend.pendingOutput).toBe(true);
    expect(backend.flush()).toBe(true);
    expect(Buffer.from(drain())).toEqual(framed(...small));
    const large = frameOf(6000, 3);
    expect(backend.send(out(small[0]))).toBe(0);
    expect(backend.send(out(large))).toBe(0); // the queued one first, then this one
    expect(backend.pendingOutput).toBe(false);
    expect(Buffer.from(drain())).toEqual(framed(small[0], large));
    expect(backend.copiedOut).toBe(60 + 1514 + 60);
  });

  it('any mix of frame sizes, sent while the peer reads in any pieces, arrives whole and in order (random, 3 seeds)', () => {
    for (const seed of [1, 2, 3]) {
      const { backend, out, drain } = sending();
      let x = seed * 0x85ebca6b;
      const random = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8) % n;
      const frames = Array.from({ length: 200 }, (_, i) => frameOf([0, 1, 60, 1514, 4096, 4097, 8000][random(7)] || random(8000), i)); // 0: any size
      const chunks: Uint8Array[] = [];
      for (const frame of frames) {
        while (backend.send(out(frame)) !== 0) chunks.push(drain(1 + random(30_000)));
        if (random(4) === 0) backend.flush();
        if (random(3) === 0) chunks.push(drain(1 + random(30_000)));
      }
      while (!backend.flush()) chunks.push(drain());
      chunks.push(drain());
      expect(Buffer.compare(Buffer.concat(chunks), framed(...frames))).toBe(0);
      cleanupNow();
    }
  });
});
