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

describe('StreamBackend receiving', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => cleanup.splice(0).forEach((f) => f()));

  function rig() {
    const sv = new Int32Array(2);
    check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) as number, 'socketpair');
    const backend = new StreamBackend(sv[0], 'the test peer');
    const buffer = new HostBuffer(8192 + 16 * 4);
    const iov = new IoVecArray(buffer.bytes.subarray(8192), buffer.address + 8192, 4);
    cleanup.push(() => (backend.close(), close(sv[1]), buffer.release()));
    /** Receive buffers: two pieces, to span a frame over more than one. */
    const into = (length: number) => {
      iov.reset();
      iov.push(buffer.address, Math.min(length, 100));
      if (length > 100) iov.push(buffer.address + 100, length - 100);
      return iov;
    };
    return { backend, peerFd: sv[1], ownFd: sv[0], into, received: (n: number) => buffer.bytes.slice(0, n) };
  }

  it('reads the next frame length with the rest of a frame: one readv per frame back to back', () => {
    const { backend, peerFd, ownFd, into, received } = rig();
    const a = frameOf(300, 1);
    const b = frameOf(200, 2);
    const stream = framed(a, b);
    expect(write(peerFd, stream, stream.length)).toBe(stream.length);
    expect(backend.nextFrameLength()).toBe(300);
    expect(backend.receive(into(300))).toBe(300);
    expect(received(300)).toEqual(a);
    // B's length word came with A: what is left in the socket is B's body alone.
    const left = new Uint8Array(1024);
    expect(read(ownFd, left, left.length)).toBe(200);
    expect(left.subarray(0, 200)).toEqual(b);
  });

  it('keeps a length word that came in part, and completes it from the stream', async () => {
    const { backend, peerFd, into, received } = rig();
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
    const { backend, peerFd, into, received } = rig();
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
